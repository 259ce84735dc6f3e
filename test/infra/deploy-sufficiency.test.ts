import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { deployRole, SimPrincipal } from '../support/iam-simulation';
import { ENVS, EXCLUDED, providerRows, Row, simulateRows, STACKS, TABLE_HEADER, VARIANT_STACKS } from '../support/sufficiency';

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

const { rowsOf, missing } = providerRows([...STACKS, ...VARIANT_STACKS]);
const principals = new Map<string, SimPrincipal>(ENVS.map((env) => [env, deployRole(env)]));
const table: string[] = [];
const summary: string[] = [];

afterAll(() => {
  const file = path.join(os.tmpdir(), 'docplatform-deploy-sufficiency.md');
  const header = [
    `# Deploy role sufficiency: provider calls simulated (bootstrap excluded: ${EXCLUDED.bootstrap})`,
    '',
    ...TABLE_HEADER,
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
  // The Aurora engine (the variant's data stacks): the cluster, its instance and parameter group, and its master secret made by RDS.
  for (const env of ENVS) {
    const aurora = (action: string, arnType: string) => has(env, (r) => r.stack === `${env}-data@aurora` && r.call.action === action && r.call.resource.includes(`:${arnType}:`));
    expect({ env, cluster: aurora('rds:CreateDBCluster', 'cluster'), instanceInCluster: aurora('rds:CreateDBInstance', 'cluster'), parameters: aurora('rds:CreateDBClusterParameterGroup', 'cluster-pg') }).toEqual({ env, cluster: true, instanceInCluster: true, parameters: true });
    expect(has(env, (r) => r.stack === `${env}-data@aurora` && r.call.action === 'secretsmanager:CreateSecret' && r.call.resource.includes(':secret:rds!cluster-') && r.call.via === 'rds.amazonaws.com')).toBe(true);
  }
  // The prod-only logging: flow logs and the WAF logging configuration, with their log deliveries.
  expect(has('prod', (r) => r.type === 'aws_flow_log' && r.call.action === 'logs:CreateLogDelivery')).toBe(true);
  expect(has('prod', (r) => r.type === 'aws_wafv2_web_acl_logging_configuration' && r.call.action === 'logs:PutResourcePolicy')).toBe(true);
});

for (const stack of [...STACKS, ...VARIANT_STACKS]) {
  test(`${stack}: every provider call of every resource is allowed to the ${stack.split('-')[0]} deploy role`, async () => {
    const env = stack.split('-')[0];
    const rows = rowsOf.get(stack)!;
    const refused = await simulateRows(principals.get(env)!, rows, table);
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
