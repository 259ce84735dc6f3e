import { checkStack, describeRun, inPool, planMode, StackCheck } from '../support/infra-terraform';
import { stackNames } from '../support/infra-synth';

/**
 * Every synthesised stack of every environment goes through terraform itself: validate, then
 * a plan without an AWS account — plain for stacks that read nothing, under `terraform test`
 * with a mocked provider and mocked remote state for the others. Stacks come from the
 * manifest, so a new stack is covered without touching this file.
 */
const stacks = stackNames();
const checks = new Map<string, StackCheck>();

beforeAll(async () => {
  const results = await inPool(stacks, 2, checkStack);
  results.forEach((result) => checks.set(result.name, result));
}, 600_000);

describe.each(stacks)('%s', (name) => {
  test('terraform init succeeds (local backend override, provider from mirror or registry)', () => {
    const check = checks.get(name)!;
    expect(check.init.code === 0 ? 'ok' : describeRun(check.init)).toBe('ok');
  });

  test('terraform validate passes', () => {
    const check = checks.get(name)!;
    expect(check.validate.code === 0 ? 'ok' : describeRun(check.validate)).toBe('ok');
  });

  const how = planMode(name) === 'plan' ? 'terraform plan succeeds offline with fake credentials' : 'terraform test plans it with mock_provider and mocked remote state';
  test(how, () => {
    const check = checks.get(name)!;
    expect(check.plan.code === 0 ? 'ok' : describeRun(check.plan)).toBe('ok');
    expect(check.plan.output).toMatch(check.mode === 'plan' ? /Plan: \d+ to add/ : /1 passed, 0 failed/);
  });
});
