import { checkStack, describeRun, inPool, planMode, StackCheck, StackOptions } from '../support/infra-terraform';
import { stackNames, stacksChangedBy, Variant } from '../support/infra-synth';
import { bootstrap } from '../../stacks/config';
import { githubIdIssues } from '../../modules/github-oidc-roles';
import { githubIdsMessage } from '../../stacks/bootstrap';

/**
 * Every synthesised stack of every environment goes through terraform itself: validate, then
 * a plan without an AWS account — plain for stacks that read nothing, under `terraform test`
 * with a mocked provider and mocked remote state for the others. Stacks come from the
 * manifest, so a new stack is covered without touching this file. So do the stacks the other
 * side of a config switch changes (the `aurora` variant: database.engine aurora-serverless-v2).
 */
const stacks = stackNames();
const VARIANTS: Variant[] = ['aurora'];
const variantStacks = VARIANTS.flatMap((variant) => stacksChangedBy(variant as Exclude<Variant, 'committed'>).map((name) => ({ name, variant })));
const label = (name: string, variant: Variant) => (variant === 'committed' ? name : `${name} (${variant})`);
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
  const variantResults = await inPool(variantStacks, 2, ({ name, variant }) => checkStack(name, { variant }));
  variantResults.forEach((result) => checks.set(label(result.name, result.variant), result));
  if (stacks.includes('bootstrap')) bootstrapAsCommitted = await checkStack('bootstrap');
}, 900_000);

test('the aurora variant changes the data stacks (and compute, which reads their outputs) of every environment', () => {
  const changed = variantStacks.filter((s) => s.variant === 'aurora').map((s) => s.name).sort();
  expect(changed.filter((name) => name.endsWith('-data'))).toEqual(['dev-data', 'prod-data']);
});

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

describe.each([...stacks.map((name) => ({ name, variant: 'committed' as Variant })), ...variantStacks])('$name ($variant)', ({ name, variant }) => {
  test('terraform init succeeds (local backend override, provider from mirror or registry)', () => {
    const check = checks.get(label(name, variant))!;
    expect(check.init.code === 0 ? 'ok' : describeRun(check.init)).toBe('ok');
  });

  test('terraform validate passes', () => {
    const check = checks.get(label(name, variant))!;
    expect(check.validate.code === 0 ? 'ok' : describeRun(check.validate)).toBe('ok');
  });

  const how = planMode(name, variant) === 'plan' ? 'terraform plan succeeds offline with fake credentials' : 'terraform test plans it with mock_provider and mocked remote state';
  test(how, () => {
    const check = checks.get(label(name, variant))!;
    expect(check.plan.code === 0 ? 'ok' : describeRun(check.plan)).toBe('ok');
    expect(check.plan.output).toMatch(check.mode === 'plan' ? /Plan: \d+ to add/ : /1 passed, 0 failed/);
  });
});
