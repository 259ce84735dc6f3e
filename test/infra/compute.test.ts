import * as fs from 'node:fs';
import * as path from 'node:path';
import { environments, EnvironmentConfig, namePrefix } from '../../stacks/config';
import { BINARY_MEDIA_TYPES, ENV, QUEUES, REGION, SECRET_STEMS } from '../../core/contract';
import { SERVICE_ACCESS, WORKER_ACCESS } from '../../stacks/access';
import { ENI_DESCRIBE_ACTIONS, ECR_AUTH_ACTION } from '../../modules/iam-grants';
import { API_GATEWAY_LOGS_POLICY_ARN } from '../../modules/lambda-rest-api';
import { MANAGED_RULE_GROUPS } from '../../modules/web-acl';
import { CONTAINER_NAME, SCRATCH, SCRATCH_INIT_CONTAINER } from '../../modules/fargate-task';
import { WAKE_MINUTES } from '../../modules/spot-queue-worker';
import { workloadBoundaryStatements } from '../../stacks/ci-policies/boundary';
import { environmentPolicyContext } from '../../stacks/bootstrap';
import { BUNDLE_LIMIT_BYTES } from '../../build/functions';
import { readConfig } from '../../core/config';
import { readWorkerConfig } from '../../containers/shared/worker-config';
import { Block, allResources, parsePolicy, referencedAddress, resources, stackDir, synthesizedStack } from '../support/infra-synth';

/**
 * Invariants of the compute layer, over the synthesised dev-compute and prod-compute stacks.
 * terraform validate / terraform test of the same stacks run in terraform.test.ts.
 */
const envs = Object.values(environments).map((c) => [c.env, c] as const);
const INTERNAL = ['core-llm', 'theme', 'order', 'client'];
const GATEWAYS = ['gateway-b2c', 'gateway-b2b'];

/** Actions a `Resource: "*"` statement may hold: AWS offers no resource-level permission for them. */
const STAR_RESOURCE_ALLOWED = new Set([...ENI_DESCRIBE_ACTIONS, ECR_AUTH_ACTION]);

/** Uncompressed size of each entry of a zip, read from its central directory. */
function zipEntries(file: string): Record<string, number> {
  const buf = fs.readFileSync(file);
  const eocd = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new Error(`${file} is not a zip`);
  const count = buf.readUInt16LE(eocd + 10);
  let offset = buf.readUInt32LE(eocd + 16);
  const entries: Record<string, number> = {};
  for (let i = 0; i < count; i++) {
    const size = buf.readUInt32LE(offset + 24);
    const nameLength = buf.readUInt16LE(offset + 28);
    const extra = buf.readUInt16LE(offset + 30);
    const comment = buf.readUInt16LE(offset + 32);
    entries[buf.toString('utf8', offset + 46, offset + 46 + nameLength)] = size;
    offset += 46 + nameLength + extra + comment;
  }
  return entries;
}

/** A plausible value for a Terraform expression in an environment variable, by variable name. */
function resolvedForLoader(name: string, value: string): string {
  if (!value.includes('${')) return value;
  if (name.endsWith('_ARN')) return 'arn:aws:secretsmanager:eu-west-3:123456789012:secret:mock-AbCdEf';
  if (name.endsWith('_QUEUE_URL')) return 'https://sqs.eu-west-3.amazonaws.com/123456789012/mock';
  if (name === 'REDIS_URL') return 'rediss://mock.serverless.euw3.cache.amazonaws.com:6379';
  if (name === 'DB_PORT') return '5432';
  if (name === 'PUBLIC_BASE_URL') return 'https://mockapi.execute-api.eu-west-3.amazonaws.com/v1';
  return value.replace(/\$\{[^}]*\}/g, 'mock');
}

describe.each(envs)('%s-compute', (env, config: EnvironmentConfig) => {
  const name = `${env}-compute`;
  const stack = synthesizedStack(name);
  const prefix = namePrefix(env);
  const byAddress = new Map<string, Block & { type: string }>(allResources(stack).map((r) => [r.address, r]));
  const target = (expression: string) => {
    const address = referencedAddress(expression);
    const block = address && byAddress.get(address);
    if (!block) throw new Error(`${expression} does not reference a resource of ${name}`);
    return block;
  };

  const functions = resources(stack, 'aws_lambda_function');
  const fnByService = new Map(functions.map((f) => [f.config.function_name.slice(prefix.length + 1), f]));
  const aliases = resources(stack, 'aws_lambda_alias');
  const aliasOf = (service: string) => {
    const fn = fnByService.get(service)!;
    return aliases.find((a) => target(a.config.function_name).address === fn.address)!;
  };
  const roles = resources(stack, 'aws_iam_role');
  const inlinePolicies = resources(stack, 'aws_iam_role_policy');
  const statementsOf = (role: Block) =>
    inlinePolicies.filter((p) => target(p.config.role).address === role.address).flatMap((p) => parsePolicy(p.config.policy).Statement);
  const allowed = (role: Block, action: string) => statementsOf(role).filter((s) => s.Effect === 'Allow' && s.Action.includes(action)).flatMap((s) => [].concat(s.Resource));
  const taskDefs = resources(stack, 'aws_ecs_task_definition');
  const taskDef = (family: string) => taskDefs.find((t) => t.config.family === family)!;
  const containerOf = (family: string) => JSON.parse(taskDef(family).config.container_definitions)[0];
  const services = resources(stack, 'aws_ecs_service');
  const workerName = (w: string) => `${prefix}-${w}`;
  const expectPrivateSubnets = (ids: string[]) => {
    expect(ids).toHaveLength(config.network.azCount);
    for (const id of ids) expect(id).toMatch(/cross-stack-output-aws_subnetprivate-\d+id/);
  };

  test('the stack holds the six functions, two worker services and the migration task definition', () => {
    expect([...fnByService.keys()].sort()).toEqual([...GATEWAYS, ...INTERNAL].sort());
    expect(services.map((s) => s.config.name).sort()).toEqual([workerName('b2b-batch'), workerName('doc-generation')]);
    expect(taskDefs.map((t) => t.config.family).sort()).toEqual(
      [`${prefix}-b2b-batch`, `${prefix}-db-move`, `${prefix}-doc-generation`].sort(),
    );
  });

  test('every Lambda runs Node.js 22 on arm64', () => {
    for (const fn of functions) {
      expect(fn.config.runtime).toBe('nodejs22.x');
      expect(fn.config.architectures).toEqual(['arm64']);
      expect(fn.config.handler).toBe('handler.handler');
    }
  });

  test('every Lambda has the memory, timeout and reserved concurrency of its config', () => {
    for (const [service, fn] of fnByService) {
      const settings = config.lambdas[service as keyof typeof config.lambdas];
      expect(fn.config).toMatchObject({
        memory_size: settings.memoryMb,
        timeout: settings.timeoutSeconds,
        reserved_concurrent_executions: settings.reservedConcurrency,
      });
      expect(fn.config.memory_size).toBeGreaterThanOrEqual(128);
      expect(fn.config.memory_size).toBeLessThanOrEqual(1024);
    }
  });

  test('gateway timeouts fit inside the API Gateway 29 s integration timeout', () => {
    for (const service of GATEWAYS) expect(fnByService.get(service)!.config.timeout).toBeLessThanOrEqual(29);
  });

  test('every Lambda publishes versions and has a live alias on the published version', () => {
    for (const [service, fn] of fnByService) {
      expect(fn.config.publish).toBe(true);
      const alias = aliasOf(service);
      expect(alias.config.name).toBe('live');
      expect(alias.config.function_version).toBe(`\${${fn.address}.version}`);
    }
  });

  test('every Lambda has its own role, trusted by Lambda only for that function of this account when Lambda names a source (…IfExists)', () => {
    const roleAddresses = functions.map((f) => target(f.config.role).address);
    expect(new Set(roleAddresses).size).toBe(functions.length);
    for (const fn of functions) {
      const trust = JSON.parse(target(fn.config.role).config.assume_role_policy);
      const arn = `arn:aws:lambda:${REGION}:\${local.account_id}:function:${fn.config.function_name}`;
      expect(trust.Statement).toEqual([
        {
          Effect: 'Allow',
          Principal: { Service: 'lambda.amazonaws.com' },
          Action: 'sts:AssumeRole',
          Condition: { StringEqualsIfExists: { 'aws:SourceAccount': '${local.account_id}' }, ArnLikeIfExists: { 'aws:SourceArn': [arn, `${arn}:*`] } },
        },
      ]);
    }
  });

  test('every ECS task role is taken by ECS only for a task of this account (aws:SourceAccount, aws:SourceArn); execution roles refuse another account’s source (…IfExists)', () => {
    const ecsRoles = roles.filter((r) => JSON.parse(r.config.assume_role_policy).Statement[0].Principal.Service === 'ecs-tasks.amazonaws.com');
    const taskRoles = ecsRoles.filter((r) => r.config.name.endsWith('-task'));
    const execRoles = ecsRoles.filter((r) => !taskRoles.includes(r));
    expect(taskRoles.length).toBeGreaterThanOrEqual(3);
    expect(execRoles.length).toBe(taskRoles.length);
    const trust = (always: boolean) => [
      {
        Effect: 'Allow',
        Principal: { Service: 'ecs-tasks.amazonaws.com' },
        Action: 'sts:AssumeRole',
        Condition: {
          [always ? 'StringEquals' : 'StringEqualsIfExists']: { 'aws:SourceAccount': '${local.account_id}' },
          [always ? 'ArnLike' : 'ArnLikeIfExists']: { 'aws:SourceArn': `arn:aws:ecs:${REGION}:\${local.account_id}:*` },
        },
      },
    ];
    for (const role of taskRoles) expect(JSON.parse(role.config.assume_role_policy).Statement).toEqual(trust(true));
    for (const role of execRoles) {
      expect(role.config.name).toMatch(/-exec$/);
      expect(JSON.parse(role.config.assume_role_policy).Statement).toEqual(trust(false));
    }
  });

  test('every role carries the environment’s own workload permissions boundary', () => {
    for (const role of roles) expect(role.config.permissions_boundary).toMatch(new RegExp(`^arn:aws:iam::.+:policy/${prefix}-workload-boundary$`));
  });

  test('every action a compute role is granted lies within the workload permissions boundary', () => {
    const boundary = workloadBoundaryStatements(environmentPolicyContext('123456789012', env));
    const permitted = new Set(boundary.filter((b) => (b.effect ?? 'Allow') === 'Allow').flatMap((b) => b.actions));
    const granted = new Set(inlinePolicies.flatMap((p) => parsePolicy(p.config.policy).Statement.flatMap((st) => st.Action as string[])));
    expect([...granted].filter((action) => !permitted.has(action))).toEqual([]);
  });

  test('no IAM policy grants * actions or * resources (except the ENI and subnet listings and the ECR login, which IAM authorises on * only)', () => {
    for (const policy of inlinePolicies) {
      for (const s of parsePolicy(policy.config.policy).Statement) {
        // The one refusal: objects deeper than the key pattern a grant names (modules/iam-grants.ts).
        expect(s.Effect === 'Allow' || s.Sid === 'NoObjectsDeeperThanTheirKey').toBe(true);
        for (const action of [].concat(s.Action) as string[]) expect(action).not.toMatch(/\*/);
        if ([].concat(s.Resource).includes('*' as never)) {
          for (const action of s.Action) expect(STAR_RESOURCE_ALLOWED.has(action) ? action : `${action} on *`).toBe(action);
        }
      }
    }
    const attachments = resources(stack, 'aws_iam_role_policy_attachment');
    for (const a of attachments) expect(a.config.policy_arn).toBe(API_GATEWAY_LOGS_POLICY_ARN);
  });

  test('functions may write only their own log group', () => {
    for (const fn of functions) {
      const role = target(fn.config.role);
      const logGroup = fn.config.depends_on.find((d: string) => d.startsWith('aws_cloudwatch_log_group.'));
      expect(allowed(role, 'logs:PutLogEvents')).toEqual([`\${${logGroup}.arn}:*`]);
    }
  });

  test('every log group has a retention', () => {
    const groups = resources(stack, 'aws_cloudwatch_log_group');
    expect(groups.length).toBeGreaterThanOrEqual(functions.length + taskDefs.length + 1);
    for (const g of groups) expect(g.config.retention_in_days).toBe(config.logs.retentionDays);
  });

  test('every Lambda log group is /aws/lambda/<function> and exists before the function', () => {
    for (const fn of functions) {
      const groupAddress = fn.config.depends_on.find((d: string) => d.startsWith('aws_cloudwatch_log_group.'));
      const group = byAddress.get(groupAddress)!;
      expect(group.config.name).toBe(`/aws/lambda/${fn.config.function_name}`);
      expect(fn.config.logging_config.log_group).toBe(`\${${groupAddress}.name}`);
    }
  });

  test('Lambda source_code_hash is set from the bundle', () => {
    for (const fn of functions) {
      expect(fn.config.filename).toMatch(/^assets\/.+\/archive\.zip$/);
      expect(fn.config.source_code_hash).toBe(`\${filebase64sha256("${fn.config.filename}")}`);
      expect(fs.existsSync(path.join(stackDir(name), fn.config.filename))).toBe(true);
    }
  });

  test('every handler.js is under 600 KiB (BUNDLE_LIMIT_BYTES)', () => {
    const sizes: Record<string, number> = Object.fromEntries(
      functions.map((fn) => [fn.config.function_name, zipEntries(path.join(stackDir(name), fn.config.filename))['handler.js']]),
    );
    for (const size of Object.values(sizes)) expect(size).toBeGreaterThan(0);
    expect(Object.entries(sizes).filter(([, size]) => size >= BUNDLE_LIMIT_BYTES)).toEqual([]);
  });

  test('functions that reach RDS or the cache run in private subnets with the lambda security group; the others outside the VPC', () => {
    for (const [service, fn] of fnByService) {
      const a = SERVICE_ACCESS[service as keyof typeof SERVICE_ACCESS];
      if (a.database || a.cache) {
        expectPrivateSubnets(fn.config.vpc_config.subnet_ids);
        expect(fn.config.vpc_config.security_group_ids).toEqual([expect.stringMatching(/cross-stack-output-aws_security_groupsg-lambdaid/)]);
        // Its own subnets and group, in this Region and account (proved by simulation in iam-simulation.test.ts).
        const ec2 = (type: string, id: string) => `arn:aws:ec2:${config.region}:${config.accountId ?? '${local.account_id}'}:${type}/${id}`;
        expect(allowed(target(fn.config.role), 'ec2:CreateNetworkInterface')).toEqual([
          ec2('network-interface', '*'),
          ...fn.config.vpc_config.subnet_ids.map((id: string) => ec2('subnet', id)),
          ...fn.config.vpc_config.security_group_ids.map((id: string) => ec2('security-group', id)),
        ]);
      } else {
        expect(fn.config.vpc_config).toBeUndefined();
        expect(allowed(target(fn.config.role), 'ec2:CreateNetworkInterface')).toEqual([]);
      }
    }
  });

  test('every function environment passes the services’ config loader (docs/runtime-config.md); only those that connect get database settings', () => {
    for (const [service, fn] of fnByService) {
      const vars: Record<string, string> = fn.config.environment.variables;
      expect(vars).toMatchObject({
        APP_ENV: env,
        INTERNAL_TRANSPORT: 'lambda',
        NODE_OPTIONS: '--enable-source-maps',
        NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem',
        PUBLIC_BASE_URL: expect.stringMatching(/^https:\/\//),
      });
      expect(vars.REDIS_URL).toMatch(/^rediss:\/\//);
      const resolved = Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, resolvedForLoader(k, v)]));
      const loaded = readConfig(resolved);
      expect(loaded.internal.transport).toBe('lambda');
      if (SERVICE_ACCESS[service as keyof typeof SERVICE_ACCESS].database) {
        expect(loaded.database).toMatchObject({ host: expect.any(String), name: expect.any(String), secretArn: expect.any(String), poolMax: config.database.poolMaxPerLambda });
      } else {
        expect({ service, database: loaded.database }).toEqual({ service, database: undefined });
        expect(Object.keys(vars).filter((k) => k.startsWith('DB_') || k.startsWith('DATABASE_'))).toEqual([]);
      }
    }
  });

  test('every secret ARN a function is given is one its role may read (the loader reads them all at start)', () => {
    const workerTasks = Object.keys(WORKER_ACCESS).map((w) => ({ ...taskDef(workerName(w)), isTask: true }));
    for (const fn of [...functions, ...workerTasks]) {
      const isTask = 'isTask' in fn;
      const vars: Record<string, string> = isTask
        ? Object.fromEntries(JSON.parse(fn.config.container_definitions)[0].environment.map((e: any) => [e.name, e.value]))
        : fn.config.environment.variables;
      const role = target(isTask ? fn.config.task_role_arn : fn.config.role);
      const readable = allowed(role, 'secretsmanager:GetSecretValue');
      const given = Object.entries(vars).filter(([k]) => k.endsWith('_SECRET_ARN') || k === 'DB_SECRET_ARN' || k === 'STRIPE_SECRET_ARN');
      for (const [, arn] of given) expect(readable).toContain(arn);
      expect(readable).toHaveLength(given.length);
    }
  });

  test('only the workloads that talk to the cache authenticate to it: their cache user in REDIS_IAM_USER, elasticache:Connect on the cache and on that user alone', () => {
    const workloads = [
      ...functions.map((fn) => ({ name: fn.config.function_name.slice(prefix.length + 1), vars: fn.config.environment.variables as Record<string, string>, role: target(fn.config.role) })),
      ...Object.keys(WORKER_ACCESS).map((w) => ({
        name: w,
        vars: Object.fromEntries(containerOf(workerName(w)).environment.map((e: any) => [e.name, e.value])) as Record<string, string>,
        role: target(taskDef(workerName(w)).config.task_role_arn),
      })),
    ];
    for (const { name, vars, role } of workloads) {
      const a = { ...SERVICE_ACCESS, ...WORKER_ACCESS }[name as keyof typeof SERVICE_ACCESS];
      const connect = allowed(role, 'elasticache:Connect');
      if (a.cache) {
        expect(vars[ENV.redisIamUser]).toMatch(new RegExp(`^\\$\\{.*aws_elasticache_usercache-user-${name}.*user_id`));
        expect(vars[ENV.redisIamCacheName]).toMatch(/^\$\{.*aws_elasticache_serverless_cachecache.*name/);
        expect(connect).toHaveLength(2);
        expect(connect[0]).toMatch(/aws_elasticache_serverless_cachecache.*arn/);
        expect(connect[1]).toMatch(new RegExp(`aws_elasticache_usercache-user-${name}.*arn`));
      } else {
        expect({ name, user: vars[ENV.redisIamUser], cache: vars[ENV.redisIamCacheName], connect }).toEqual({ name, user: undefined, cache: undefined, connect: [] });
      }
    }
    expect(workloads.filter((w) => w.vars[ENV.redisIamUser]).map((w) => w.name)).toEqual(['core-llm']);
  });

  test('only the functions and tasks that connect to RDS read a database secret: the app login; the master secret is the migration task’s alone', () => {
    const readersOf = (pattern: RegExp) =>
      roles.filter((role) => allowed(role, 'secretsmanager:GetSecretValue').some((arn) => pattern.test(arn))).map((role) => role.config.name).sort();
    const connecting = [
      ...Object.entries(SERVICE_ACCESS).filter(([, a]) => a.database).map(([s]) => `${prefix}-${s}`),
      ...Object.entries(WORKER_ACCESS).filter(([, a]) => a.database).map(([w]) => `${prefix}-${w}-task`),
    ];
    expect(connecting.length).toBe(5);
    // … and the migration task's own role, which sets the login's password (npm run db:migrate).
    expect(readersOf(/secret-db-app/)).toEqual([...connecting, `${prefix}-db-move-task`].sort());
    expect(readersOf(/master_user_secret/)).toEqual([`${prefix}-db-move-exec`]);
    for (const [name, a] of [...Object.entries(SERVICE_ACCESS), ...Object.entries(WORKER_ACCESS)]) {
      expect({ name, readsDatabaseSecret: a.secrets.includes('database') }).toEqual({ name, readsDatabaseSecret: a.database });
    }
  });

  test('callers may invoke only the live aliases of the services they name in SERVICE_FUNCTION_<NAME>', () => {
    const check = (vars: Record<string, string>, role: Block) => {
      const named = Object.entries(vars)
        .filter(([k]) => k.startsWith('SERVICE_FUNCTION_'))
        .map(([, fnName]) => fnName.slice(prefix.length + 1));
      const invokable = allowed(role, 'lambda:InvokeFunction');
      expect(invokable.sort()).toEqual(named.map((service) => `\${${aliasOf(service).address}.arn}`).sort());
    };
    for (const fn of functions) check(fn.config.environment.variables, target(fn.config.role));
    for (const w of Object.keys(WORKER_ACCESS)) {
      const container = containerOf(workerName(w));
      check(Object.fromEntries(container.environment.map((e: any) => [e.name, e.value])), target(taskDef(workerName(w)).config.task_role_arn));
    }
  });

  test('internal functions have no API route and no API Gateway permission', () => {
    const integrations = resources(stack, 'aws_api_gateway_integration');
    const routed = integrations.map((i) => target(target(i.config.uri).config.function_name).config.function_name);
    for (const service of INTERNAL) expect(routed).not.toContain(`${prefix}-${service}`);
    const apiPermissions = resources(stack, 'aws_lambda_permission').filter((p) => p.config.principal === 'apigateway.amazonaws.com');
    for (const p of apiPermissions) {
      expect(GATEWAYS.map((g) => `${prefix}-${g}`)).toContain(target(p.config.function_name).config.function_name);
    }
  });

  test('the API routes /b2c/{proxy+} and /b2b/{proxy+} to the gateway live aliases and GET /health to gateway-b2c', () => {
    const apiResources = resources(stack, 'aws_api_gateway_resource');
    const pathOf = (resourceExpr: string): string => {
      const r = target(resourceExpr);
      const parent = r.config.parent_id.includes('root_resource_id') ? '' : pathOf(r.config.parent_id);
      return `${parent}/${r.config.path_part}`;
    };
    const routes = resources(stack, 'aws_api_gateway_integration').map((i) => ({
      route: `${target(i.config.http_method).config.http_method} ${pathOf(i.config.resource_id)}`,
      type: i.config.type,
      alias: target(i.config.uri),
      uri: i.config.uri,
    }));
    expect(apiResources.length).toBe(5);
    expect(routes.map((r) => r.route).sort()).toEqual(['ANY /b2b/{proxy+}', 'ANY /b2c/{proxy+}', 'GET /health']);
    const expectRoute = (route: string, service: string) => {
      const r = routes.find((x) => x.route === route)!;
      expect(r.type).toBe('AWS_PROXY');
      expect(r.alias.address).toBe(aliasOf(service).address);
      expect(r.uri).toBe(`\${${aliasOf(service).address}.invoke_arn}`);
    };
    expectRoute('ANY /b2c/{proxy+}', 'gateway-b2c');
    expectRoute('ANY /b2b/{proxy+}', 'gateway-b2b');
    expectRoute('GET /health', 'gateway-b2c');
  });

  test('API Gateway may invoke only the live alias, from this API and stage, on its own route', () => {
    const [api] = resources(stack, 'aws_api_gateway_rest_api');
    const permissions = resources(stack, 'aws_lambda_permission');
    expect(permissions.map((p) => p.config.source_arn.replace(`\${${api.address}.execution_arn}`, '')).sort()).toEqual([
      '/v1/*/b2b/*',
      '/v1/*/b2c/*',
      '/v1/GET/health',
    ]);
    for (const p of permissions) {
      expect(p.config).toMatchObject({ action: 'lambda:InvokeFunction', principal: 'apigateway.amazonaws.com', qualifier: 'live' });
    }
  });

  test('the API is regional and its binary media types are those the handlers encode', () => {
    const [api] = resources(stack, 'aws_api_gateway_rest_api');
    expect(api.config.endpoint_configuration.types).toEqual(['REGIONAL']);
    // core/contract.ts's list, which functions/shared/lambda.ts hands serverless-http.
    expect(api.config.binary_media_types).toEqual(BINARY_MEDIA_TYPES);
  });

  test('the deployment is replaced when routes change (triggers, create_before_destroy)', () => {
    const [deployment] = resources(stack, 'aws_api_gateway_deployment');
    expect(deployment.config.triggers.redeployment).toMatch(/^\$\{sha1\(jsonencode\(/);
    for (const i of resources(stack, 'aws_api_gateway_integration')) {
      expect(deployment.config.triggers.redeployment).toContain(`${i.address}.id`);
      expect(deployment.config.depends_on).toContain(i.address);
    }
    expect(deployment.config.lifecycle.create_before_destroy).toBe(true);
  });

  test('the stage throttles every method and writes JSON access logs to a log group with retention', () => {
    const [stage] = resources(stack, 'aws_api_gateway_stage');
    const [settings] = resources(stack, 'aws_api_gateway_method_settings');
    expect(stage.config.stage_name).toBe('v1');
    expect(settings.config.stage_name).toBe(`\${${stage.address}.stage_name}`);
    expect(settings.config.method_path).toBe('*/*');
    expect(settings.config.settings).toMatchObject({
      throttling_rate_limit: config.api.throttleRateLimit,
      throttling_burst_limit: config.api.throttleBurstLimit,
    });
    const logGroup = target(stage.config.access_log_settings.destination_arn);
    expect(logGroup.config.retention_in_days).toBe(config.logs.retentionDays);
    expect(JSON.parse(stage.config.access_log_settings.format)).toMatchObject({ requestId: '$context.requestId', status: '$context.status' });
  });

  test('the API Gateway account logging role exists before the stage when this environment owns it', () => {
    const [stage] = resources(stack, 'aws_api_gateway_stage');
    const accounts = resources(stack, 'aws_api_gateway_account');
    expect(accounts).toHaveLength(config.api.ownsAccountLogRole ? 1 : 0);
    if (config.api.ownsAccountLogRole) {
      expect(stage.config.depends_on).toContain(accounts[0].address);
      const role = target(accounts[0].config.cloudwatch_role_arn);
      expect(JSON.parse(role.config.assume_role_policy).Statement[0].Principal).toEqual({ Service: 'apigateway.amazonaws.com' });
    }
  });

  test('the web ACL has the origin rule, the managed rule groups and a rate rule and is associated with the stage', () => {
    const [acl] = resources(stack, 'aws_wafv2_web_acl');
    expect(acl.config.scope).toBe('REGIONAL');
    expect(acl.config.default_action).toEqual({ allow: {} });
    const managed = acl.config.rule.filter((r: any) => r.statement.managed_rule_group_statement);
    expect(managed.map((r: any) => r.statement.managed_rule_group_statement.name).sort()).toEqual([...MANAGED_RULE_GROUPS].sort());
    for (const r of managed) {
      expect(r.statement.managed_rule_group_statement.vendor_name).toBe('AWS');
      expect(r.override_action).toEqual({ none: {} });
    }
    const common = managed.find((r: any) => r.name === 'AWSManagedRulesCommonRuleSet');
    expect(common.statement.managed_rule_group_statement.rule_action_override).toEqual([
      { name: 'SizeRestrictions_BODY', action_to_use: { count: {} } },
    ]);
    const rate = acl.config.rule.find((r: any) => r.statement.rate_based_statement);
    expect(Object.keys(rate.action)).toEqual(['block']);
    expect(rate.statement.rate_based_statement).toMatchObject({ limit: config.api.wafRateLimitPer5Min, aggregate_key_type: 'FORWARDED_IP' });
    expect(acl.config.rule.find((r: any) => r.priority === 0).name).toBe('origin-verify');
    expect(new Set(acl.config.rule.map((r: any) => r.priority)).size).toBe(acl.config.rule.length);
    for (const r of [...acl.config.rule, acl.config]) expect(r.visibility_config.cloudwatch_metrics_enabled).toBe(true);
    const [association] = resources(stack, 'aws_wafv2_web_acl_association');
    const [stage] = resources(stack, 'aws_api_gateway_stage');
    expect(association.config.resource_arn).toBe(`\${${stage.address}.arn}`);
    expect(association.config.web_acl_arn).toBe(`\${${acl.address}.arn}`);
  });

  test('the ECS cluster has Container Insights off and FARGATE_SPOT as its default capacity provider', () => {
    const [cluster] = resources(stack, 'aws_ecs_cluster');
    expect(cluster.config.setting).toEqual([{ name: 'containerInsights', value: 'disabled' }]);
    const [providers] = resources(stack, 'aws_ecs_cluster_capacity_providers');
    expect(providers.config.capacity_providers).toEqual(expect.arrayContaining(['FARGATE_SPOT', 'FARGATE']));
    expect(providers.config.default_capacity_provider_strategy).toEqual([{ capacity_provider: 'FARGATE_SPOT', weight: 1, base: 0 }]);
  });

  test('workers use FARGATE_SPOT, ARM64, 1 vCPU/2 GB, stopTimeout 120, desired 0 with ignore_changes', () => {
    for (const w of Object.keys(WORKER_ACCESS) as Array<keyof typeof WORKER_ACCESS>) {
      const service = services.find((s) => s.config.name === workerName(w))!;
      const td = target(service.config.task_definition);
      expect(td.config).toMatchObject({
        cpu: String(config.workers[w].cpu),
        memory: String(config.workers[w].memoryMb),
        network_mode: 'awsvpc',
        requires_compatibilities: ['FARGATE'],
        runtime_platform: { operating_system_family: 'LINUX', cpu_architecture: 'ARM64' },
      });
      expect([td.config.cpu, td.config.memory]).toEqual(['1024', '2048']);
      expect(containerOf(workerName(w)).stopTimeout).toBe(120);
      expect(service.config.desired_count).toBe(0);
      expect(service.config.lifecycle.ignore_changes).toEqual(['desired_count']);
      const expected = [{ capacity_provider: 'FARGATE_SPOT', weight: 1, base: 0 }];
      if (config.workers.onDemandFallback) expected.push({ capacity_provider: 'FARGATE', weight: 0, base: 0 });
      expect(service.config.capacity_provider_strategy).toEqual(expected);
      expect(service.config.launch_type).toBeUndefined();
    }
  });

  test('worker tasks have no public IP and run in private subnets with the worker security group', () => {
    for (const service of services) {
      const net = service.config.network_configuration;
      expect(net.assign_public_ip).toBe(false);
      expectPrivateSubnets(net.subnets);
      expect(net.security_groups).toEqual([expect.stringMatching(/cross-stack-output-aws_security_groupsg-workerid/)]);
    }
  });

  test('workers scale from 0 on queue depth (step scaling on ApproximateNumberOfMessagesVisible)', () => {
    const targets = resources(stack, 'aws_appautoscaling_target');
    const policies = resources(stack, 'aws_appautoscaling_policy');
    const alarms = resources(stack, 'aws_cloudwatch_metric_alarm');
    for (const w of Object.keys(WORKER_ACCESS) as Array<keyof typeof WORKER_ACCESS>) {
      const service = services.find((s) => s.config.name === workerName(w))!;
      const t = targets.find((x) => x.config.resource_id.endsWith(`/\${${service.address}.name}`))!;
      expect(t.config).toMatchObject({ min_capacity: 0, max_capacity: config.workers[w].maxTasks, scalable_dimension: 'ecs:service:DesiredCount' });
      const mine = policies.filter((p) => p.config.name.startsWith(workerName(w)));
      const alarmOf = (policy: Block) => alarms.find((a) => a.config.alarm_actions.includes(`\${${policy.address}.arn}`))!;

      const out = mine.find((p) => p.config.name.endsWith('scale-out'))!;
      expect(out.config.policy_type).toBe('StepScaling');
      const outSteps = out.config.step_scaling_policy_configuration.step_adjustment;
      expect(out.config.step_scaling_policy_configuration.adjustment_type).toBe('ChangeInCapacity');
      expect(outSteps[0]).toMatchObject({ metric_interval_lower_bound: '0', scaling_adjustment: 1 });
      expect(outSteps.length).toBeGreaterThan(1);
      // Every queue the worker consumes counts, summed by metric math (doc-generation: doc-jobs + batch-doc-jobs).
      const stems = WORKER_ACCESS[w].queues.map((q) => QUEUES[q]);
      const queriesOf = (alarm: Block, metricName: string) => alarm.config.metric_query.filter((q: any) => q.metric?.metric_name === metricName);
      const queueOf = (q: any) => stems.find((stem) => new RegExp(`sqs_queue${stem}_queue_[A-Z0-9]+name`).test(q.metric.dimensions.QueueName));
      const backlog = alarmOf(out);
      expect(backlog.config).toMatchObject({ comparison_operator: 'GreaterThanThreshold', threshold: 0 });
      const visible = queriesOf(backlog, 'ApproximateNumberOfMessagesVisible');
      expect(visible.map(queueOf)).toEqual(stems);
      expect(backlog.config.metric_query.find((q: any) => q.return_data).expression).toBe(visible.map((q: any) => q.id).join(' + '));

      const scaleIn = mine.find((p) => p.config.name.endsWith('scale-in'))!;
      expect(scaleIn.config.step_scaling_policy_configuration).toMatchObject({
        adjustment_type: 'ExactCapacity',
        step_adjustment: [{ metric_interval_upper_bound: '0', scaling_adjustment: 0 }],
      });
      const idle = alarmOf(scaleIn);
      const idleVisible = queriesOf(idle, 'ApproximateNumberOfMessagesVisible');
      const idleInFlight = queriesOf(idle, 'ApproximateNumberOfMessagesNotVisible');
      expect([idleVisible.map(queueOf), idleInFlight.map(queueOf)]).toEqual([stems, stems]);
      expect(idle.config.metric_query.find((q: any) => q.return_data).expression).toBe([...idleVisible, ...idleInFlight].map((q: any) => q.id).join(' + '));
      expect(idle.config).toMatchObject({ comparison_operator: 'LessThanThreshold', threshold: 0.5 });
    }
  });

  test('the doc worker wakes every sweepWakeEveryHours for WAKE_MINUTES (its sweeper runs at start); the batch worker never wakes without messages', () => {
    const targets = resources(stack, 'aws_appautoscaling_target');
    const actions = resources(stack, 'aws_appautoscaling_scheduled_action');
    const targetOf = (w: string) => targets.find((x) => x.config.resource_id.endsWith(`/\${${services.find((s) => s.config.name === workerName(w))!.address}.name}`))!;
    const actionsOf = (w: string) => actions.filter((a) => a.config.resource_id === `\${${targetOf(w).address}.resource_id}`);
    const every = config.workers['doc-generation'].sweepWakeEveryHours;
    const max = String(config.workers['doc-generation'].maxTasks);
    expect(24 % every).toBe(0);
    expect(actionsOf('doc-generation').map((a) => [a.config.schedule, a.config.scalable_target_action, a.config.depends_on]).sort()).toEqual([
      [`cron(0 0/${every} * * ? *)`, { min_capacity: '1', max_capacity: max }, [targetOf('doc-generation').address]],
      [`cron(${WAKE_MINUTES} 0/${every} * * ? *)`, { min_capacity: '0', max_capacity: max }, [targetOf('doc-generation').address]],
    ]);
    expect(actionsOf('b2b-batch')).toEqual([]);
  });

  test('worker task roles consume their own queue only and hold only the grants of their access matrix', () => {
    for (const w of Object.keys(WORKER_ACCESS) as Array<keyof typeof WORKER_ACCESS>) {
      const role = target(taskDef(workerName(w)).config.task_role_arn);
      const consumed = allowed(role, 'sqs:ReceiveMessage');
      expect(consumed).toHaveLength(WORKER_ACCESS[w].queues.length);
      for (const [i, q] of WORKER_ACCESS[w].queues.entries()) expect(consumed[i]).toMatch(new RegExp(`sqs_queue${QUEUES[q]}_queue_`));
      expect(allowed(role, 'sqs:SendMessage')).toHaveLength(WORKER_ACCESS[w].sendTo.length);
      expect(allowed(role, 's3:GetObject')).toHaveLength(WORKER_ACCESS[w].readObjects.length + WORKER_ACCESS[w].readWriteObjects.length);
      expect(allowed(role, 's3:PutObject')).toHaveLength(WORKER_ACCESS[w].writeObjects.length + WORKER_ACCESS[w].readWriteObjects.length);
      const exec = target(taskDef(workerName(w)).config.execution_role_arn);
      expect(allowed(exec, 'ecr:BatchGetImage')).toEqual([expect.stringMatching(new RegExp(`ecr-${w}_repository_[A-Z0-9]+\\.arn`))]);
    }
  });

  test('the two workers alone list a bucket: the assets bucket, under batches/ only, so a missing batch source or rejected-rows report is NoSuchKey', () => {
    const listing = roles
      .map((role) => ({ role: role.config.name, statements: statementsOf(role).filter((s) => [].concat(s.Action).includes('s3:ListBucket' as never)) }))
      .filter((r) => r.statements.length > 0);
    const listsBatches = (worker: string) => ({
      role: `${workerName(worker)}-task`,
      statements: [
        {
          Sid: 'ListPrefixes',
          Effect: 'Allow',
          Action: ['s3:ListBucket'],
          Resource: [expect.stringMatching(/aws_s3_bucketassets_bucket_[A-Z0-9]+arn\}$/)],
          Condition: { StringLike: { 's3:prefix': ['batches/*'] } },
        },
      ],
    });
    expect(listing.sort((a, b) => a.role.localeCompare(b.role))).toEqual([listsBatches('b2b-batch'), listsBatches('doc-generation')]);
  });

  test('each role may do to objects only what its code does: read (or presign) what it reads, write what it writes', () => {
    const bucketOf = (arn: string) => arn.replace(/^\$\{[^}]*aws_s3_bucket(reports|assets)_bucket_[A-Z0-9]+arn\}/, '$1');
    const list = (v: string | string[]): string[] => ([] as string[]).concat(v);
    const objectActions = (role: Block) =>
      statementsOf(role)
        .flatMap((s) =>
          list(s.Action)
            .filter((a) => a.startsWith('s3:'))
            .flatMap((a) => list(s.Resource).map((r) => `${s.Effect === 'Deny' ? 'Deny ' : ''}${a} ${bucketOf(r)}`)),
        )
        .sort();
    const roleOf = (name: string) => roles.find((r) => r.config.name === `${prefix}-${name}`)!;
    // A batch's file at the depth of batches/<clientId>/<batchId>/, each id (and a manifest's completion) a UUID.
    const UUID = '????????-????-????-????-????????????';
    const batchFile = (name: string) => `assets/batches/${UUID}/${UUID}/${name}`;
    // IAM's ? matches / too: each role with batch files is refused every key of more folders below batches/.
    const deeper = ['Deny s3:GetObject assets/batches/*/*/*/*', 'Deny s3:PutObject assets/batches/*/*/*/*'];
    const granted = Object.fromEntries(['gateway-b2c', 'gateway-b2b', ...INTERNAL, 'doc-generation-task', 'b2b-batch-task'].map((n) => [n, objectActions(roleOf(n))]));
    expect(granted).toEqual({
      // The document links it presigns.
      'gateway-b2c': ['s3:GetObject reports/*'],
      // Document and manifest links (presigned), and the batch sources it stores: no other batch file.
      'gateway-b2b': [...deeper, `s3:GetObject ${batchFile(`manifest-${UUID}.json`)}`, 's3:GetObject reports/*', `s3:PutObject ${batchFile('source.json')}`],
      'core-llm': [],
      theme: [],
      order: [],
      client: [],
      // Uploads documents and never reads one; completing a batch reads its rejected-rows report and writes the manifest.
      'doc-generation-task': [...deeper, `s3:GetObject ${batchFile('rejected-rows.json')}`, 's3:ListBucket assets', `s3:PutObject ${batchFile(`manifest-${UUID}.json`)}`, 's3:PutObject reports/*'],
      // Reads the batch source and the rejected-rows report, writes that report and the manifest.
      'b2b-batch-task': [
        ...deeper,
        `s3:GetObject ${batchFile('rejected-rows.json')}`,
        `s3:GetObject ${batchFile('source.json')}`,
        's3:ListBucket assets',
        `s3:PutObject ${batchFile(`manifest-${UUID}.json`)}`,
        `s3:PutObject ${batchFile('rejected-rows.json')}`,
      ],
    });
  });

  test('each role may do to queues only what its code does: senders send, consumers alone read a queue’s attributes', () => {
    const queueOf = (arn: string) => arn.replace(/^\$\{[^}]*aws_sqs_queue([a-z-]+)_queue_[A-Z0-9]+arn\}$/, '$1');
    const list = (v: string | string[]): string[] => ([] as string[]).concat(v);
    const queueActions = (role: Block) =>
      statementsOf(role)
        .flatMap((s) => list(s.Action).filter((a) => a.startsWith('sqs:')).flatMap((a) => list(s.Resource).map((r) => `${a} ${queueOf(r)}`)))
        .sort();
    const roleOf = (name: string) => roles.find((r) => r.config.name === `${prefix}-${name}`)!;
    const consume = (q: string) => ['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes', 'sqs:ReceiveMessage'].map((a) => `${a} ${q}`);
    const granted = Object.fromEntries([...GATEWAYS, ...INTERNAL, 'doc-generation-task', 'b2b-batch-task'].map((n) => [n, queueActions(roleOf(n))]));
    expect(granted).toEqual({
      'gateway-b2c': [],
      'gateway-b2b': [],
      'core-llm': [],
      theme: [],
      order: ['sqs:SendMessage batch-jobs', 'sqs:SendMessage doc-jobs'],
      client: [],
      'doc-generation-task': [...consume('doc-jobs'), ...consume('batch-doc-jobs'), 'sqs:SendMessage doc-jobs', 'sqs:SendMessage batch-doc-jobs'].sort(),
      'b2b-batch-task': [...consume('batch-jobs'), 'sqs:SendMessage batch-doc-jobs'].sort(),
    });
  });

  test('worker environments pass the services’ and the workers’ config loaders', () => {
    for (const w of Object.keys(WORKER_ACCESS) as Array<keyof typeof WORKER_ACCESS>) {
      const vars: Record<string, string> = Object.fromEntries(containerOf(workerName(w)).environment.map((e: any) => [e.name, e.value]));
      const resolved = Object.fromEntries(Object.entries(vars).map(([k, v]) => [k, resolvedForLoader(k, v)]));
      expect(readConfig(resolved).database?.poolMax).toBe(config.database.poolMaxPerWorker);
      expect(readWorkerConfig(resolved).concurrency).toBe(config.workers[w].concurrency);
      expect(readWorkerConfig(resolved).renderSlots).toBe(w === 'doc-generation' ? config.workers['doc-generation'].renderSlots : undefined);
    }
  });

  test('worker and migration images come from their ECR repository at the image_tag variable', () => {
    for (const family of [...Object.keys(WORKER_ACCESS).map(workerName), `${prefix}-db-move`]) {
      const image: string = containerOf(family).image;
      expect(image).toMatch(/^\$\{aws_ecr_repository\.ecr-[a-z0-9-]+_repository_[A-Z0-9]+\.repository_url\}:\$\{var\.image_tag\}$/);
    }
    expect(stack.variable.image_tag.default).toBeUndefined();
    expect(stack.variable.image_tag.validation[0].condition).toContain('!= "latest"');
  });

  test('ECR repositories have lifecycle rules, immutable tags and scan on push', () => {
    const repos = resources(stack, 'aws_ecr_repository');
    expect(repos.map((r) => r.config.name).sort()).toEqual(['b2b-batch', 'doc-generation', 'migration'].map((n) => `${prefix}-${n}`));
    const lifecycles = resources(stack, 'aws_ecr_lifecycle_policy');
    for (const repo of repos) {
      expect(repo.config.image_tag_mutability).toBe('IMMUTABLE');
      expect(repo.config.image_scanning_configuration.scan_on_push).toBe(true);
      expect(repo.config.encryption_configuration).toEqual([{ encryption_type: 'AES256' }]);
      const lifecycle = lifecycles.find((l) => l.config.repository === `\${${repo.address}.name}`)!;
      const rules = JSON.parse(lifecycle.config.policy).rules;
      expect(rules).toEqual([
        expect.objectContaining({ selection: expect.objectContaining({ tagStatus: 'untagged', countNumber: 1, countUnit: 'days' }) }),
        expect.objectContaining({ selection: expect.objectContaining({ tagStatus: 'tagged', countType: 'imageCountMoreThan', countNumber: config.images.keepTagged }) }),
      ]);
    }
  });

  test('reserved concurrency × pool + workers × pool fits under the database connection budget', () => {
    const lambdaConnections = [...fnByService]
      .filter(([service]) => SERVICE_ACCESS[service as keyof typeof SERVICE_ACCESS].database)
      .reduce((sum, [, fn]) => sum + fn.config.reserved_concurrent_executions * Number(fn.config.environment.variables.DB_POOL_MAX), 0);
    const workerConnections = (Object.keys(WORKER_ACCESS) as Array<keyof typeof WORKER_ACCESS>).reduce(
      (sum, w) => sum + config.workers[w].maxTasks * config.database.poolMaxPerWorker,
      0,
    );
    expect(lambdaConnections + workerConnections).toBeLessThanOrEqual(config.database.connectionBudget);
    for (const fn of functions) expect(fn.config.reserved_concurrent_executions).toBeGreaterThan(0);
  });

  test('the migration task definition exists, runs db:move from the migration image with the RDS master credentials injected (db:migrate by override)', () => {
    const family = `${prefix}-db-move`;
    const td = taskDef(family);
    expect(td.config.runtime_platform.cpu_architecture).toBe('ARM64');
    const container = containerOf(family);
    expect(container.command).toEqual(['npm', 'run', 'db:move']);
    expect(container.image).toMatch(/ecr-migration_repository/);
    const env = Object.fromEntries(container.environment.map((e: any) => [e.name, e.value]));
    expect(env).toMatchObject({ PGSSLMODE: 'verify-full', DB_PORT: expect.stringMatching(/port/) });
    const secretArn = container.secrets[0].valueFrom.replace(/:username::$/, '');
    expect(secretArn).toMatch(/master_user_secret/);
    expect(container.secrets).toEqual([
      { name: 'PGUSER', valueFrom: `${secretArn}:username::` },
      { name: 'PGPASSWORD', valueFrom: `${secretArn}:password::` },
    ]);
    expect(allowed(target(td.config.execution_role_arn), 'secretsmanager:GetSecretValue')).toEqual([secretArn]);
    // The task role reads the app login, which db:migrate applies to the role, and nothing else.
    expect(env.DB_SECRET_ARN).toMatch(/secret-db-app/);
    expect(statementsOf(target(td.config.task_role_arn))).toEqual([expect.objectContaining({ Action: ['secretsmanager:GetSecretValue'], Resource: [env.DB_SECRET_ARN] })]);
    expect(services.find((s) => s.config.task_definition.includes(td.address))).toBeUndefined();
  });

  test('every task definition runs on a read-only root filesystem, writing only to its ephemeral scratch volume at /tmp', () => {
    expect(taskDefs.length).toBe(Object.keys(WORKER_ACCESS).length + 1);
    for (const td of taskDefs) {
      const family = td.config.family;
      const containers: any[] = JSON.parse(td.config.container_definitions);
      for (const c of containers) expect({ family, container: c.name, readonly: c.readonlyRootFilesystem }).toEqual({ family, container: c.name, readonly: true });
      // An ephemeral bind mount: no host path, no EFS, gone with the task.
      expect({ family, volume: td.config.volume }).toEqual({ family, volume: [{ name: SCRATCH.volume }] });
      const app = containers.find((c) => c.name === CONTAINER_NAME);
      expect({ family, mounts: app.mountPoints }).toEqual({ family, mounts: [{ sourceVolume: SCRATCH.volume, containerPath: '/tmp', readOnly: false }] });
      // Everything the images write (os.tmpdir(), ~/.npm, ~/.pki, XDG config and cache) resolves under the mount.
      const env = Object.fromEntries(app.environment.map((e: any) => [e.name, e.value]));
      for (const name of ['TMPDIR', 'HOME', 'XDG_CONFIG_HOME', 'XDG_CACHE_HOME']) {
        expect({ family, name, path: env[name] }).toEqual({ family, name, path: expect.stringMatching(/^\/tmp(\/|$)/) });
      }
    }
  });

  test('the scratch volume is made writable for the non-root user before the application starts, and by nothing more', () => {
    for (const td of taskDefs) {
      const containers: any[] = JSON.parse(td.config.container_definitions);
      expect(containers.map((c) => c.name)).toEqual([CONTAINER_NAME, SCRATCH_INIT_CONTAINER]);
      const [app, init] = containers;
      expect(app.dependsOn).toEqual([{ containerName: SCRATCH_INIT_CONTAINER, condition: 'SUCCESS' }]);
      expect(app.user).toBeUndefined();
      expect(init).toMatchObject({ image: app.image, essential: false, user: '0', entryPoint: ['/bin/chmod'], command: ['1777', '/tmp'] });
      expect(init.mountPoints).toEqual(app.mountPoints);
      expect(init.environment).toBeUndefined();
      expect(init.secrets).toBeUndefined();
      expect(init.logConfiguration.options['awslogs-group']).toBe(app.logConfiguration.options['awslogs-group']);
    }
  });

  test('the migration task uses the migration security group (run-task network output)', () => {
    const output = stack.output.migration_run_network.value;
    expect(output.securityGroups).toEqual([expect.stringMatching(/cross-stack-output-aws_security_groupsg-migrationid/)]);
    expectPrivateSubnets(output.subnets);
  });

  test('every function’s errors and the API’s 5xx alarm to the environment topic', () => {
    const alarms = resources(stack, 'aws_cloudwatch_metric_alarm').filter((a) => a.config.namespace !== 'AWS/SQS' && !a.config.metric_query);
    const errors = alarms.filter((a) => a.config.metric_name === 'Errors');
    expect(errors).toHaveLength(functions.length);
    expect(alarms.filter((a) => a.config.metric_name === '5XXError')).toHaveLength(1);
    for (const a of alarms) expect(a.config.alarm_actions).toEqual([expect.stringMatching(/cross-stack-output-aws_sns_topic/)]);
  });
});

/** Source files of one service or worker folder (tests excluded). */
function sourcesOf(dir: string): string {
  const root = path.join(__dirname, '..', '..', dir);
  return fs
    .readdirSync(root, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((f) => fs.readFileSync(path.join(root, f), 'utf8'))
    .join('\n');
}

describe('the access matrix covers what the service and worker code uses', () => {
  const units = [
    ...Object.entries(SERVICE_ACCESS).map(([name, a]) => ({ name, dir: `functions/${name}`, a })),
    ...Object.entries(WORKER_ACCESS).map(([name, a]) => ({ name, dir: `containers/${name}`, a })),
  ];

  test.each(units)('$name', ({ dir, a }) => {
    const code = sourcesOf(dir);
    const called = [...code.matchAll(/\.(?:json|request)(?:<[^(]*>)?\(\s*'([a-z0-9-]+)'/g)].map((m) => m[1]);
    for (const service of new Set(called)) expect(a.invokes).toContain(service);
    // sendDocJob sends each order's job to its own queue (core/queue.ts docJobQueueOf): doc-jobs for an
    // interactive order, and a worker re-sending the jobs it consumes (hand-offs, sweeps) sends to each of their queues.
    if (/\.sendDocJob\(/.test(code)) {
      const consumed = 'queues' in a ? (a.queues as string[]).filter((q) => q === 'docJobs' || q === 'batchDocJobs') : [];
      expect(a.sendTo).toEqual(expect.arrayContaining(['docJobs', ...consumed]));
    }
    if (/\.sendBatchDocJobs\(/.test(code)) expect(a.sendTo).toContain('batchDocJobs');
    if (/\.sendBatchJob\(/.test(code)) expect(a.sendTo).toContain('batchJobs');
    const reachable = [...a.readObjects, ...a.writeObjects, ...a.readWriteObjects].map((o) => o.bucket);
    for (const [, bucket] of code.matchAll(/buckets\.(reports|assets)\b/g)) expect(reachable).toContain(bucket);
    if (/\bruntime\.db\b/.test(code)) expect(a.database).toBe(true);
    if (/\bruntime\.redis\b|\.redis\b/.test(code)) expect(a.cache).toBe(true);
  });
});

/**
 * The storage move in AWS (`migration.storageSource`, the `storageSource` variant): a task of its
 * own that fills the two buckets it may write, never deletes, and gets the old storage's key from
 * Secrets Manager through ECS, not through an override. As committed there is none.
 */
describe.each(envs)('%s-compute, storage-move task (storageSource variant)', (env) => {
  const name = `${env}-compute`;
  const prefix = namePrefix(env);
  const family = `${prefix}-storage-move`;

  test('as committed there is no storage-move task and no source-key secret (migration.storageSource is off)', () => {
    expect(environments[env].migration.storageSource).toBe(false);
    expect(resources(synthesizedStack(name), 'aws_ecs_task_definition').map((t) => t.config.family)).not.toContain(family);
    expect(synthesizedStack(name).output.storage_move_task_family).toBeUndefined();
    expect(resources(synthesizedStack(`${env}-data`), 'aws_secretsmanager_secret').map((s) => s.config.name)).not.toContain(`${prefix}-${SECRET_STEMS.storageSource}`);
  });

  const stack = synthesizedStack(name, 'storageSource');
  const byAddress = new Map<string, Block & { type: string }>(allResources(stack).map((r) => [r.address, r]));
  const target = (expression: string) => byAddress.get(referencedAddress(expression)!)!;
  const statementsOf = (role: Block) =>
    resources(stack, 'aws_iam_role_policy').filter((p) => target(p.config.role).address === role.address).flatMap((p) => parsePolicy(p.config.policy).Statement);
  const td = () => resources(stack, 'aws_ecs_task_definition').find((t) => t.config.family === family)!;
  const container = () => JSON.parse(td().config.container_definitions)[0];

  test('runs storage:move from the migration image at the migration task’s size, as a one-off (no ECS service)', () => {
    expect(td().config).toMatchObject({ cpu: String(environments[env].migrationTask.cpu), memory: String(environments[env].migrationTask.memoryMb) });
    expect(container().command).toEqual(['npm', 'run', 'storage:move']);
    expect(container().image).toMatch(/^\$\{aws_ecr_repository\.ecr-migration_repository_[A-Z0-9]+\.repository_url\}:\$\{var\.image_tag\}$/);
    expect(resources(stack, 'aws_ecs_service').some((s) => s.config.task_definition.includes(td().address))).toBe(false);
    expect(stack.output.storage_move_task_family.value).toBe(`\${${td().address}.family}`);
    expect(Object.keys(stack.output.storage_move_target_buckets.value).sort()).toEqual(['assets', 'reports']);
    // The db-move task, which every deploy runs db:migrate on, is left as committed.
    const committed = resources(synthesizedStack(name), 'aws_ecs_task_definition').find((t) => t.config.family === `${prefix}-db-move`)!;
    expect(resources(stack, 'aws_ecs_task_definition').find((t) => t.config.family === `${prefix}-db-move`)!.config).toEqual(committed.config);
  });

  test('the old storage’s key and the RDS login are injected from Secrets Manager by the execution role; the database URL carries no credentials', () => {
    const secrets: Array<{ name: string; valueFrom: string }> = container().secrets;
    const source = secrets.find((s) => s.name === ENV.storageSourceAccessKeyId)!.valueFrom.replace(/:accessKeyId::$/, '');
    expect(source).toMatch(/secret-storage-source/);
    const master = secrets.find((s) => s.name === 'PGUSER')!.valueFrom.replace(/:username::$/, '');
    expect(master).toMatch(/master_user_secret/);
    expect(secrets).toEqual([
      { name: 'PGUSER', valueFrom: `${master}:username::` },
      { name: 'PGPASSWORD', valueFrom: `${master}:password::` },
      { name: ENV.storageSourceAccessKeyId, valueFrom: `${source}:accessKeyId::` },
      { name: ENV.storageSourceSecretAccessKey, valueFrom: `${source}:secretAccessKey::` },
    ]);
    const exec = statementsOf(target(td().config.execution_role_arn)).filter((s) => [].concat(s.Action).includes('secretsmanager:GetSecretValue' as never));
    expect(exec).toEqual([expect.objectContaining({ Action: ['secretsmanager:GetSecretValue'], Resource: [master, source] })]);
    const vars = Object.fromEntries(container().environment.map((e: any) => [e.name, e.value]));
    expect(vars).toMatchObject({ PGSSLMODE: 'verify-full', [ENV.appEnv]: env });
    expect(vars[ENV.databaseUrl]).toMatch(/^postgres:\/\/\$\{[^@]+dbaddress\}:\$\{[^@]+dbport\}\/docplatform$/);
  });

  test('the task role lists, reads back and writes the reports and assets buckets only, never deletes, and reads no secret', () => {
    const statements = statementsOf(target(td().config.task_role_arn));
    const bucket = (b: string) => expect.stringMatching(new RegExp(`aws_s3_bucket${b}_bucket_[A-Z0-9]+arn\\}$`));
    const objects = (b: string) => expect.stringMatching(new RegExp(`aws_s3_bucket${b}_bucket_[A-Z0-9]+arn\\}/\\*$`));
    expect(statements).toEqual([
      { Sid: 'ListFilledBuckets', Effect: 'Allow', Action: ['s3:ListBucket'], Resource: [bucket('reports'), bucket('assets')] },
      { Sid: 'FillBuckets', Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'], Resource: [objects('reports'), objects('assets')] },
    ]);
  });
});
