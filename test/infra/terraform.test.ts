import { checkStack, describeRun, inPool, planMode, StackCheck, StackOptions } from '../support/infra-terraform';
import { stackNames } from '../support/infra-synth';
import { bootstrap } from '../../stacks/config';
import { githubIdIssues } from '../../modules/github-oidc-roles';
import { githubIdsMessage } from '../../stacks/bootstrap';

/**
 * Every synthesised stack of every environment goes through terraform itself: validate, then
 * a plan without an AWS account — plain for stacks that read nothing, under `terraform test`
 * with a mocked provider and mocked remote state for the others. Stacks come from the
 * manifest, so a new stack is covered without touching this file.
 */
const stacks = stackNames();
const checks = new Map<string, StackCheck>();

/**
 * The bootstrap is planned with GitHub ids in place of the config's placeholders (the rest of the
 * plan is what the config says); the plan of the config as committed is checked on its own below.
 */
const GITHUB_IDS: StackOptions = { override: { locals: { github_ids: { owner_id: '1234', repository_id: '98765' } } } };
const optionsFor = (name: string): StackOptions => (name === 'bootstrap' ? GITHUB_IDS : {});
let bootstrapAsCommitted: StackCheck | undefined;

beforeAll(async () => {
  const results = await inPool(stacks, 2, (name) => checkStack(name, optionsFor(name)));
  results.forEach((result) => checks.set(result.name, result));
  if (stacks.includes('bootstrap')) bootstrapAsCommitted = await checkStack('bootstrap');
}, 600_000);

test('bootstrap: while stacks/config.ts holds no GitHub ids, the plan stops on one precondition naming the fields and the command; with ids it plans', () => {
  const check = bootstrapAsCommitted!;
  if (githubIdIssues(bootstrap.github).length === 0) {
    expect(check.plan.code === 0 ? 'ok' : describeRun(check.plan)).toBe('ok');
    return;
  }
  expect(check.validate.code === 0 ? 'ok' : describeRun(check.validate)).toBe('ok');
  expect(check.plan.code).not.toBe(0);
  const errors = check.plan.output.match(/^Error: .*$/gm) ?? [];
  expect({ errors, output: check.plan.output.slice(-3000) }).toEqual({ errors: ['Error: Resource precondition failed'], output: expect.any(String) });
  // Terraform wraps long messages: compare without the line breaks.
  expect(check.plan.output.replace(/\s+/g, ' ')).toContain(githubIdsMessage(bootstrap).replace(/\s+/g, ' '));
});

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
