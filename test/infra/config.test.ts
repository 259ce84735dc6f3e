import { dev, environments, environmentTable, prod } from '../../stacks/config';

/**
 * Each environment's IAM scopes are `docplatform-<env>-*`, so one name must never be the start of
 * another's followed by a dash: `dev-eu` would lie inside dev's scopes.
 */
test('the environments are dev and prod, by name', () => {
  expect(environments).toEqual({ dev, prod });
});

test.each(['dev-eu', 'Dev', 'dev_eu', '1dev', ''])('an environment named %j is refused, naming it', (env) => {
  expect(() => environmentTable(dev, { ...dev, env })).toThrow(`environment name "${env}": lower-case letters and digits only`);
});

test('a name given twice is refused', () => {
  expect(() => environmentTable(dev, { ...prod, env: 'dev' })).toThrow('environment name "dev": given twice');
});

test('a name of letters and digits is taken', () => {
  expect(Object.keys(environmentTable(dev, { ...dev, env: 'deveu2' }))).toEqual(['dev', 'deveu2']);
});
