import { UsageError } from '../../core/cli';
import { ENV, namePrefix, SERVICE_NAMES, ServiceName, WORKER_NAMES, WorkerName } from '../../core/contract';
import { blocks, TfResource } from '../cost/terraformInput';

/**
 * The limits of one environment that bound throughput, read from its synthesised Terraform (what
 * would be deployed), not from stacks/config.ts: a knob the stacks ignore would show here.
 */
export interface PlatformLimits {
  env: string;
  api: { rateLimitPerSecond: number; burstLimit: number };
  /** Requests per 5 minutes per client address before the web ACL's rate rule blocks. */
  wafRatePer5MinPerIp?: number;
  functions: Record<ServiceName, { reservedConcurrency: number; timeoutSeconds: number; dbPoolMax: number }>;
  /** `concurrency`: messages in hand per task; `renderSlots`: of those, rendering at once (WORKER_RENDER_SLOTS; as many as it holds when unset). */
  workers: Record<WorkerName, { maxTasks: number; concurrency: number; renderSlots: number; dbPoolMax: number; cpuUnits: number; memoryMb: number; arm64: boolean }>;
  database: { engine: 'rds-instance' | 'aurora-serverless-v2'; instanceClass: string; maxAcu?: number; maxConnections: number; maxConnectionsSource: string };
  cache: { ecpuPerSecond: number };
  gemini: { requestsPerMinute: number; tokensPerMinute: number; interactiveSharePercent: number; batchMaxInFlight: number };
  queues: Record<string, { visibilityTimeoutSeconds: number }>;
}

/** Memory of the RDS classes the configuration may name, GiB (AWS's instance class table). */
const CLASS_MEMORY_GIB: Record<string, number> = {
  'db.t4g.micro': 1,
  'db.t4g.small': 2,
  'db.t4g.medium': 4,
  'db.t4g.large': 8,
  'db.m7g.large': 8,
  'db.r7g.large': 16,
};
/** 1 ACU is about 2 GiB of memory (Aurora Serverless v2 capacity, AWS documentation). */
const GIB_PER_ACU = 2;
/**
 * RDS for PostgreSQL's default max_connections is LEAST(DBInstanceClassMemory / 9531392, 5000),
 * and DBInstanceClassMemory is the class's memory less what the OS and RDS keep: about 0.75 of
 * it on the small classes (db.t4g.micro answers `SHOW max_connections` with about 80-90).
 */
const USABLE_MEMORY_SHARE = 0.75;
const BYTES_PER_CONNECTION = 9_531_392;

export function defaultMaxConnections(memoryGib: number): number {
  return Math.min(5000, Math.floor((memoryGib * 1024 ** 3 * USABLE_MEMORY_SHARE) / BYTES_PER_CONNECTION));
}

/** The synthesised stacks (--out) lack what a limit is read from: bad input, as an output directory without the environment is. */
const unreadable = (message: string): UsageError => new UsageError('--out', message);

type Values = Record<string, unknown>;

function ofType(resources: TfResource[], type: string): TfResource[] {
  return resources.filter((r) => r.type === type);
}

function single(resources: TfResource[], type: string, env: string): TfResource {
  const found = ofType(resources, type);
  if (found.length !== 1) throw unreadable(`${env}: expected one ${type} in the synthesised stacks, found ${found.length}`);
  return found[0];
}

/** A nested block, which cdktf writes as an object or as a list of one. */
const block = (value: unknown): Values => blocks(value)[0] ?? {};

function num(value: unknown, what: string): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isFinite(n)) throw unreadable(`${what}: not a number in the synthesised configuration (${String(value)})`);
  return n;
}

/** The task's `app` container environment, as a name → value map. */
function containerEnvironment(taskDefinition: TfResource): Record<string, string> {
  const raw = taskDefinition.values.container_definitions;
  const containers = (typeof raw === 'string' ? JSON.parse(raw) : raw) as { name: string; environment?: { name: string; value: string }[] }[];
  const app = containers.find((c) => c.name === 'app') ?? containers[0];
  return Object.fromEntries((app.environment ?? []).map((e) => [e.name, e.value]));
}

export function readPlatformLimits(env: string, resources: TfResource[]): PlatformLimits {
  const prefix = namePrefix(env);
  const settings = block(single(resources, 'aws_api_gateway_method_settings', env).values.settings);

  const rateRules = ofType(resources, 'aws_wafv2_web_acl')
    .flatMap((acl) => (acl.values.rule as Values[] | undefined) ?? [])
    .map((rule) => (rule.statement as Values | undefined)?.rate_based_statement as Values | undefined)
    .filter((s): s is Values => s !== undefined);

  const lambdas = ofType(resources, 'aws_lambda_function');
  const functionOf = (service: ServiceName): TfResource => {
    const fn = lambdas.find((l) => l.values.function_name === `${prefix}-${service}`);
    if (!fn) throw unreadable(`${env}: no function ${prefix}-${service} in the synthesised stacks`);
    return fn;
  };
  const variablesOf = (fn: TfResource) => ((fn.values.environment as Values | undefined)?.variables ?? {}) as Record<string, string>;
  const functions = Object.fromEntries(
    SERVICE_NAMES.map((service) => {
      const fn = functionOf(service);
      const variables = variablesOf(fn);
      return [service, {
        reservedConcurrency: num(fn.values.reserved_concurrent_executions, `${service} reserved_concurrent_executions`),
        timeoutSeconds: num(fn.values.timeout, `${service} timeout`),
        dbPoolMax: variables[ENV.dbPoolMax] === undefined ? 0 : num(variables[ENV.dbPoolMax], `${service} ${ENV.dbPoolMax}`),
      }];
    }),
  ) as PlatformLimits['functions'];

  const llmVariables = variablesOf(functionOf('core-llm'));

  const services = ofType(resources, 'aws_ecs_service');
  const targets = ofType(resources, 'aws_appautoscaling_target');
  const taskDefinitions = ofType(resources, 'aws_ecs_task_definition');
  const workers = Object.fromEntries(
    WORKER_NAMES.map((worker) => {
      const task = taskDefinitions.find((t) => t.values.family === `${prefix}-${worker}`);
      const service = services.find((s) => s.values.name === `${prefix}-${worker}`);
      const target = service && targets.find((t) => (t.refs.resource_id ?? []).includes(service.address));
      if (!task || !target) throw unreadable(`${env}: worker ${worker} has no task definition or scaling target in the synthesised stacks`);
      const environment = containerEnvironment(task);
      return [worker, {
        maxTasks: num(target.values.max_capacity, `${worker} max_capacity`),
        concurrency: num(environment[ENV.workerConcurrency] ?? 1, `${worker} ${ENV.workerConcurrency}`),
        renderSlots: num(environment[ENV.workerRenderSlots] ?? environment[ENV.workerConcurrency] ?? 1, `${worker} ${ENV.workerRenderSlots}`),
        dbPoolMax: environment[ENV.dbPoolMax] === undefined ? 0 : num(environment[ENV.dbPoolMax], `${worker} ${ENV.dbPoolMax}`),
        cpuUnits: num(task.values.cpu, `${worker} cpu`),
        memoryMb: num(task.values.memory, `${worker} memory`),
        arm64: (task.values.runtime_platform as Values | undefined)?.cpu_architecture === 'ARM64',
      }];
    }),
  ) as PlatformLimits['workers'];

  const cache = single(resources, 'aws_elasticache_serverless_cache', env);
  const ecpu = block(block(cache.values.cache_usage_limits).ecpu_per_second);
  if (ecpu.maximum === undefined) throw unreadable(`${env}: the serverless cache has no ecpu_per_second limit`);

  return {
    env,
    api: { rateLimitPerSecond: num(settings.throttling_rate_limit, 'API stage throttling_rate_limit'), burstLimit: num(settings.throttling_burst_limit, 'API stage throttling_burst_limit') },
    wafRatePer5MinPerIp: rateRules.length > 0 ? Math.min(...rateRules.map((s) => num(s.limit, 'WAF rate rule limit'))) : undefined,
    functions,
    workers,
    database: readDatabase(env, resources),
    cache: { ecpuPerSecond: num(ecpu.maximum, 'cache ecpu_per_second maximum') },
    gemini: {
      requestsPerMinute: num(llmVariables[ENV.geminiRequestsPerMinute], ENV.geminiRequestsPerMinute),
      tokensPerMinute: num(llmVariables[ENV.geminiTokensPerMinute], ENV.geminiTokensPerMinute),
      interactiveSharePercent: num(llmVariables[ENV.llmInteractiveSharePercent], ENV.llmInteractiveSharePercent),
      batchMaxInFlight: num(llmVariables[ENV.llmBatchMaxInFlight], ENV.llmBatchMaxInFlight),
    },
    queues: Object.fromEntries(
      ofType(resources, 'aws_sqs_queue')
        .filter((q) => !String(q.values.name).endsWith('-dlq'))
        .map((q) => [String(q.values.name).slice(prefix.length + 1), { visibilityTimeoutSeconds: num(q.values.visibility_timeout_seconds ?? 30, 'visibility_timeout_seconds') }]),
    ),
  };
}

/** max_connections as set by the parameter group, or the engine's default for the class or the maximum ACU. */
function readDatabase(env: string, resources: TfResource[]): PlatformLimits['database'] {
  const groups = [...ofType(resources, 'aws_db_parameter_group'), ...ofType(resources, 'aws_rds_cluster_parameter_group')];
  const set = groups.flatMap((g) => ((g.values.parameter as Values[] | undefined) ?? []).filter((p) => p.name === 'max_connections'));
  const explicit = set.length > 0 ? num(set[0].value, 'max_connections') : undefined;
  const instance = ofType(resources, 'aws_db_instance')[0];
  if (instance) {
    const instanceClass = String(instance.values.instance_class);
    const memory = CLASS_MEMORY_GIB[instanceClass];
    if (explicit === undefined && memory === undefined) throw unreadable(`${env}: no memory figure for ${instanceClass} (scripts/capacity/limits.ts CLASS_MEMORY_GIB)`);
    return {
      engine: 'rds-instance',
      instanceClass,
      maxConnections: explicit ?? defaultMaxConnections(memory),
      maxConnectionsSource: explicit === undefined ? `default for ${instanceClass} (${memory} GiB)` : 'parameter group',
    };
  }
  const cluster = ofType(resources, 'aws_rds_cluster')[0];
  if (!cluster) throw unreadable(`${env}: neither an RDS instance nor an Aurora cluster in the synthesised stacks`);
  const scaling = block(cluster.values.serverlessv2_scaling_configuration);
  const maxAcu = num(scaling.max_capacity, 'serverlessv2_scaling_configuration max_capacity');
  return {
    engine: 'aurora-serverless-v2',
    instanceClass: 'db.serverless',
    maxAcu,
    maxConnections: explicit ?? defaultMaxConnections(maxAcu * GIB_PER_ACU),
    maxConnectionsSource: explicit === undefined ? `default for ${maxAcu} ACU maximum (${maxAcu * GIB_PER_ACU} GiB)` : 'cluster parameter group',
  };
}
