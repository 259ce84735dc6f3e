import { allowedContextKeysForRequest, runUnsafeSimulation } from '@cloud-copilot/iam-simulate';
import { allResources, dataSources, resources, stackNames, stacksChangedBy, synthesizedStack, variantStack } from './infra-synth';
import { ACCOUNT, Decision, simulate, SimPrincipal } from './iam-simulation';
import { backendCalls, DATA_SOURCE_CALLS, PROVIDER_CALLS, ProviderCall, Res, resolve } from './provider-calls';

/**
 * The machinery of the sufficiency tests (test/infra/deploy-sufficiency.test.ts for the deploy
 * roles, test/infra/plan-sufficiency.test.ts for the plan role): the provider calls of every
 * resource, data source and backend of a stack (test/support/provider-calls.ts), and one
 * simulation of a call against a CI role, with the request's context and the resource policy of
 * the bucket, queue or topic it names.
 */

export const EXCLUDED = { bootstrap: 'applied once by an administrator, never by a CI role' };
/** The environment stacks (bootstrap excluded). */
export const STACKS = stackNames().filter((s) => !(s in EXCLUDED));
export const ENVS = [...new Set(STACKS.map((s) => s.split('-')[0]))];

export interface Row {
  stack: string;
  /** `aws_x.name`, `data.x.name` or `backend`. */
  address: string;
  type: string;
  call: ProviderCall;
}

/**
 * The data stacks of the `aurora` variant (database.engine aurora-serverless-v2), as
 * `<env>-data@aurora`: the deploy and plan roles must be sufficient for either engine. (Its
 * compute stacks differ only by the values they read, the same resources.) And the data and
 * compute stacks of the `storageSource` variant (migration.storageSource on: the source-key
 * secret, the storage-move task and its roles), which a storage move deploys.
 */
export const VARIANT_STACKS = [
  ...stacksChangedBy('aurora').filter((name) => name.endsWith('-data')).map((name) => variantStack(name, 'aurora')),
  ...stacksChangedBy('storageSource').map((name) => variantStack(name, 'storageSource')),
];

/** Every provider call of every environment stack, and the resources and data sources the table does not know. */
export function providerRows(stacks: string[] = STACKS): { rowsOf: Map<string, Row[]>; missing: string[] } {
  const missing: string[] = [];
  const rowsOf = new Map<string, Row[]>();
  for (const stack of stacks) {
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
  return { rowsOf, missing };
}

/** The resource policies of the buckets, queues and topics of every stack, by the ARN they guard. */
let resourcePolicies: Map<string, unknown> | undefined;
function policyFor(arn: string): unknown {
  if (!resourcePolicies) {
    resourcePolicies = new Map<string, unknown>();
    for (const stack of stackNames()) {
      const add = (arn: string, policy: string) =>
        resourcePolicies!.set(arn, JSON.parse(stack === 'bootstrap' ? policy.replace(/\$\{local\.account_id\}/g, ACCOUNT) : resolve(stack, policy)));
      if (stack === 'bootstrap') {
        for (const p of resources(stack, 'aws_s3_bucket_policy')) add(`arn:aws:s3:::${synthesizedStack(stack).resource.aws_s3_bucket[/aws_s3_bucket\.([^.]+)\./.exec(p.config.bucket)![1]].bucket}`, p.config.policy);
        continue;
      }
      for (const p of resources(stack, 'aws_s3_bucket_policy')) add(new Res(stack, 'aws_s3_bucket_policy', p.name).ref('bucket').arn, p.config.policy);
      for (const p of resources(stack, 'aws_sqs_queue_policy')) add(new Res(stack, 'aws_sqs_queue_policy', p.name).ref('queue_url').arn, p.config.policy);
      for (const p of resources(stack, 'aws_sns_topic_policy')) add(new Res(stack, 'aws_sns_topic_policy', p.name).ref('arn').arn, p.config.policy);
    }
  }
  return resourcePolicies.get(arn) ?? (arn.startsWith('arn:aws:s3:::') ? resourcePolicies.get(arn.split('/')[0]) : undefined);
}

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

export interface Outcome {
  decision: Decision | 'Error';
  context: Record<string, string | string[]>;
  error?: string;
}

const decisions = new Map<string, Promise<Outcome>>();

/** One call simulated against a principal (memoised by principal and request). */
export function decide(principal: SimPrincipal, call: ProviderCall): Promise<Outcome> {
  const key = JSON.stringify([principal.arn, call.action, call.resource, call.requestTags, call.tagKeys, call.resourceTags, call.context, call.via, !!call.resourcePolicy]);
  if (!decisions.has(key)) {
    decisions.set(
      key,
      (async () => {
        const context = await contextOf(call);
        const resourcePolicy = call.resourcePolicy ?? policyFor(call.resource);
        if (call.catalogueGap) {
          // The same policies and context, without the simulator's check of the ARN against the catalogue.
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
          const decision = await simulate({ principal, action: call.action, resource: call.resource, context, resourcePolicy, literalWildcard: call.literalWildcard });
          return { decision, context };
        } catch (error) {
          return { decision: 'Error' as const, context, error: (error as Error).message };
        }
      })(),
    );
  }
  return decisions.get(key)!;
}

export const cell = (s: string) => s.replace(/\|/g, '\\|');
export const short = (s: string) => s.replace(`:${ACCOUNT}:`, ':…:');
export const contextText = (context: Record<string, string | string[]>) =>
  Object.entries(context)
    .map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v.join(',')}]` : short(v)}`)
    .join(', ');

/** Simulates the rows against a principal: one markdown table line per row, and the refusals. */
export async function simulateRows(principal: SimPrincipal, rows: Row[], table: string[]): Promise<string[]> {
  const refused: string[] = [];
  for (const row of rows) {
    const { call } = row;
    const { decision, context, error } = await decide(principal, call);
    const api = call.api && call.api !== call.action ? ` (${call.api})` : '';
    table.push(
      `| ${row.stack} | ${cell(row.address)} | ${call.phase} | ${cell(call.action + api)} | ${cell(short(call.resource))} | ${cell(contextText(context))} | ${decision} | ${cell(call.note ?? '')} |`,
    );
    if (decision !== 'Allowed') refused.push(`${row.address} ${call.phase} ${call.action} on ${short(call.resource)} [${contextText(context)}] → ${decision}${error ? `: ${error}` : ''}`);
  }
  return refused;
}

export const TABLE_HEADER = ['| stack | resource | phase | IAM action (API) | resource ARN | context | result | note |', '|---|---|---|---|---|---|---|---|'];
