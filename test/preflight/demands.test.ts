import { bootstrap, environments, EnvironmentConfig } from '../../stacks/config';
import { BOOTSTRAP_TAGS, COST_ALLOCATION_TAGS, demandsOf } from '../../scripts/preflight/demands';
import { OIDC_PROVIDER_ADDRESS } from '../../scripts/preflight/github-oidc';
import { STATE_BUCKET_ADDRESS } from '../../scripts/preflight/state-bucket';
import { resources, synthesizedStack } from '../support/infra-synth';
import { CONFIG_VARIANTS } from '../../stacks/variants';
import { SECRET_STEMS } from '../../core/contract';

/**
 * What the preflight weighs an account against is derived from stacks/config.ts; here each
 * figure is held against the synthesised stacks, so a stack that changes what it asks of the
 * account (a new secret, an Elastic IP, another task size) fails this test until the preflight
 * follows.
 */

const envs = Object.values(environments).map((c) => [c.env, c] as const);
const defaultTags = (stack: any) => stack.provider.aws[0].default_tags[0].tags;

describe.each(envs)('%s', (env, config: EnvironmentConfig) => {
  const demands = demandsOf(config);

  test('the secrets are the data stack\'s', () => {
    const names = resources(`${env}-data`, 'aws_secretsmanager_secret').map((r) => r.config.name);
    expect(demands.secrets.map((s) => s.name).sort()).toEqual(names.sort());
  });

  test('with migration.storageSource on, the secrets are that variant\'s data stack\'s (the old storage\'s key among them)', () => {
    const names = resources(synthesizedStack(`${env}-data`, 'storageSource'), 'aws_secretsmanager_secret').map((r) => r.config.name);
    expect(demandsOf(CONFIG_VARIANTS.storageSource(config)).secrets.map((s) => s.name).sort()).toEqual(names.sort());
    expect(names).toContain(`docplatform-${env}-${SECRET_STEMS.storageSource}`);
  });

  test('the functions and their reserved concurrency are the compute stack\'s', () => {
    const functions = resources(`${env}-compute`, 'aws_lambda_function').map((r) => ({ functionName: r.config.function_name, reservedConcurrency: r.config.reserved_concurrent_executions }));
    const sort = (list: Array<{ functionName: string }>) => [...list].sort((a, b) => a.functionName.localeCompare(b.functionName));
    expect(sort(demands.functions.map(({ functionName, reservedConcurrency }) => ({ functionName, reservedConcurrency })))).toEqual(sort(functions));
    expect(demands.reservedConcurrency).toBe(functions.reduce((sum, f) => sum + f.reservedConcurrency, 0));
  });

  test('the Spot vCPU is the workers\' task size × their scaling maximum; the migration task\'s is on-demand', () => {
    const stack = synthesizedStack(`${env}-compute`);
    const tasks = resources(stack, 'aws_ecs_task_definition');
    const targets = resources(stack, 'aws_appautoscaling_target');
    const services = resources(stack, 'aws_ecs_service');
    let spot = 0;
    for (const service of services) {
      expect(service.config.capacity_provider_strategy.find((s: any) => s.weight > 0).capacity_provider).toBe('FARGATE_SPOT');
      const task = tasks.find((t) => t.config.family === service.config.name)!;
      const target = targets.find((t) => t.config.resource_id.includes(`${service.address}.name`))!;
      spot += (Number(task.config.cpu) / 1024) * target.config.max_capacity;
    }
    expect(services).toHaveLength(2);
    expect(demands.spotVcpu).toBe(spot);
    const migration = tasks.find((t) => t.config.family === `docplatform-${env}-db-move`)!;
    expect(demands.migrationVcpu).toBe(Number(migration.config.cpu) / 1024);
  });

  test('the Elastic IPs counted are at least the network stack\'s', () => {
    // Never fewer: a preflight that counts fewer passes an account where the network deploy then
    // fails (AddressLimitExceeded). One per NAT, instance or gateway; none without egress.
    const allocated = resources(`${env}-network`, 'aws_eip').length;
    expect(demands.elasticIps).toBeGreaterThanOrEqual(allocated);
    expect(demands.elasticIps).toBe(config.network.egress === 'none' ? 0 : 1);
  });

  test('every resource carries the cost allocation tags', () => {
    for (const layer of ['network', 'data', 'compute', 'edge']) {
      expect(Object.keys(defaultTags(synthesizedStack(`${env}-${layer}`))).sort()).toEqual([...COST_ALLOCATION_TAGS].sort());
    }
  });
});

test('the bootstrap\'s bucket and provider: their addresses, name and the tags that mark them as its own', () => {
  const stack = synthesizedStack('bootstrap');
  expect(defaultTags(stack)).toMatchObject(BOOTSTRAP_TAGS);
  const [type, name] = STATE_BUCKET_ADDRESS.split('.');
  expect(stack.resource[type][name].bucket).toBe(bootstrap.stateBucketName);
  const [providerType, providerName] = OIDC_PROVIDER_ADDRESS.split('.');
  expect(stack.resource[providerType][providerName].url).toBe('https://token.actions.githubusercontent.com');
});
