import { isSecretName, redactText } from '../../core/logger';
import { allResources, resources, stackNames, synthesizedStack } from '../support/infra-synth';

/**
 * Terraform keeps in its state every argument and attribute of what it manages, and a plan
 * prints them: a secret made or written by a stack would be readable by whoever reads the state
 * bucket or a CI log. So no stack makes one or carries one. Secrets are created empty (values
 * put out of band), RDS manages its master password, the workloads get secret ARNs (ECS
 * `secrets` take values at task start, outside Terraform). The test of "looks like a secret" is
 * the logger's one rule (core/logger.ts): a name ending like one, or a URL with a password.
 */
const stacks = stackNames();

/** Resource types whose state holds a secret value. */
const SECRET_HOLDERS = [
  'random_password',
  'random_string',
  'random_bytes',
  'tls_private_key',
  'aws_iam_access_key',
  'aws_iam_user_login_profile',
  'aws_secretsmanager_secret_version',
  'aws_ssm_parameter',
  // Unless authenticated with IAM (below).
  'aws_elasticache_user',
  'aws_cloudfrontkeyvaluestore_key',
  'aws_db_instance',
  'aws_rds_cluster',
];

describe.each(stacks)('%s', (name) => {
  const stack = synthesizedStack(name);

  test('makes and writes no secret value: no generated password or key, no secret version, no database password', () => {
    const found = allResources(stack)
      .filter((r) => SECRET_HOLDERS.includes(r.type))
      .filter((r) => !['aws_db_instance', 'aws_rds_cluster'].includes(r.type) || r.config.password !== undefined || r.config.master_password !== undefined || r.config.manage_master_user_password !== true)
      // A cache user authenticated with IAM has no password: it connects with short-lived tokens its role signs.
      .filter((r) => r.type !== 'aws_elasticache_user' || r.config.authentication_mode?.type !== 'iam' || r.config.passwords !== undefined || r.config.no_password_required === true)
      .map((r) => r.address);
    expect(found).toEqual([]);
  });

  test('every environment variable of a function or a container carries a name or an ARN, never a secret value', () => {
    const variables: Array<[string, string, unknown]> = [];
    for (const fn of resources(stack, 'aws_lambda_function')) {
      for (const [k, v] of Object.entries(fn.config.environment?.variables ?? {})) variables.push([fn.address, k, v]);
    }
    for (const td of resources(stack, 'aws_ecs_task_definition')) {
      const containers = typeof td.config.container_definitions === 'string' ? JSON.parse(td.config.container_definitions) : td.config.container_definitions;
      for (const c of containers) for (const e of c.environment ?? []) variables.push([`${td.address} ${c.name}`, e.name, e.value]);
    }
    const leaks = variables.filter(([, k, v]) => isSecretName(k) || (typeof v === 'string' && redactText(v) !== v)).map(([where, k]) => `${where}: ${k}`);
    expect(leaks).toEqual([]);
  });

  test('a container gets a secret only by reference (ECS secrets valueFrom a Secrets Manager ARN)', () => {
    for (const td of resources(stack, 'aws_ecs_task_definition')) {
      const containers = typeof td.config.container_definitions === 'string' ? JSON.parse(td.config.container_definitions) : td.config.container_definitions;
      for (const c of containers) for (const s of c.secrets ?? []) expect(s.valueFrom).toMatch(/secret/i);
    }
  });

  test('an output named like a secret is sensitive (no plan or `terraform output` prints it)', () => {
    const outputs = Object.entries<{ sensitive?: boolean }>(stack.output ?? {});
    expect(outputs.filter(([k, o]) => isSecretName(k) && o.sensitive !== true).map(([k]) => k)).toEqual([]);
  });
});

test('the rule above finds what it must: a secret-named variable and a URL with a password', () => {
  expect(isSecretName('STRIPE_SECRET_KEY')).toBe(true);
  expect(isSecretName('ORDER_TOKEN_SECRET')).toBe(true);
  expect(isSecretName('GEMINI_API_KEY')).toBe(true);
  expect(isSecretName('STRIPE_SECRET_ARN')).toBe(false);
  expect(redactText('postgres://app:pw@db.internal:5432/docplatform')).not.toBe('postgres://app:pw@db.internal:5432/docplatform');
  expect(redactText('rediss://cache.internal:6379')).toBe('rediss://cache.internal:6379');
});

test.each(stacks.filter((s) => s.endsWith('-compute')))('%s hands its workloads secrets by ARN and by ECS reference (what the tests above look at is there)', (name) => {
  const stack = synthesizedStack(name);
  const names = resources(stack, 'aws_lambda_function').flatMap((fn) => Object.keys(fn.config.environment?.variables ?? {}));
  expect(names).toEqual(expect.arrayContaining(['DB_SECRET_ARN', 'STRIPE_SECRET_ARN', 'STRIPE_WEBHOOK_SECRET_ARN', 'ORDER_TOKEN_SECRET_ARN', 'GEMINI_SECRET_ARN']));
  const references = resources(stack, 'aws_ecs_task_definition').flatMap((td) => JSON.parse(td.config.container_definitions).flatMap((c: { secrets?: { name: string }[] }) => (c.secrets ?? []).map((s) => s.name)));
  expect(references).toEqual(expect.arrayContaining(['PGPASSWORD']));
});
