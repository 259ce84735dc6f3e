import { SECRET_STEM_OF_SETTING } from '../../scripts/release/smoke';
import { putCommands } from '../../scripts/release/aliases';
import { environments } from '../../stacks/config';
import { resources, stacksOfLayer } from '../support/infra-synth';

/**
 * The smoke test names, for each setting a health reports missing, the secret that gives it a
 * value: the mapping is held against the synthesised stacks (every secret variable a function or
 * task gets points at the data stack's secret of that name), so a renamed secret cannot leave the
 * deploy printing a command for a secret that does not exist.
 */
const SECRET_OUTPUT = /cross-stack-output-aws_secretsmanager_secretsecret-(.+?)(?:_[0-9A-F]{8})?arn\}$/;

test.each(stacksOfLayer('compute'))('%s: each secret variable of a function or task is the data stack’s secret the smoke test names', (stack) => {
  const env = stack.replace(/-compute$/, '');
  const seen = new Map<string, string>();
  const variablesOf = (vars: Record<string, string> | undefined) => Object.entries(vars ?? {}).filter(([k]) => /SECRET_ARN$/.test(k));
  for (const fn of resources(stack, 'aws_lambda_function')) {
    for (const [variable, value] of variablesOf(fn.config.environment?.variables)) seen.set(variable, value);
  }
  for (const task of resources(stack, 'aws_ecs_task_definition')) {
    for (const container of JSON.parse(task.config.container_definitions)) {
      for (const { name, value } of container.environment ?? []) if (/SECRET_ARN$/.test(name)) seen.set(name, value);
    }
  }
  expect([...seen.keys()].sort()).toEqual(Object.keys(SECRET_STEM_OF_SETTING).sort());
  for (const [variable, value] of seen) {
    expect({ variable, stem: SECRET_OUTPUT.exec(value)?.[1] }).toEqual({ variable, stem: SECRET_STEM_OF_SETTING[variable] });
  }
  const data = resources(`${env}-data`, 'aws_secretsmanager_secret').map((s) => s.config.name);
  for (const stem of Object.values(SECRET_STEM_OF_SETTING)) expect(data).toContain(`docplatform-${env}-${stem}`);
});

test('each missing setting gets the command that puts its secret in that environment', () => {
  const commands = putCommands(environments.prod, Object.keys(SECRET_STEM_OF_SETTING));
  Object.values(SECRET_STEM_OF_SETTING).forEach((stem, i) => {
    expect(commands[i]).toMatch(new RegExp(`^aws secretsmanager put-secret-value --region eu-west-3 --secret-id docplatform-prod-${stem} --secret-string \\S`));
  });
  expect(putCommands(undefined, ['STRIPE_SECRET_ARN'])[0]).toContain('--secret-id docplatform-<env>-stripe-secret-key');
  expect(putCommands(environments.dev, ['NOT_OURS'])[0]).toMatch(/^NOT_OURS: not a secret this platform creates/);
});
