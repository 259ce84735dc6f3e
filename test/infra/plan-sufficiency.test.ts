import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { planRole } from '../support/iam-simulation';
import { ENVS, EXCLUDED, providerRows, Row, simulateRows, STACKS, TABLE_HEADER, VARIANT_STACKS } from '../support/sufficiency';

/**
 * The plan role is sufficient for `terraform plan` of every environment stack (pull requests plan
 * dev and prod with it): every `read`-phase call Terraform's AWS provider (v5.100.0) makes to
 * refresh every resource (test/support/provider-calls.ts), the reads of its data sources (the
 * upstream layers' remote state) and of its S3 backend (the state, its listing) are simulated
 * (@cloud-copilot/iam-simulate) against the plan role as the bootstrap stack synthesises it, with
 * the same request context and resource policies as test/infra/deploy-sufficiency.test.ts. Every
 * one must be Allowed. A resource type the table does not know fails that test.
 *
 * A plan writes nothing: plan.yml plans with -lock=false, so the backend's lock calls (its update
 * phase) are the deploy role's only, and test/infra/bootstrap.test.ts holds that the plan role
 * has no write at all. That nothing
 * here reads data (secret values, objects, logs, messages) is test/infra/iam-simulation.test.ts's.
 *
 * The per-stack counts are printed, and the full table written to $TMPDIR/docplatform-plan-sufficiency.md.
 */

const { rowsOf: allRowsOf, missing } = providerRows([...STACKS, ...VARIANT_STACKS]);
const readsOf = new Map<string, Row[]>([...allRowsOf].map(([stack, rows]) => [stack, rows.filter((r) => r.call.phase === 'read')]));
const principal = planRole();
const table: string[] = [];
const summary: string[] = [];

afterAll(() => {
  const file = path.join(os.tmpdir(), 'docplatform-plan-sufficiency.md');
  const header = [`# Plan role sufficiency: read calls simulated (bootstrap excluded: ${EXCLUDED.bootstrap})`, '', ...TABLE_HEADER];
  fs.writeFileSync(file, `${[...summary, '', ...header, ...table].join('\n')}\n`);
  console.log(`Plan role sufficiency (full table in ${file}):\n${summary.join('\n')}`);
});

test('every resource type and data source of every environment stack has its provider calls in the table', () => {
  expect(STACKS.length).toBe(ENVS.length * 4);
  expect(missing).toEqual([]);
});

test('the reads include the backend, the remote state and the refresh of the NAT group, flow logs and dashboard', () => {
  const all = [...readsOf.values()].flat();
  for (const stack of STACKS) {
    expect({ stack, state: all.some((r) => r.stack === stack && r.address === 'backend' && r.call.action === 's3:GetObject') }).toEqual({ stack, state: true });
  }
  expect(all.some((r) => r.type === 'data.terraform_remote_state')).toBe(true);
  for (const env of ENVS) {
    const has = (type: string, action: string) => all.some((r) => r.stack.startsWith(`${env}-`) && r.type === type && r.call.action === action);
    expect({ env, asg: has('aws_autoscaling_group', 'autoscaling:DescribeAutoScalingGroups') }).toEqual({ env, asg: true });
    expect({ env, dashboard: has('aws_cloudwatch_dashboard', 'cloudwatch:GetDashboard') }).toEqual({ env, dashboard: true });
  }
  expect(all.some((r) => r.stack.startsWith('prod-') && r.type === 'aws_flow_log' && r.call.action === 'ec2:DescribeFlowLogs')).toBe(true);
});

for (const stack of [...STACKS, ...VARIANT_STACKS]) {
  test(`${stack}: every read call of every resource, data source and the backend is allowed to the plan role`, async () => {
    const rows = readsOf.get(stack)!;
    const refused = await simulateRows(principal, rows, table);
    summary.push(`- ${stack}: ${rows.length} read calls simulated over ${new Set(rows.map((r) => r.address)).size} resources, data sources and the backend, ${rows.length - refused.length} allowed`);
    expect(rows.length).toBeGreaterThan(10);
    expect(refused).toEqual([]);
  }, 300_000);
}
