import { environments } from '../../stacks/config';
import { PriceTable } from './priceTable';
import { blocks, TfResource } from './terraformInput';
import { TrafficProfile, Volume } from './traffic';

/** A quantity billed at one price of the price table, per month. */
export interface Charge {
  priceKey: string;
  quantity: number;
  what: string;
}

export type Estimate =
  | { status: 'priced'; charges: Charge[]; notes?: string[] }
  | { status: 'free'; reason: string }
  | { status: 'unpriced'; reason: string };

export interface RuleContext {
  prices: PriceTable;
  volume: Volume;
  profile: TrafficProfile;
  /** Every resource of the environment, for references and for sharing traffic between peers. */
  resources: TfResource[];
}

type Rule = (resource: TfResource, ctx: RuleContext) => Estimate;

const DAYS_PER_MONTH = 30.4;
const KB_PER_GB = 1e6;
const BYTES_PER_GB = 1e9;

const str = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
const num = (value: unknown): number | undefined => {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  return undefined;
};

const priced = (charges: Charge[], notes?: string[]): Estimate => ({ status: 'priced', charges, notes });
const unpriced = (reason: string): Estimate => ({ status: 'unpriced', reason });

function nameOf(resource: TfResource, ...attributes: string[]): string {
  for (const attribute of attributes) {
    const value = str(resource.values[attribute]);
    if (value) return value;
  }
  return resource.name;
}

function peers(ctx: RuleContext, type: string): TfResource[] {
  return ctx.resources.filter((r) => r.type === type);
}

function instancesOf(ctx: RuleContext, type: string): number {
  return peers(ctx, type).reduce((sum, r) => sum + r.count, 0);
}

/** Any traffic at all in the profile: the idle column is exactly the no-traffic case. */
function busy(ctx: RuleContext): boolean {
  return ctx.volume.apiRequestsPerMonth + ctx.volume.documentsPerMonth > 0;
}

/** A monthly quantity that only traffic causes, shared equally by every resource of `type`. */
function perInstanceWhenBusy(ctx: RuleContext, monthly: number, type: string): number {
  return busy(ctx) ? monthly / instancesOf(ctx, type) : 0;
}

function referenced(ctx: RuleContext, from: TfResource, attribute: string, type: string): TfResource | undefined {
  const addresses = from.refs[attribute] ?? [];
  return ctx.resources.find((r) => r.stack === from.stack && r.type === type && addresses.includes(r.address));
}

function longestMatch<T extends { match: string }>(entries: T[], name: string): T | undefined {
  return [...entries].sort((a, b) => b.match.length - a.match.length).find((entry) => name.includes(entry.match));
}

function lambdaInvocations(ctx: RuleContext, functionName: string): number {
  const use = longestMatch(ctx.profile.assumptions.lambdas, functionName);
  if (!use) return 0;
  const v = ctx.volume;
  return v.apiRequestsPerMonth * use.perApiRequest + v.documentsPerMonth * use.perDocument + v.batchesPerMonth * use.perBatch;
}

function workerUnits(ctx: RuleContext, drivenBy: 'documents' | 'batches'): number {
  return drivenBy === 'documents' ? ctx.volume.documentsPerMonth : ctx.volume.batchesPerMonth;
}

/** Task-minutes a queue worker runs in a month: the work itself plus the tail after each scale-up. */
export function workerTaskMinutes(ctx: RuleContext, serviceName: string): number {
  const use = longestMatch(ctx.profile.assumptions.workers, serviceName);
  if (!use) return 0;
  const units = workerUnits(ctx, use.drivenBy);
  if (units === 0) return 0;
  return units / use.unitsPerTaskMinute + use.activationsPerMonth * use.tailMinutesPerActivation;
}

/** GB leaving the VPC through NAT: Gemini and Stripe calls, and worker image pulls at each scale-up. */
export function natGbPerMonth(profile: TrafficProfile, volume: Volume): number {
  const a = profile.assumptions;
  const requests = (volume.apiRequestsPerMonth * a.natKbPerApiRequest + volume.documentsPerMonth * a.natKbPerDocument) / KB_PER_GB;
  const units = (w: TrafficProfile['assumptions']['workers'][number]) => (w.drivenBy === 'documents' ? volume.documentsPerMonth : volume.batchesPerMonth);
  const imagePulls = a.workers.reduce((sum, w) => sum + (units(w) > 0 ? w.activationsPerMonth * w.imagePullGb : 0), 0);
  return requests + imagePulls;
}

/** GB of VPC flow log records an environment delivers in a month (one VPC, flow logs on). */
export function flowLogGbPerMonth(profile: TrafficProfile, volume: Volume): number {
  const a = profile.assumptions;
  return (volume.apiRequestsPerMonth * a.flowLogBytesPerApiRequest + volume.documentsPerMonth * a.flowLogBytesPerDocument) / BYTES_PER_GB;
}

function hourly(ctx: RuleContext, priceKey: string, what: string, units = 1): Charge {
  return { priceKey, quantity: units * ctx.prices.hoursPerMonth, what };
}

function publicIpv4(ctx: RuleContext, what: string): Charge {
  return hourly(ctx, 'vpc.publicIpv4.hours', what);
}

const lambdaFunction: Rule = (r, ctx) => {
  const architecture = (r.values.architectures as string[] | undefined)?.[0] ?? 'x86_64';
  if (architecture !== 'arm64' && architecture !== 'x86_64') return unpriced(`architecture ${architecture}`);
  const memoryGb = (num(r.values.memory_size) ?? 128) / 1024;
  const functionName = nameOf(r, 'function_name');
  const invocations = lambdaInvocations(ctx, functionName);
  const use = longestMatch(ctx.profile.assumptions.lambdas, functionName);
  const gbSeconds = invocations * memoryGb * ((use?.avgDurationMs ?? 0) / 1000);
  const notes = use ? undefined : ['no traffic assumption matches this function: traffic priced at 0'];
  return priced(
    [
      { priceKey: `lambda.requests.${architecture}`, quantity: invocations, what: 'invocations' },
      { priceKey: `lambda.gbSeconds.${architecture}`, quantity: gbSeconds, what: `GB-s at ${Math.round(memoryGb * 1024)} MB` },
    ],
    notes,
  );
};

const restApi: Rule = (_r, ctx) =>
  priced([{ priceKey: 'apigateway.rest.requests', quantity: ctx.volume.apiRequestsPerMonth / instancesOf(ctx, 'aws_api_gateway_rest_api'), what: 'API calls' }]);

const httpApi: Rule = (r, ctx) => {
  if (str(r.values.protocol_type) !== 'HTTP') return unpriced(`protocol ${String(r.values.protocol_type)} not priced`);
  return priced([{ priceKey: 'apigateway.http.requests', quantity: ctx.volume.apiRequestsPerMonth / instancesOf(ctx, 'aws_apigatewayv2_api'), what: 'API calls' }]);
};

const apiStage: Rule = (r) =>
  r.values.cache_cluster_enabled === true
    ? unpriced('API cache cluster (hourly by cache size) is not in the price table')
    : { status: 'free', reason: 'stage configuration; throttling and logging settings are free' };

const webAcl: Rule = (r, ctx) => {
  const rules = blocks(r.values.rule);
  const paidGroups = rules
    .map((rule) => str(blocks(blocks(rule.statement)[0]?.managed_rule_group_statement)[0]?.name))
    .filter((name): name is string => !!name && /BotControl|ATP|ACFP|AntiDDoS/.test(name));
  if (paidGroups.length > 0) return unpriced(`paid managed rule groups ${paidGroups.join(', ')} are not in the price table`);
  const inspected = str(r.values.scope) === 'CLOUDFRONT' ? ctx.volume.cdnRequestsPerMonth : ctx.volume.apiRequestsPerMonth;
  return priced([
    { priceKey: 'waf.webAcl', quantity: 1, what: 'web ACL' },
    { priceKey: 'waf.rule', quantity: rules.length, what: 'rules (a managed rule group counts as one)' },
    { priceKey: 'waf.requests', quantity: inspected / instancesOf(ctx, 'aws_wafv2_web_acl'), what: 'requests inspected' },
  ]);
};

const wafRuleGroup: Rule = (r) => {
  const rules = blocks(r.values.rule).length;
  return priced([{ priceKey: 'waf.rule', quantity: rules, what: 'rules in a rule group' }]);
};

const natGateway: Rule = (r, ctx) => {
  const gateways = instancesOf(ctx, 'aws_nat_gateway');
  return priced([
    hourly(ctx, 'vpc.natGateway.hours', 'gateway-hours'),
    { priceKey: 'vpc.natGateway.gb', quantity: natGbPerMonth(ctx.profile, ctx.volume) / gateways, what: 'GB processed (API calls out, image pulls)' },
  ], str(r.values.connectivity_type) === 'private' ? ['private NAT gateway: no public address'] : undefined);
};

const eip: Rule = (_r, ctx) => priced([publicIpv4(ctx, 'public IPv4 address-hours (billed attached or not)')]);

function ec2InstanceCharges(ctx: RuleContext, instanceType: string, rootGb: number, hasPublicIp: boolean): Charge[] | string {
  const key = `ec2.${instanceType}.hours`;
  if (!ctx.prices.has(key)) return `instance type ${instanceType} is not in the price table`;
  const charges: Charge[] = [
    hourly(ctx, key, `${instanceType} hours`),
    { priceKey: 'ec2.ebs.gp3.gbMonth', quantity: rootGb, what: 'GB-month root volume (gp3)' },
  ];
  if (hasPublicIp) charges.push(publicIpv4(ctx, 'public IPv4 address-hours'));
  return charges;
}

function rootVolumeGb(values: Record<string, unknown>): { gb: number; note?: string } {
  const root = blocks(values.root_block_device)[0] ?? blocks(blocks(values.block_device_mappings)[0]?.ebs)[0];
  const gb = num(root?.volume_size);
  return gb === undefined ? { gb: 8, note: 'root volume size not set: 8 GB (the AMI default of Amazon Linux) assumed' } : { gb };
}

const ec2Instance: Rule = (r, ctx) => {
  const template = referenced(ctx, r, 'launch_template', 'aws_launch_template');
  const instanceType = str(r.values.instance_type) ?? str(template?.values.instance_type);
  if (!instanceType) return unpriced('instance_type set neither on the instance nor on a launch template of the stack');
  const subnet = referenced(ctx, r, 'subnet_id', 'aws_subnet');
  const eipAttached = ctx.resources.some((e) => e.type === 'aws_eip' && e.stack === r.stack && (e.refs.instance ?? []).includes(r.address));
  const assigned = r.values.associate_public_ip_address ?? subnet?.values.map_public_ip_on_launch;
  const root = rootVolumeGb(blocks(r.values.root_block_device).length > 0 || !template ? r.values : template.values);
  const charges = ec2InstanceCharges(ctx, instanceType, root.gb, assigned === true && !eipAttached);
  if (typeof charges === 'string') return unpriced(charges);
  const notes = [root.note, r.values.source_dest_check === false ? 'NAT instance: no per-GB processing charge' : undefined].filter((n): n is string => !!n);
  return priced(charges, notes);
};

/**
 * Public IPv4 hours a month of an instance that gives up its launch-time address once booted (the
 * NAT instance, modules/nat-instance.ts): a few minutes per launch, a few launches a month at most.
 */
export const BOOT_ONLY_PUBLIC_IPV4_HOURS = 1;

/** The user data gives up the primary interface's public IPv4 after boot (ModifyNetworkInterfaceAttribute). */
function releasesPublicIpv4AfterBoot(template: TfResource): boolean {
  const userData = str(template.values.user_data);
  if (!userData) return false;
  return Buffer.from(userData, 'base64').toString('utf8').includes('--no-associate-public-ip-address');
}

const autoscalingGroup: Rule = (r, ctx) => {
  if (blocks(r.values.mixed_instances_policy).length > 0) return unpriced('mixed instances policy not priced');
  const template = referenced(ctx, r, 'launch_template', 'aws_launch_template');
  const instanceType = str(template?.values.instance_type);
  if (!template || !instanceType) return unpriced('launch template or its instance_type not found');
  const desired = num(r.values.desired_capacity) ?? num(r.values.min_size) ?? 0;
  const nic = blocks(template.values.network_interfaces)[0];
  const root = rootVolumeGb(template.values);
  const publicIp = nic?.associate_public_ip_address === true || nic?.associate_public_ip_address === 'true';
  const bootOnly = publicIp && releasesPublicIpv4AfterBoot(template);
  const charges = ec2InstanceCharges(ctx, instanceType, root.gb, publicIp && !bootOnly);
  if (typeof charges === 'string') return unpriced(charges);
  if (bootOnly) {
    charges.push({ priceKey: 'vpc.publicIpv4.hours', quantity: BOOT_ONLY_PUBLIC_IPV4_HOURS, what: 'public IPv4 address-hours at boot only (released once booted)' });
  }
  const notes = [root.note, bootOnly ? 'the launch-time public IPv4 is released after boot (user data); the steady address is priced on its aws_eip' : undefined];
  return priced(
    charges.map((c) => ({ ...c, quantity: c.quantity * desired, what: `${c.what} (${desired} instances)` })),
    notes.filter((n): n is string => !!n),
  );
};

const vpcEndpoint: Rule = (r, ctx) => {
  const type = str(r.values.vpc_endpoint_type) ?? 'Gateway';
  if (type === 'Gateway') return { status: 'free', reason: 'gateway endpoints (S3, DynamoDB) are free' };
  if (type !== 'Interface') return unpriced(`${type} endpoints are not in the price table`);
  const subnets = Array.isArray(r.values.subnet_ids) ? r.values.subnet_ids.length : undefined;
  const azs = subnets ?? 2;
  return priced(
    [hourly(ctx, 'vpc.interfaceEndpoint.hours', `endpoint-hours in ${azs} AZs`, azs)],
    subnets === undefined ? ['subnet_ids not a literal list: 2 AZs assumed'] : undefined,
  );
};

const dbInstance: Rule = (r, ctx) => {
  const instanceClass = str(r.values.instance_class);
  const multiAz = r.values.multi_az === true;
  const deployment = multiAz ? 'multiAz' : 'singleAz';
  const hoursKey = `rds.${instanceClass}.${deployment}.hours`;
  if (!instanceClass || !ctx.prices.has(hoursKey)) return unpriced(`instance class ${instanceClass ?? '(not literal)'} is not in the price table`);
  const storageType = str(r.values.storage_type) ?? 'gp2';
  if (storageType !== 'gp3' && storageType !== 'gp2') return unpriced(`storage type ${storageType} is not in the price table`);
  const storageGb = num(r.values.allocated_storage) ?? 20;
  const notes = ['automated backups up to the provisioned storage size are free'];
  if (storageType === 'gp2') notes.push('gp2 priced at the gp3 rate');
  const charges: Charge[] = [
    hourly(ctx, hoursKey, `${instanceClass} ${multiAz ? 'Multi-AZ' : 'Single-AZ'} hours`),
    { priceKey: `rds.gp3.${deployment}.gbMonth`, quantity: storageGb, what: `GB-month ${storageType}` },
  ];
  if (r.values.manage_master_user_password === true) charges.push({ priceKey: 'secretsmanager.secret', quantity: 1, what: 'master password secret created by RDS' });
  return priced(charges, notes);
};

/** Seconds in a month of the price table's hours. */
const secondsPerMonth = (ctx: RuleContext): number => ctx.prices.hoursPerMonth * 3600;

/**
 * Share of the month an Aurora Serverless v2 instance at 0 ACU is awake: it pauses after
 * `seconds_until_auto_pause` without a connection. With the database's requests (API calls and
 * documents) arriving at random at rate λ, a quiet stretch that long begins with probability
 * e^(-λ·T): awake ≈ 1 - e^(-λ·T). No traffic: paused all month; launch (a request every ~9 s,
 * T = 300 s): awake all month.
 */
export function auroraAwakeShare(ctx: RuleContext, secondsUntilAutoPause: number): number {
  const rate = (ctx.volume.apiRequestsPerMonth + ctx.volume.documentsPerMonth) / secondsPerMonth(ctx);
  return 1 - Math.exp(-rate * secondsUntilAutoPause);
}

/** An Aurora Serverless v2 instance (db.serverless): ACU-hours, between its cluster's minimum and the traffic's need. */
const dbClusterInstance: Rule = (r, ctx) => {
  if (str(r.values.instance_class) !== 'db.serverless') return unpriced(`instance class ${str(r.values.instance_class) ?? '(not literal)'}: only db.serverless is in the price table`);
  const cluster = referenced(ctx, r, 'cluster_identifier', 'aws_rds_cluster');
  const scaling = blocks(cluster?.values.serverlessv2_scaling_configuration)[0];
  const minAcu = num(scaling?.min_capacity);
  if (minAcu === undefined) return unpriced('the cluster and its serverlessv2_scaling_configuration are not literal');
  const maxAcu = num(scaling?.max_capacity) ?? minAcu;
  const awakeAcu = Math.min(maxAcu, Math.max(minAcu, ctx.profile.assumptions.auroraAcuWhileAwake));
  if (minAcu > 0) {
    const acu = busy(ctx) ? awakeAcu : minAcu;
    return priced([hourly(ctx, 'aurora.serverlessV2.acuHours', `ACU-hours at ${acu} ACU (never below its ${minAcu} ACU minimum)`, acu)]);
  }
  // AWS: a cluster with logical replication enabled keeps its writer (and tiers 0-1) from pausing.
  const group = cluster && referenced(ctx, cluster, 'db_cluster_parameter_group_name', 'aws_rds_cluster_parameter_group');
  if (blocks(group?.values.parameter).some((p) => str(p.name) === 'rds.logical_replication' && str(p.value) === '1')) {
    return priced([hourly(ctx, 'aurora.serverlessV2.acuHours', `ACU-hours at ${awakeAcu} ACU all month (0 ACU, but logical replication keeps it from pausing)`, awakeAcu)]);
  }
  const pauseAfter = num(scaling?.seconds_until_auto_pause) ?? 300;
  const awake = auroraAwakeShare(ctx, pauseAfter);
  return priced(
    [hourly(ctx, 'aurora.serverlessV2.acuHours', `ACU-hours at ${awakeAcu} ACU while awake (${Math.round(awake * 1000) / 10} % of the month; paused after ${pauseAfter} s idle)`, awakeAcu * awake)],
    ['0 ACU: paused, and not billed, while nothing connects (the workers scale from zero, and their sweeper with them)'],
  );
};

/** The Aurora cluster itself: storage it uses, its I/O requests, the master secret RDS keeps. */
const dbCluster: Rule = (r, ctx) => {
  if (str(r.values.engine) !== 'aurora-postgresql') return unpriced(`engine ${str(r.values.engine) ?? '(not literal)'} not priced`);
  if (str(r.values.storage_type) === 'aurora-iopt1') return unpriced('Aurora I/O-Optimized is not in the price table');
  const a = ctx.profile.assumptions;
  const io = ctx.volume.apiRequestsPerMonth * a.auroraIoPerApiRequest + ctx.volume.documentsPerMonth * a.auroraIoPerDocument;
  const charges: Charge[] = [
    { priceKey: 'aurora.storage.gbMonth', quantity: ctx.profile.baseline.auroraStoredGb, what: 'GB-month of cluster storage used' },
    { priceKey: 'aurora.io.millionRequests', quantity: io / 1e6, what: 'million I/O requests' },
  ];
  if (r.values.manage_master_user_password === true) charges.push({ priceKey: 'secretsmanager.secret', quantity: 1, what: 'master password secret created by RDS' });
  return priced(charges, ['automated backups up to the size of the cluster storage are free']);
};

const dbProxy: Rule = (_r, ctx) => priced([hourly(ctx, 'rds.proxy.vcpuHours', 'vCPU-hours (2 vCPU minimum of db.t4g.micro)', 2)]);

const serverlessCache: Rule = (r, ctx) => {
  const engine = str(r.values.engine);
  const family = engine === 'valkey' ? 'valkey' : engine === 'redis' || engine === 'memcached' ? 'redis' : undefined;
  if (!family) return unpriced(`engine ${engine ?? '(not literal)'} not priced`);
  const minimumGb = family === 'valkey' ? 0.1 : 1;
  const limit = num(blocks(blocks(r.values.cache_usage_limits)[0]?.data_storage)[0]?.maximum);
  const wanted = busy(ctx) ? Math.max(minimumGb, ctx.profile.assumptions.cacheStoredGb) : minimumGb;
  const storedGb = limit === undefined ? wanted : Math.max(minimumGb, Math.min(wanted, limit));
  const a = ctx.profile.assumptions;
  const ecpu = ctx.volume.apiRequestsPerMonth * a.cacheEcpuPerApiRequest + ctx.volume.documentsPerMonth * a.cacheEcpuPerDocument;
  return priced(
    [
      hourly(ctx, `elasticache.serverless.${family}.gbHours`, `GB-hours at ${storedGb} GB (minimum ${minimumGb} GB for ${engine})`, storedGb),
      { priceKey: `elasticache.serverless.${family}.ecpu`, quantity: ecpu, what: 'ECPUs' },
    ],
    engine === 'memcached' ? ['memcached priced at the Redis OSS rate'] : undefined,
  );
};

function capacityShares(service: TfResource, ctx: RuleContext): { spot: number; onDemand: number } | string {
  const own = blocks(service.values.capacity_provider_strategy);
  const clusterDefault = peers(ctx, 'aws_ecs_cluster_capacity_providers').filter((c) => c.stack === service.stack)
    .flatMap((c) => blocks(c.values.default_capacity_provider_strategy));
  const strategy = own.length > 0 ? own : clusterDefault;
  if (strategy.length === 0) {
    const launchType = str(service.values.launch_type) ?? 'FARGATE';
    return launchType === 'FARGATE' ? { spot: 0, onDemand: 1 } : `launch type ${launchType} not priced`;
  }
  let spot = 0;
  let onDemand = 0;
  for (const entry of strategy) {
    const weight = num(entry.weight) ?? 0;
    if (entry.capacity_provider === 'FARGATE_SPOT') spot += weight;
    else if (entry.capacity_provider === 'FARGATE') onDemand += weight;
    else return `capacity provider ${String(entry.capacity_provider)} not priced`;
  }
  const total = spot + onDemand;
  return total === 0 ? { spot: 0, onDemand: 1 } : { spot: spot / total, onDemand: onDemand / total };
}

/** A scheduled action of a wake (modules/spot-queue-worker.ts scheduleWake): at minute M of every H hours from 00:00. */
const WAKE_SCHEDULE = /^cron\((\d+) 0\/(\d+) \* \* \? \*\)$/;

/**
 * Task-hours a month of a service's scheduled wakes: its scaling target's actions, the minimum
 * raised to N then back to 0. The tasks run until the idle alarm's next scale-in, about a minute
 * after the second action. A service without them: 0; actions of another shape: why unpriced.
 */
function scheduledWakeTaskHours(r: TfResource, ctx: RuleContext): number | string {
  const targets = ctx.resources.filter((t) => t.stack === r.stack && t.type === 'aws_appautoscaling_target' && (t.refs.resource_id ?? []).includes(r.address));
  const actions = ctx.resources.filter(
    (a) => a.stack === r.stack && a.type === 'aws_appautoscaling_scheduled_action' && targets.some((t) => (a.refs.resource_id ?? []).includes(t.address)),
  );
  if (actions.length === 0) return 0;
  const parsed = actions.map((a) => {
    const m = WAKE_SCHEDULE.exec(str(a.values.schedule) ?? '');
    const minCapacity = num(blocks(a.values.scalable_target_action)[0]?.min_capacity);
    return m && minCapacity !== undefined ? { minute: Number(m[1]), everyHours: Number(m[2]), minCapacity } : undefined;
  });
  const start = parsed.find((p) => p && p.minCapacity > 0);
  const end = parsed.find((p) => p && p.minCapacity === 0);
  if (actions.length !== 2 || !start || !end || start.everyHours !== end.everyHours || end.minute <= start.minute) {
    return 'scheduled actions not in the wake shape (cron(M 0/H * * ? *): the minimum raised, then back to 0)';
  }
  const wakesPerMonth = (DAYS_PER_MONTH * 24) / start.everyHours;
  return (wakesPerMonth * start.minCapacity * (end.minute - start.minute + 1)) / 60;
}

const ecsService: Rule = (r, ctx) => {
  const taskDefinition = referenced(ctx, r, 'task_definition', 'aws_ecs_task_definition');
  if (!taskDefinition) return unpriced('its task definition is not in the same stack');
  const vcpu = (num(taskDefinition.values.cpu) ?? NaN) / 1024;
  const memoryGb = (num(taskDefinition.values.memory) ?? NaN) / 1024;
  if (!Number.isFinite(vcpu) || !Number.isFinite(memoryGb)) return unpriced('task cpu/memory not literal');
  const cpuArchitecture = str(blocks(taskDefinition.values.runtime_platform)[0]?.cpu_architecture) ?? 'X86_64';
  const architecture = cpuArchitecture === 'ARM64' ? 'arm64' : 'x86_64';
  const shares = capacityShares(r, ctx);
  if (typeof shares === 'string') return unpriced(shares);
  const serviceName = nameOf(r, 'name');
  const alwaysOnHours = (num(r.values.desired_count) ?? 0) * ctx.prices.hoursPerMonth;
  const wakeHours = scheduledWakeTaskHours(r, ctx);
  if (typeof wakeHours === 'string') return unpriced(wakeHours);
  const taskHours = alwaysOnHours + wakeHours + workerTaskMinutes(ctx, serviceName) / 60;
  const charges: Charge[] = [];
  for (const [capacity, share] of [['spot', shares.spot], ['onDemand', shares.onDemand]] as const) {
    if (share === 0) continue;
    const label = `${capacity === 'spot' ? 'Fargate Spot' : 'Fargate on-demand'} ${cpuArchitecture}`;
    charges.push(
      { priceKey: `fargate.${architecture}.${capacity}.vcpuHours`, quantity: taskHours * share * vcpu, what: `${label} vCPU-hours (${vcpu} vCPU per task)` },
      { priceKey: `fargate.${architecture}.${capacity}.gbHours`, quantity: taskHours * share * memoryGb, what: `${label} GB-hours (${memoryGb} GB per task)` },
    );
  }
  const notes = [alwaysOnHours === 0 ? 'desired count 0: scales from zero on queue depth' : `desired count ${num(r.values.desired_count)} runs all month`];
  if (wakeHours > 0) notes.push(`scheduled wakes: ${wakeHours.toFixed(1)} task-hours a month whatever the traffic`);
  if (!longestMatch(ctx.profile.assumptions.workers, serviceName)) notes.push('no worker assumption matches this service: traffic priced at 0');
  return priced(charges, notes);
};

const ecsCluster: Rule = (r) => {
  const insights = blocks(r.values.setting).find((s) => s.name === 'containerInsights');
  if (insights && insights.value !== 'disabled') return unpriced('Container Insights metrics are billed per metric and are not in the price table');
  return { status: 'free', reason: 'ECS clusters are free (Fargate tasks are priced on the services)' };
};

const sqsQueue: Rule = (r, ctx) => {
  const queueName = nameOf(r, 'name', 'name_prefix');
  const a = ctx.profile.assumptions;
  if (/dlq|dead/i.test(queueName)) return priced([{ priceKey: 'sqs.standard.requests', quantity: 0, what: 'dead-letter queue: only failed messages' }]);
  // The longest queue name the queue's own name ends with: `batch-doc-jobs` is not `doc-jobs`.
  const consumed = a.workers
    .flatMap((w) => w.queues.map((queue, rank) => ({ worker: w, queue, rank })))
    .filter((c) => queueName.endsWith(`-${c.queue}`) || queueName === c.queue)
    .sort((x, y) => y.queue.length - x.queue.length)[0];
  if (!consumed) return priced([{ priceKey: 'sqs.standard.requests', quantity: 0, what: 'requests' }], ['no worker consumes this queue in the traffic profile']);
  const { worker } = consumed;
  if (consumed.rank > 0) {
    return priced([{ priceKey: 'sqs.standard.requests', quantity: 0, what: 'requests' }], [`its messages are priced on ${worker.queues[0]}, the first queue of ${worker.match}`]);
  }
  const messages = workerUnits(ctx, worker.drivenBy);
  const services = peers(ctx, 'aws_ecs_service').filter((s) => nameOf(s, 'name').includes(worker.match));
  const taskMinutes = services.length > 0 ? workerTaskMinutes(ctx, nameOf(services[0], 'name')) : 0;
  const notes = r.values.fifo_queue === true ? ['FIFO queue priced at the standard rate'] : undefined;
  return priced(
    [{ priceKey: 'sqs.standard.requests', quantity: messages * a.sqsRequestsPerMessage + taskMinutes * a.sqsPollsPerTaskMinute, what: 'requests (messages and long polls)' }],
    notes,
  );
};

const flowLog: Rule = (r, ctx) => {
  if (str(r.values.log_destination_type) !== 's3') return unpriced('flow logs to CloudWatch Logs or Firehose are not priced here');
  if (str(blocks(r.values.destination_options)[0]?.file_format) === 'parquet') return unpriced('Parquet conversion of flow logs is not in the price table');
  const gb = flowLogGbPerMonth(ctx.profile, ctx.volume) / instancesOf(ctx, 'aws_flow_log');
  return priced([{ priceKey: 'vpc.flowLogs.s3.gb', quantity: gb, what: 'GB of flow log records delivered to S3' }], ['storage and PUTs are priced on the bucket']);
};

/** Days the objects of a bucket live, from the expiration of its lifecycle rules (undefined: never expire). */
function expirationDays(ctx: RuleContext, bucket: TfResource): number | undefined {
  const lifecycle = ctx.resources.find((l) => l.type === 'aws_s3_bucket_lifecycle_configuration' && l.stack === bucket.stack && (l.refs.bucket ?? []).includes(bucket.address));
  const days = blocks(lifecycle?.values.rule).map((rule) => num(blocks(rule.expiration)[0]?.days)).filter((d): d is number => d !== undefined);
  return days.length > 0 ? Math.min(...days) : undefined;
}

const s3Bucket: Rule = (r, ctx) => {
  const bucketName = nameOf(r, 'bucket', 'bucket_prefix');
  const a = ctx.profile.assumptions;
  const v = ctx.volume;
  const baselineKey = Object.keys(ctx.profile.baseline.s3StoredGb).find((key) => bucketName.includes(key));
  let storedGb = baselineKey ? ctx.profile.baseline.s3StoredGb[baselineKey] : 0;
  let puts = 0;
  let gets = 0;
  const flowLogs = ctx.resources.filter((f) => f.type === 'aws_flow_log' && f.stack === r.stack && (f.refs.log_destination ?? []).includes(r.address));
  if (flowLogs.length > 0 && busy(ctx)) {
    const keptDays = Math.min(expirationDays(ctx, r) ?? a.neverExpireHorizonDays, a.neverExpireHorizonDays);
    const deliveredGb = (flowLogGbPerMonth(ctx.profile, v) * flowLogs.length) / instancesOf(ctx, 'aws_flow_log');
    storedGb += (deliveredGb / DAYS_PER_MONTH) * keptDays * a.logCompressionRatio;
    puts += a.flowLogFilesPerMonth * flowLogs.length;
  }
  if (bucketName.includes(a.documentsBucketMatch)) {
    storedGb += (v.documentsPerMonth * a.documentKb * a.documentRetentionMonths) / KB_PER_GB;
    puts += v.documentsPerMonth + v.batchesPerMonth * 2;
    gets += v.documentsPerMonth * a.downloadsPerDocument;
  }
  if (a.frontendBucketMatch.some((m) => bucketName.includes(m))) gets += v.cdnRequestsPerMonth * (1 - a.cdnCacheHitRatio);
  return priced([
    { priceKey: 's3.standard.gbMonth', quantity: storedGb, what: 'GB stored' },
    { priceKey: 's3.requests.put', quantity: puts, what: 'PUT requests' },
    { priceKey: 's3.requests.get', quantity: gets, what: 'GET requests' },
  ]);
};

const cloudfrontDistribution: Rule = (_r, ctx) => {
  const distributions = instancesOf(ctx, 'aws_cloudfront_distribution');
  return priced([
    { priceKey: 'cloudfront.requests.https.europe', quantity: ctx.volume.cdnRequestsPerMonth / distributions, what: 'HTTPS requests' },
    { priceKey: 'cloudfront.dataTransfer.europe.gb', quantity: ctx.volume.cdnGbServedPerMonth / distributions, what: 'GB served' },
  ], ['no fixed monthly fee']);
};

const cloudfrontFunction: Rule = (_r, ctx) =>
  priced([{ priceKey: 'cloudfront.functions.invocations', quantity: ctx.volume.cdnRequestsPerMonth / instancesOf(ctx, 'aws_cloudfront_function'), what: 'viewer invocations' }]);

/** The edge's store: the /api/* function reads the origin secret once per API request it forwards. */
const keyValueStore: Rule = (_r, ctx) =>
  priced(
    [{ priceKey: 'cloudfront.kvs.reads', quantity: ctx.volume.apiRequestsPerMonth / instancesOf(ctx, 'aws_cloudfront_key_value_store'), what: 'reads (one per API request through CloudFront)' }],
    ['no storage or monthly fee'],
  );

const secret: Rule = (_r, ctx) =>
  priced([
    { priceKey: 'secretsmanager.secret', quantity: 1, what: 'secret' },
    {
      priceKey: 'secretsmanager.apiCalls',
      quantity: perInstanceWhenBusy(ctx, ctx.profile.assumptions.secretsManagerCallsPerMonth, 'aws_secretsmanager_secret'),
      what: 'GetSecretValue calls',
    },
  ]);

function logIngestBytes(ctx: RuleContext, groupName: string): number {
  const a = ctx.profile.assumptions;
  const lambda = longestMatch(a.lambdas, groupName);
  if (lambda && groupName.includes('lambda')) return lambdaInvocations(ctx, groupName) * a.logBytesPerInvocation;
  const worker = longestMatch(a.workers, groupName);
  if (worker) return workerUnits(ctx, worker.drivenBy) * (worker.drivenBy === 'documents' ? a.logBytesPerDocument : a.logBytesPerBatch);
  if (lambda) return lambdaInvocations(ctx, groupName) * a.logBytesPerInvocation;
  if (/api|access|gateway/i.test(groupName)) return ctx.volume.apiRequestsPerMonth * a.logBytesPerApiRequest;
  return 0;
}

/** Bytes a WAF log group receives: the blocked share of what the web ACLs logging to it inspect. */
function wafLogBytes(ctx: RuleContext, group: TfResource): number {
  const a = ctx.profile.assumptions;
  const configs = ctx.resources.filter(
    (c) => c.type === 'aws_wafv2_web_acl_logging_configuration' && c.stack === group.stack && (c.refs.log_destination_configs ?? []).includes(group.address),
  );
  return configs.reduce((bytes, c) => {
    const acl = referenced(ctx, c, 'resource_arn', 'aws_wafv2_web_acl');
    if (!acl) return bytes;
    const inspected = (str(acl.values.scope) === 'CLOUDFRONT' ? ctx.volume.cdnRequestsPerMonth : ctx.volume.apiRequestsPerMonth) / instancesOf(ctx, 'aws_wafv2_web_acl');
    return bytes + inspected * a.wafBlockedShare * a.wafLogBytesPerRecord;
  }, 0);
}

const logGroup: Rule = (r, ctx) => {
  const groupName = nameOf(r, 'name', 'name_prefix');
  const a = ctx.profile.assumptions;
  const retention = num(r.values.retention_in_days) ?? 0;
  const keptDays = retention === 0 ? a.neverExpireHorizonDays : Math.min(retention, a.neverExpireHorizonDays);
  const ingestGb = (groupName.startsWith('aws-waf-logs-') ? wafLogBytes(ctx, r) : logIngestBytes(ctx, groupName)) / BYTES_PER_GB;
  const storedGb = (ingestGb / DAYS_PER_MONTH) * keptDays * a.logCompressionRatio;
  return priced(
    [
      { priceKey: 'cloudwatch.logs.ingestGb', quantity: ingestGb, what: 'GB ingested' },
      { priceKey: 'cloudwatch.logs.storageGbMonth', quantity: storedGb, what: `GB stored (${retention === 0 ? `never expires, after ${a.neverExpireHorizonDays} days` : `${retention}-day retention`})` },
    ],
    r.values.log_group_class === 'INFREQUENT_ACCESS' ? ['Infrequent Access class priced at the Standard rate'] : undefined,
  );
};

const metricAlarm: Rule = (r) => {
  const queries = blocks(r.values.metric_query);
  const metrics = queries.length > 0 ? queries.filter((q) => blocks(q.metric).length > 0).length : 1;
  const anomaly = queries.some((q) => /ANOMALY_DETECTION_BAND/.test(String(q.expression ?? '')));
  const period = num(r.values.period) ?? num(blocks(queries.find((q) => blocks(q.metric).length > 0)?.metric)[0]?.period) ?? 60;
  const billed = anomaly ? metrics * 3 : metrics;
  return priced([
    {
      priceKey: period < 60 ? 'cloudwatch.alarm.highResolution' : 'cloudwatch.alarm.standard',
      quantity: billed,
      what: `alarm metrics${anomaly ? ' (anomaly detection bills 3 per metric)' : ''}`,
    },
  ]);
};

const compositeAlarm: Rule = () => priced([{ priceKey: 'cloudwatch.alarm.composite', quantity: 1, what: 'composite alarm' }]);
/** CloudWatch's free dashboards hold up to 50 metrics each (the price table has the count of dashboards). */
export const FREE_DASHBOARD_METRICS = 50;

/** Metric series of a dashboard body, or undefined when it is not literal JSON (a plan leaves it unknown). */
function dashboardSeriesCount(body: unknown): number | undefined {
  if (typeof body !== 'string') return undefined;
  try {
    const widgets = (JSON.parse(body) as { widgets?: Array<{ type?: string; properties?: { metrics?: unknown[] } }> }).widgets ?? [];
    return widgets.filter((w) => w.type === 'metric').reduce((n, w) => n + (w.properties?.metrics?.length ?? 0), 0);
  } catch {
    return undefined;
  }
}

/**
 * A dashboard is free within CloudWatch's always-free allowance (three dashboards of up to 50
 * metrics each, per account) as long as the whole account stays within it: the dashboards of
 * every environment that shares this one's account (stacks/config.ts; an unset accountId counts
 * as shared) must number at most three. Unlike the allowances the report only lists, this one
 * does not depend on what else the account runs: it is used by these dashboards alone.
 */
const dashboard: Rule = (r, ctx) => {
  const allowance = ctx.prices.entry('cloudwatch.dashboard').freeTier;
  const series = dashboardSeriesCount(r.values.dashboard_body);
  const own = environments[environmentOf(r.stack)];
  const sharing = Object.values(environments).filter((e) => e.accountId === own?.accountId).length;
  const inAccount = instancesOf(ctx, 'aws_cloudwatch_dashboard') * Math.max(sharing, 1);
  if (allowance?.kind === 'always-free' && series !== undefined && series <= FREE_DASHBOARD_METRICS && inAccount <= allowance.quantity) {
    return { status: 'free', reason: `within the always-free ${allowance.quantity} dashboards of up to ${FREE_DASHBOARD_METRICS} metrics per account (${series} metrics; ${inAccount} dashboards in the account)` };
  }
  const why = series === undefined ? 'body not literal: metrics unknown' : series > FREE_DASHBOARD_METRICS ? `${series} metrics` : `${inAccount} dashboards in the account`;
  return priced([{ priceKey: 'cloudwatch.dashboard', quantity: 1, what: `dashboard (${why})` }]);
};

/** `dev-compute` → `dev`. */
const environmentOf = (stack: string): string => stack.replace(/-[^-]+$/, '');
const route53Zone: Rule = () => priced([{ priceKey: 'route53.hostedZone', quantity: 1, what: 'hosted zone' }]);

const ecrRepository: Rule = (_r, ctx) =>
  priced([{ priceKey: 'ecr.storage.gbMonth', quantity: ctx.profile.baseline.ecrStoredGbPerRepository, what: 'GB of images kept by the lifecycle rule' }], [
    'pulls from Fargate in the same Region are free',
  ]);

const kmsKey: Rule = (_r, ctx) =>
  priced([
    { priceKey: 'kms.key', quantity: 1, what: 'customer managed key' },
    {
      priceKey: 'kms.requests',
      quantity: perInstanceWhenBusy(ctx, ctx.profile.assumptions.kmsRequestsPerMonth, 'aws_kms_key'),
      what: 'requests',
    },
  ]);

const budgetAction: Rule = () => priced([{ priceKey: 'budgets.actionEnabledBudgetDay', quantity: DAYS_PER_MONTH, what: 'action-enabled budget-days' }]);

const provisionedConcurrency: Rule = () => unpriced('provisioned concurrency is not in the price table');
const elasticacheNodes: Rule = () => unpriced('node-based ElastiCache is not in the price table');

export const RULES: Record<string, Rule> = {
  aws_lambda_function: lambdaFunction,
  aws_lambda_provisioned_concurrency_config: provisionedConcurrency,
  aws_api_gateway_rest_api: restApi,
  aws_api_gateway_stage: apiStage,
  aws_apigatewayv2_api: httpApi,
  aws_wafv2_web_acl: webAcl,
  aws_wafv2_rule_group: wafRuleGroup,
  aws_nat_gateway: natGateway,
  aws_eip: eip,
  aws_instance: ec2Instance,
  aws_autoscaling_group: autoscalingGroup,
  aws_vpc_endpoint: vpcEndpoint,
  aws_flow_log: flowLog,
  aws_db_instance: dbInstance,
  aws_db_proxy: dbProxy,
  aws_rds_cluster: dbCluster,
  aws_rds_cluster_instance: dbClusterInstance,
  aws_elasticache_serverless_cache: serverlessCache,
  aws_elasticache_cluster: elasticacheNodes,
  aws_elasticache_replication_group: elasticacheNodes,
  aws_ecs_service: ecsService,
  aws_ecs_cluster: ecsCluster,
  aws_sqs_queue: sqsQueue,
  aws_s3_bucket: s3Bucket,
  aws_cloudfront_distribution: cloudfrontDistribution,
  aws_cloudfront_function: cloudfrontFunction,
  aws_cloudfront_key_value_store: keyValueStore,
  aws_secretsmanager_secret: secret,
  aws_cloudwatch_log_group: logGroup,
  aws_cloudwatch_metric_alarm: metricAlarm,
  aws_cloudwatch_composite_alarm: compositeAlarm,
  aws_cloudwatch_dashboard: dashboard,
  aws_route53_zone: route53Zone,
  aws_ecr_repository: ecrRepository,
  aws_kms_key: kmsKey,
  aws_budgets_budget_action: budgetAction,
};
