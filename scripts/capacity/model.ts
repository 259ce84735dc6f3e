import { QUEUES, ServiceName, SERVICE_NAMES, WorkerName } from '../../core/contract';
import { PriceTable } from '../cost/priceTable';
import { TrafficProfile } from '../cost/traffic';
import { ACCOUNT_API_RPS, ACCOUNT_LAMBDA_CONCURRENCY, CAPACITY_ASSUMPTIONS, DB_RESERVED_CONNECTIONS, SECONDS_PER_MONTH } from './assumptions';
import { PlatformLimits } from './limits';

/** The flows the platform serves, each counted in its own unit. */
export const FLOWS = ['B2C order', 'B2B batch row', 'document render', 'theme list'] as const;
export type Flow = (typeof FLOWS)[number];

/** What one unit of a flow uses of each shared resource. */
interface Usage {
  apiRequests: number;
  invocations: Partial<Record<ServiceName, number>>;
  /** Documents made by the doc-generation workers. */
  documents: number;
  batchRows: number;
  ecpu: number;
  /** Gemini generations, and whether they are batch traffic (the share left by interactive orders). */
  generations: number;
  batchGeneration: boolean;
}

export interface Limit {
  name: string;
  /** Units of the resource per second (requests, invocations, documents, ECPUs, connections…). */
  capacity: number;
  unit: string;
  /** The knob of stacks/config.ts that raises it. */
  knob: string;
  /** Monthly cost of raising it by `step`, and how that figure is made. */
  raise: { step: string; monthlyUsd: number; note: string };
  /** Per client address (the WAF): bounds one client, not the platform. */
  perClient?: boolean;
}

export interface FlowCeiling {
  flow: Flow;
  unit: string;
  perSecond: number;
  perMonth: number;
  limit: string;
  knob: string;
  /** The flow's rate at the profile's peak, and how many times that the ceiling is. */
  peakPerSecond: number;
  headroom: number;
}

export interface LimitLoad {
  limit: Limit;
  /** What the profile's peak asks of it, in its unit per second. */
  demand: number;
  utilisation: number;
  /** Multiple of the profile at which it saturates. */
  breaksAt: number;
}

export interface CapacityReport {
  env: string;
  profile: string;
  flows: FlowCeiling[];
  limits: LimitLoad[];
  /** The first limit to saturate at 10× and 100× the profile (none when it still holds). */
  firstToBreak: { multiple: number; limits: string[] }[];
  checks: { name: string; ok: boolean; detail: string }[];
  assumptions: typeof CAPACITY_ASSUMPTIONS;
}

const A = CAPACITY_ASSUMPTIONS;

/** The profile's entry of a function, matched as the cost model matches it: a substring of its name. */
function lambdaEntry(profile: TrafficProfile, service: ServiceName): TrafficProfile['assumptions']['lambdas'][number] {
  const entry = profile.assumptions.lambdas.find((l) => service.includes(l.match));
  if (!entry) throw new Error(`traffic profile ${profile.name}: no lambdas entry for ${service}`);
  return entry;
}

const durationSeconds = (profile: TrafficProfile, service: ServiceName): number => lambdaEntry(profile, service).avgDurationMs / 1000;

const invocationsPer = (profile: TrafficProfile, service: ServiceName, per: 'perApiRequest' | 'perDocument' | 'perBatch'): number => lambdaEntry(profile, service)[per];

function documentsPerTaskSecond(profile: TrafficProfile, worker: WorkerName): number {
  const entry = profile.assumptions.workers.find((w) => worker.includes(w.match));
  if (!entry) throw new Error(`traffic profile ${profile.name}: no workers entry for ${worker}`);
  return entry.unitsPerTaskMinute / 60;
}

/** Each flow's use of the shared resources, per unit. Function calls per API request and per document are the profile's. */
function flowUsage(profile: TrafficProfile): Record<Flow, Usage> {
  const perApi = (s: ServiceName) => invocationsPer(profile, s, 'perApiRequest');
  const perDoc = (s: ServiceName) => invocationsPer(profile, s, 'perDocument');
  const perBatch = (s: ServiceName) => invocationsPer(profile, s, 'perBatch');
  const ecpuApi = profile.assumptions.cacheEcpuPerApiRequest;
  const ecpuDoc = profile.assumptions.cacheEcpuPerDocument;
  const b2cApi = A.apiRequestsPerB2cOrder.value;
  const rowApi = A.apiRequestsPerBatch.value / A.rowsPerBatch.value;
  const calls = (api: number, docs: number, batches: number) =>
    Object.fromEntries(SERVICE_NAMES.map((s) => [s, api * perApi(s) + docs * perDoc(s) + batches * perBatch(s)]).filter(([, n]) => (n as number) > 0));
  return {
    'B2C order': { apiRequests: b2cApi, invocations: calls(b2cApi, 1, 0), documents: 1, batchRows: 0, ecpu: b2cApi * ecpuApi + ecpuDoc, generations: 1, batchGeneration: false },
    'B2B batch row': {
      apiRequests: rowApi,
      invocations: calls(rowApi, 1, 1 / A.rowsPerBatch.value),
      documents: 1,
      batchRows: 1,
      ecpu: rowApi * ecpuApi + ecpuDoc,
      generations: 1,
      batchGeneration: true,
    },
    'document render': { apiRequests: 0, invocations: calls(0, 1, 0), documents: 1, batchRows: 0, ecpu: ecpuDoc, generations: 1, batchGeneration: false },
    'theme list': { apiRequests: 1, invocations: { 'gateway-b2c': 1, theme: 1 }, documents: 0, batchRows: 0, ecpu: ecpuApi, generations: 0, batchGeneration: false },
  };
}

const FLOW_UNITS: Record<Flow, string> = {
  'B2C order': 'orders',
  'B2B batch row': 'rows',
  'document render': 'documents',
  'theme list': 'requests',
};

/** One more task of a worker running all month on Fargate Spot. */
function taskMonthUsd(prices: PriceTable, worker: PlatformLimits['workers'][WorkerName]): number {
  const arch = worker.arm64 ? 'arm64' : 'x86_64';
  const hourly = (worker.cpuUnits / 1024) * prices.usd(`fargate.${arch}.spot.vcpuHours`) + (worker.memoryMb / 1024) * prices.usd(`fargate.${arch}.spot.gbHours`);
  return hourly * prices.hoursPerMonth;
}

/** How much of a limit one unit of a flow uses (0: the flow does not touch it). */
type Use = (usage: Usage, flow: Flow) => number;

interface ModelLimit extends Limit {
  use: Use;
}

function platformLimits(limits: PlatformLimits, profile: TrafficProfile, prices: PriceTable): ModelLimit[] {
  const generationSeconds = durationSeconds(profile, 'core-llm');
  const doc = limits.workers['doc-generation'];
  const batch = limits.workers['b2b-batch'];
  const shareLeft = 1 - limits.gemini.interactiveSharePercent / 100;
  const proxyMonthUsd = 2 * prices.usd('rds.proxy.vcpuHours') * prices.hoursPerMonth;

  const connectionSecondsPerInvocation = (s: ServiceName) => limits.functions[s].dbPoolMax * durationSeconds(profile, s);
  const docTaskSeconds = 1 / documentsPerTaskSecond(profile, 'doc-generation');
  const list: ModelLimit[] = [
    {
      name: 'API stage throttle',
      capacity: limits.api.rateLimitPerSecond,
      unit: 'requests/s',
      knob: 'api.throttleRateLimit',
      raise: { step: 'x2', monthlyUsd: 0, note: `free (requests are billed per use); the account's regional throttle is ${ACCOUNT_API_RPS} rps` },
      use: (u) => u.apiRequests,
    },
    ...(limits.wafRatePer5MinPerIp === undefined
      ? []
      : [{
          name: 'WAF rate rule (one client address)',
          capacity: limits.wafRatePer5MinPerIp / 300,
          unit: 'requests/s per address',
          knob: 'api.wafRateLimitPer5Min',
          raise: { step: 'x2', monthlyUsd: 0, note: 'free: the rule is billed, not its limit' },
          perClient: true,
          use: (u: Usage) => u.apiRequests,
        }]),
    ...SERVICE_NAMES.map((service): ModelLimit => ({
      name: `${service} reserved concurrency`,
      capacity: limits.functions[service].reservedConcurrency / durationSeconds(profile, service),
      unit: 'invocations/s',
      knob: `lambdas.${service}.reservedConcurrency`,
      raise: { step: 'x2', monthlyUsd: 0, note: `free (billed per use); all reservations must leave 100 of the account's ${ACCOUNT_LAMBDA_CONCURRENCY} unreserved` },
      use: (u) => u.invocations[service] ?? 0,
    })),
    {
      name: 'database connections',
      capacity: limits.database.maxConnections - DB_RESERVED_CONNECTIONS,
      unit: 'connections in use',
      knob: limits.database.engine === 'rds-instance' ? 'database.instanceClass, or an RDS Proxy' : 'database.aurora.maxAcu',
      raise: { step: 'RDS Proxy (pools the functions)', monthlyUsd: proxyMonthUsd, note: `rds.proxy.vcpuHours × 2 vCPU minimum; max_connections ${limits.database.maxConnections} (${limits.database.maxConnectionsSource})` },
      // Connections held at once = arrival rate × time held (Little's law): a function holds its pool for its duration, a worker task its pool for the task-time of a document.
      use: (u) =>
        SERVICE_NAMES.reduce((sum, s) => sum + (u.invocations[s] ?? 0) * connectionSecondsPerInvocation(s), 0) +
        u.documents * docTaskSeconds * doc.dbPoolMax +
        (u.batchRows * batch.dbPoolMax) / (A.batchRowsPerTaskMinute.value / 60),
    },
    {
      name: 'cache ECPU limit',
      capacity: limits.cache.ecpuPerSecond,
      unit: 'ECPU/s',
      knob: 'cache.maxEcpuPerSecond',
      raise: { step: 'x2', monthlyUsd: 0, note: 'free to raise: ECPUs are billed per use' },
      use: (u) => u.ecpu,
    },
    {
      name: 'doc-generation tasks',
      capacity: doc.maxTasks * documentsPerTaskSecond(profile, 'doc-generation'),
      unit: 'documents/s',
      knob: 'workers.doc-generation.maxTasks',
      raise: { step: '+1 task', monthlyUsd: taskMonthUsd(prices, doc), note: 'Fargate Spot, billed only while the task runs: the figure is a task busy all month' },
      use: (u) => u.documents,
    },
    {
      // Little's law over the messages a task holds: each waits for its generation, then renders
      // on one of `renderSlots` pages sharing the task (a render takes renderSlots × the task-time of a document).
      name: 'doc-generation messages in hand',
      capacity: (doc.maxTasks * doc.concurrency) / (generationSeconds + doc.renderSlots * docTaskSeconds),
      unit: 'documents/s',
      knob: 'workers.doc-generation.concurrency',
      raise: { step: '+1 message per task', monthlyUsd: 0, note: `free: a message in hand costs kilobytes; core-llm's reserved concurrency must follow (+${doc.maxTasks})` },
      use: (u) => u.documents,
    },
    {
      name: 'b2b-batch tasks',
      capacity: (batch.maxTasks * A.batchRowsPerTaskMinute.value) / 60,
      unit: 'rows/s',
      knob: 'workers.b2b-batch.maxTasks',
      raise: { step: '+1 task', monthlyUsd: taskMonthUsd(prices, batch), note: 'Fargate Spot, billed only while the task runs' },
      use: (u) => u.batchRows,
    },
    {
      name: 'Gemini requests quota',
      capacity: limits.gemini.requestsPerMinute / 60,
      unit: 'generations/s',
      knob: 'gemini.requestsPerMinute',
      raise: { step: 'next Gemini tier', monthlyUsd: 0, note: "no AWS cost: Google raises the project's quota with its spend tier; tokens are billed per use" },
      // Batch rows get what the interactive share leaves: a batch-only load saturates it sooner.
      use: (u) => u.generations / (u.batchGeneration ? shareLeft : 1),
    },
    {
      name: 'Gemini tokens quota',
      capacity: limits.gemini.tokensPerMinute / 60,
      unit: 'tokens/s',
      knob: 'gemini.tokensPerMinute',
      raise: { step: 'next Gemini tier', monthlyUsd: 0, note: 'no AWS cost, as the requests quota' },
      use: (u) => (u.generations * A.tokensPerDocument.value) / (u.batchGeneration ? shareLeft : 1),
    },
    {
      name: 'batch generations in flight',
      capacity: limits.gemini.batchMaxInFlight / generationSeconds,
      unit: 'batch generations/s',
      knob: 'workers.doc-generation.concurrency (LLM_BATCH_MAX_IN_FLIGHT follows maxTasks × concurrency)',
      raise: { step: `+1 message per task (+${doc.maxTasks} slots)`, monthlyUsd: 0, note: "the cap is the doc-generation slots less the interactive share; free, core-llm's reserved concurrency follows" },
      use: (u) => (u.batchGeneration ? u.generations : 0),
    },
  ];
  return list;
}

/** Each flow's rate at the profile's peak, per second. Theme lists are the API requests the other flows do not make. */
export function peakRates(profile: TrafficProfile): Record<Flow, number> {
  const peak = A.peakToAverage.value / SECONDS_PER_MONTH;
  const rows = Math.min(profile.volume.documentsPerMonth, profile.volume.batchesPerMonth * A.rowsPerBatch.value);
  const orders = profile.volume.documentsPerMonth - rows;
  const otherApi = orders * A.apiRequestsPerB2cOrder.value + profile.volume.batchesPerMonth * A.apiRequestsPerBatch.value;
  return {
    'B2C order': orders * peak,
    'B2B batch row': rows * peak,
    // Every document is a B2C order or a batch row: no render traffic of its own.
    'document render': 0,
    'theme list': Math.max(0, profile.volume.apiRequestsPerMonth - otherApi) * peak,
  };
}

export function capacityReport(limits: PlatformLimits, profile: TrafficProfile, prices: PriceTable): CapacityReport {
  const usage = flowUsage(profile);
  const model = platformLimits(limits, profile, prices);
  const rates = peakRates(profile);

  const flows = FLOWS.map((flow): FlowCeiling => {
    const bounds = model
      .map((limit) => ({ limit, use: limit.use(usage[flow], flow) }))
      .filter(({ use }) => use > 0)
      .map(({ limit, use }) => ({ limit, ceiling: limit.capacity / use }));
    // The per-address WAF rule only binds when no platform limit is lower.
    const platform = bounds.filter((b) => !b.limit.perClient);
    const binding = (platform.length > 0 ? platform : bounds).reduce((a, b) => (b.ceiling < a.ceiling ? b : a));
    return {
      flow,
      unit: FLOW_UNITS[flow],
      perSecond: binding.ceiling,
      perMonth: binding.ceiling * SECONDS_PER_MONTH,
      limit: binding.limit.name,
      knob: binding.limit.knob,
      peakPerSecond: rates[flow],
      headroom: rates[flow] > 0 ? binding.ceiling / rates[flow] : Infinity,
    };
  });

  const loads = model
    .filter((limit) => !limit.perClient)
    .map((limit): LimitLoad => {
      const demand = FLOWS.reduce((sum, flow) => sum + rates[flow] * limit.use(usage[flow], flow), 0);
      return { limit: stripUse(limit), demand, utilisation: demand / limit.capacity, breaksAt: demand > 0 ? limit.capacity / demand : Infinity };
    })
    .sort((a, b) => a.breaksAt - b.breaksAt);

  const firstToBreak = [10, 100].map((multiple) => ({ multiple, limits: loads.filter((l) => l.breaksAt < multiple).map((l) => l.limit.name) }));

  const generationSeconds = durationSeconds(profile, 'core-llm');
  const docQueues = [QUEUES.docJobs, QUEUES.batchDocJobs].filter((stem) => limits.queues[stem]);
  const connectionsAtMost =
    SERVICE_NAMES.reduce((sum, s) => sum + limits.functions[s].reservedConcurrency * limits.functions[s].dbPoolMax, 0) +
    Object.values(limits.workers).reduce((sum, w) => sum + w.maxTasks * w.dbPoolMax, 0);
  const checks = [
    {
      name: 'connections the configuration can open',
      ok: connectionsAtMost <= limits.database.maxConnections - DB_RESERVED_CONNECTIONS,
      detail: `${connectionsAtMost} (reserved concurrency × pool + worker tasks × pool) of ${limits.database.maxConnections - DB_RESERVED_CONNECTIONS} available`,
    },
    {
      name: 'core-llm concurrency covers the document slots',
      ok: limits.functions['core-llm'].reservedConcurrency >= limits.workers['doc-generation'].maxTasks * limits.workers['doc-generation'].concurrency,
      detail: `core-llm reserved ${limits.functions['core-llm'].reservedConcurrency}, doc-generation slots ${limits.workers['doc-generation'].maxTasks * limits.workers['doc-generation'].concurrency} (messages in hand; a generation holds one while it waits ${generationSeconds} s for Gemini; more slots than that are throttled)`,
    },
    ...docQueues.map((stem) => ({
      name: `${stem} visibility covers a generation`,
      ok: limits.queues[stem].visibilityTimeoutSeconds >= limits.functions['core-llm'].timeoutSeconds,
      detail: `visibility ${limits.queues[stem].visibilityTimeoutSeconds} s, core-llm timeout ${limits.functions['core-llm'].timeoutSeconds} s (the worker also extends the visibility while it works)`,
    })),
  ];

  return { env: limits.env, profile: profile.name, flows, limits: loads, firstToBreak, checks, assumptions: CAPACITY_ASSUMPTIONS };
}

function stripUse({ use: _use, ...limit }: ModelLimit): Limit {
  return limit;
}
