import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { allowedContextKeysForRequest, runUnsafeSimulation } from '@cloud-copilot/iam-simulate';
import { allResources, dataSources, resources, stackNames, synthesizedStack } from '../support/infra-synth';
import { ACCOUNT, Decision, deployRole, simulate, SimPrincipal } from '../support/iam-simulation';
import { backendCalls, DATA_SOURCE_CALLS, PROVIDER_CALLS, ProviderCall, Res, resolve } from '../support/provider-calls';

/**
 * Sufficient, not only least: every call Terraform's AWS provider (v5.100.0) makes to create,
 * refresh, update, tag and delete every resource of every environment stack, as
 * test/support/provider-calls.ts lists them per resource type, is simulated
 * (@cloud-copilot/iam-simulate) against that environment's deploy role as the bootstrap stack
 * synthesises it: its managed policies, the request's tags and context (the tags of what it
 * creates, the tags of every existing parent the action authorises, iam:PassedToService,
 * iam:PermissionsBoundary, …) and the resource policy of the bucket, queue or topic it names.
 * Every one must be Allowed. A resource type the table does not know fails the test.
 *
 * The bootstrap stack is left out: an administrator applies it once (docs/deploy.md); no deploy
 * role may write its state or change the CI roles.
 *
 * The per-stack counts are printed, and the full table written to
 * $TMPDIR/docplatform-deploy-sufficiency.md.
 */

const EXCLUDED = { bootstrap: 'applied once by an administrator, never by a deploy role' };
const STACKS = stackNames().filter((s) => !(s in EXCLUDED));
const ENVS = [...new Set(STACKS.map((s) => s.split('-')[0]))];

interface Row {
  stack: string;
  /** `aws_x.name`, `data.x.name` or `backend`. */
  address: string;
  type: string;
  call: ProviderCall;
}

const missing: string[] = [];
const rowsOf = new Map<string, Row[]>();
for (const stack of STACKS) {
  const rows: Row[] = [];
  for (const r of allResources(stack)) {
    const callsOf = PROVIDER_CALLS[r.type];
    if (!callsOf) {
      missing.push(`${stack}/${r.address}`);
      continue;
    }
    for (const call of callsOf(new Res(stack, r.type, r.name))) rows.push({ stack, address: r.address, type: r.type, call });
  }
  for (const type of Object.keys(synthesizedStack(stack).data ?? {})) {
    for (const d of dataSources(stack, type)) {
      const callsOf = DATA_SOURCE_CALLS[type];
      if (!callsOf) {
        missing.push(`${stack}/${d.address}`);
        continue;
      }
      for (const call of callsOf(stack, d.name)) rows.push({ stack, address: d.address, type: `data.${type}`, call });
    }
  }
  for (const call of backendCalls(stack)) rows.push({ stack, address: 'backend', type: 'backend.s3', call });
  rowsOf.set(stack, rows);
}

/** The resource policies of the buckets, queues and topics of every stack, by the ARN they guard. */
const resourcePolicies = new Map<string, unknown>();
for (const stack of stackNames()) {
  const add = (arn: string, policy: string) => resourcePolicies.set(arn, JSON.parse(stack === 'bootstrap' ? policy.replace(/\$\{local\.account_id\}/g, ACCOUNT) : resolve(stack, policy)));
  if (stack === 'bootstrap') {
    for (const p of resources(stack, 'aws_s3_bucket_policy')) add(`arn:aws:s3:::${synthesizedStack(stack).resource.aws_s3_bucket[/aws_s3_bucket\.([^.]+)\./.exec(p.config.bucket)![1]].bucket}`, p.config.policy);
    continue;
  }
  for (const p of resources(stack, 'aws_s3_bucket_policy')) add(new Res(stack, 'aws_s3_bucket_policy', p.name).ref('bucket').arn, p.config.policy);
  for (const p of resources(stack, 'aws_sqs_queue_policy')) add(new Res(stack, 'aws_sqs_queue_policy', p.name).ref('queue_url').arn, p.config.policy);
  for (const p of resources(stack, 'aws_sns_topic_policy')) add(new Res(stack, 'aws_sns_topic_policy', p.name).ref('arn').arn, p.config.policy);
}
const policyFor = (arn: string): unknown => resourcePolicies.get(arn) ?? (arn.startsWith('arn:aws:s3:::') ? resourcePolicies.get(arn.split('/')[0]) : undefined);

const TAG_KEY = /^aws:(RequestTag|ResourceTag)\/|^aws:TagKeys$/;

/** The keys IAM's catalogue says the action sees on that resource (lower case), or undefined when it cannot tell. */
async function applicableKeys(action: string, resource: string): Promise<Set<string> | undefined> {
  const [service, name] = action.split(':');
  try {
    return new Set(await allowedContextKeysForRequest(service, name, resource, false, undefined));
  } catch {
    return undefined;
  }
}

/**
 * The request context of a call: its tags (request and resource) where the catalogue says the
 * action sees them on that resource type, then every other key as the table gives it (the
 * simulator refuses one that does not apply), and aws:ViaAWSService for a call a service makes.
 */
async function contextOf(call: ProviderCall): Promise<Record<string, string | string[]>> {
  const tags: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(call.requestTags ?? {})) tags[`aws:RequestTag/${k}`] = v;
  if (call.requestTags) tags['aws:TagKeys'] = Object.keys(call.requestTags);
  if (call.tagKeys) tags['aws:TagKeys'] = call.tagKeys;
  for (const [k, v] of Object.entries(call.resourceTags ?? {})) tags[`aws:ResourceTag/${k}`] = v;
  const keys = await applicableKeys(call.action, call.resource);
  const applies = (key: string) => {
    if (!keys) return true;
    const lower = key.toLowerCase();
    return keys.has(lower) || [...keys].some((k) => k.endsWith('/${tagkey}') && lower.startsWith(k.slice(0, -'${tagkey}'.length)));
  };
  const kept = Object.fromEntries(Object.entries(tags).filter(([k]) => TAG_KEY.test(k) && applies(k)));
  return { ...kept, ...call.context, ...(call.via ? { 'aws:ViaAWSService': 'true' } : {}) };
}

const principals = new Map<string, SimPrincipal>(ENVS.map((env) => [env, deployRole(env)]));
const decisions = new Map<string, Promise<{ decision: Decision | 'Error'; context: Record<string, string | string[]>; error?: string }>>();

function decide(env: string, call: ProviderCall) {
  const key = JSON.stringify([env, call.action, call.resource, call.requestTags, call.tagKeys, call.resourceTags, call.context, call.via, !!call.resourcePolicy]);
  if (!decisions.has(key)) {
    decisions.set(
      key,
      (async () => {
        const context = await contextOf(call);
        const resourcePolicy = call.resourcePolicy ?? policyFor(call.resource);
        if (call.catalogueGap) {
          // The same policies and context, without the simulator's check of the ARN against the catalogue.
          const principal = principals.get(env)!;
          const decision = runUnsafeSimulation(
            {
              request: {
                principal: principal.arn,
                action: call.action,
                resource: { resource: call.resource, accountId: ACCOUNT },
                contextVariables: { 'aws:SecureTransport': 'true', 'aws:PrincipalArn': principal.arn, 'aws:PrincipalAccount': ACCOUNT, ...context },
              },
              identityPolicies: principal.identityPolicies,
              serviceControlPolicies: [],
              resourceControlPolicies: [],
              resourcePolicy: resourcePolicy as any,
            },
            {},
          );
          return { decision, context };
        }
        try {
          const decision = await simulate({
            principal: principals.get(env)!,
            action: call.action,
            resource: call.resource,
            context,
            resourcePolicy,
            literalWildcard: call.literalWildcard,
          });
          return { decision, context };
        } catch (error) {
          return { decision: 'Error' as const, context, error: (error as Error).message };
        }
      })(),
    );
  }
  return decisions.get(key)!;
}

const table: string[] = [];
const summary: string[] = [];
const cell = (s: string) => s.replace(/\|/g, '\\|');
const short = (s: string) => s.replace(`:${ACCOUNT}:`, ':…:');
const contextText = (context: Record<string, string | string[]>) =>
  Object.entries(context)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v.join(',')}]` : short(v)}`)
    .join(', ');

afterAll(() => {
  const file = path.join(os.tmpdir(), 'docplatform-deploy-sufficiency.md');
  const header = [
    `# Deploy role sufficiency: provider calls simulated (bootstrap excluded: ${EXCLUDED.bootstrap})`,
    '',
    '| stack | resource | phase | IAM action (API) | resource ARN | context | result | note |',
    '|---|---|---|---|---|---|---|---|',
  ];
  fs.writeFileSync(file, `${[...summary, '', ...header, ...table].join('\n')}\n`);
  console.log(`Deploy role sufficiency (full table in ${file}):\n${summary.join('\n')}`);
});

test('every resource type and data source of every environment stack has its provider calls in the table', () => {
  expect(STACKS.length).toBe(ENVS.length * 4);
  expect(ENVS.sort()).toEqual(['dev', 'prod']);
  expect(missing).toEqual([]);
});

test('the table holds the calls that authorise parents and the calls services make on the deploy role’s behalf', () => {
  const all = [...rowsOf.values()].flat();
  const has = (env: string, predicate: (r: Row) => boolean) => all.some((r) => r.stack.startsWith(`${env}-`) && predicate(r));
  for (const env of ENVS) {
    const parentOf = (action: string, arnType: string) => has(env, (r) => r.call.action === action && r.call.resource.includes(`:${arnType}/`) && !!r.call.note?.startsWith('parent:'));
    expect({ env, subnetInVpc: parentOf('ec2:CreateSubnet', 'vpc') }).toEqual({ env, subnetInVpc: true });
    expect({ env, launchInSubnet: parentOf('ec2:RunInstances', 'subnet') }).toEqual({ env, launchInSubnet: true });
    expect({ env, launchWithTemplate: parentOf('ec2:RunInstances', 'launch-template') }).toEqual({ env, launchWithTemplate: true });
    expect({ env, endpointRouteTables: parentOf('ec2:CreateVpcEndpoint', 'route-table') }).toEqual({ env, endpointRouteTables: true });
    expect(has(env, (r) => r.call.action === 'ec2:RunInstances' && r.call.resource.includes('::image/'))).toBe(true);
    expect(has(env, (r) => r.call.action === 'ec2:CreateVpcEndpoint' && r.call.via === 'elasticache.amazonaws.com' && r.call.resource.includes(':vpc-endpoint/'))).toBe(true);
    expect(has(env, (r) => r.call.action === 'secretsmanager:CreateSecret' && r.call.resource.includes(':secret:rds!') && r.call.via === 'rds.amazonaws.com')).toBe(true);
    expect(has(env, (r) => r.call.action === 'iam:CreateRole' && !!r.call.context?.['iam:PermissionsBoundary'])).toBe(true);
    for (const service of ['ecs.amazonaws.com', 'ecs.application-autoscaling.amazonaws.com', 'elasticache.amazonaws.com', 'rds.amazonaws.com']) {
      expect({ env, service, slr: has(env, (r) => r.call.action === 'iam:CreateServiceLinkedRole' && r.call.context?.['iam:AWSServiceName'] === service) }).toEqual({ env, service, slr: true });
    }
  }
  // The prod-only logging: flow logs and the WAF logging configuration, with their log deliveries.
  expect(has('prod', (r) => r.type === 'aws_flow_log' && r.call.action === 'logs:CreateLogDelivery')).toBe(true);
  expect(has('prod', (r) => r.type === 'aws_wafv2_web_acl_logging_configuration' && r.call.action === 'logs:PutResourcePolicy')).toBe(true);
});

for (const stack of STACKS) {
  test(`${stack}: every provider call of every resource is allowed to the ${stack.split('-')[0]} deploy role`, async () => {
    const env = stack.split('-')[0];
    const rows = rowsOf.get(stack)!;
    const refused: string[] = [];
    for (const row of rows) {
      const { call } = row;
      const { decision, context, error } = await decide(env, call);
      const api = call.api && call.api !== call.action ? ` (${call.api})` : '';
      table.push(
        `| ${stack} | ${cell(row.address)} | ${call.phase} | ${cell(call.action + api)} | ${cell(short(call.resource))} | ${cell(contextText(context))} | ${decision} | ${cell(call.note ?? '')} |`,
      );
      if (decision !== 'Allowed') refused.push(`${row.address} ${call.phase} ${call.action} on ${short(call.resource)} [${contextText(context)}] → ${decision}${error ? `: ${error}` : ''}`);
    }
    const types = new Set(rows.map((r) => r.type));
    const gaps = rows.filter((r) => r.call.catalogueGap).length;
    summary.push(
      `- ${stack}: ${rows.length} provider calls simulated over ${new Set(rows.map((r) => r.address)).size} resources, data sources and the backend (${types.size} types), ${rows.length - refused.length} allowed` +
        (gaps ? `; ${gaps} without the catalogue's ARN check (${[...new Set(rows.map((r) => r.call.catalogueGap).filter(Boolean))].join('; ')})` : ''),
    );
    expect(rows.length).toBeGreaterThan(20);
    expect(refused).toEqual([]);
  }, 300_000);
}
