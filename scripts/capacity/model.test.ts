import { loadPriceTable } from '../cost/priceTable';
import { loadTrafficProfile, TrafficProfile } from '../cost/traffic';
import { SECONDS_PER_MONTH } from './assumptions';
import { defaultMaxConnections, PlatformLimits } from './limits';
import { capacityReport, peakRates } from './model';

const prices = loadPriceTable();
const launch = loadTrafficProfile();

/** A profile whose durations and per-request calls are round numbers, to compute ceilings by hand. */
const profile: TrafficProfile = {
  ...launch,
  name: 'hand',
  volume: { ...launch.volume, apiRequestsPerMonth: 262_800, documentsPerMonth: 2_628, batchesPerMonth: 40 },
  assumptions: {
    ...launch.assumptions,
    lambdas: [
      { match: 'gateway-b2c', perApiRequest: 1, perDocument: 0, perBatch: 0, avgDurationMs: 500 },
      { match: 'gateway-b2b', perApiRequest: 0, perDocument: 0, perBatch: 1, avgDurationMs: 500 },
      { match: 'core-llm', perApiRequest: 0, perDocument: 1, perBatch: 0, avgDurationMs: 2000 },
      { match: 'theme', perApiRequest: 0.5, perDocument: 0, perBatch: 0, avgDurationMs: 100 },
      { match: 'order', perApiRequest: 0, perDocument: 1, perBatch: 0, avgDurationMs: 100 },
      { match: 'client', perApiRequest: 0, perDocument: 0, perBatch: 1, avgDurationMs: 100 },
    ],
    workers: launch.assumptions.workers.map((w) => (w.match === 'doc-generation' ? { ...w, unitsPerTaskMinute: 60 } : w)),
    cacheEcpuPerApiRequest: 10,
    cacheEcpuPerDocument: 100,
  },
};

const fn = (reservedConcurrency: number, dbPoolMax = 0) => ({ reservedConcurrency, timeoutSeconds: 30, dbPoolMax });
const limits = (over: Partial<PlatformLimits> = {}): PlatformLimits => ({
  env: 'hand',
  api: { rateLimitPerSecond: 10, burstLimit: 20 },
  wafRatePer5MinPerIp: 300,
  functions: { 'gateway-b2c': fn(2), 'gateway-b2b': fn(2), 'core-llm': fn(2), theme: fn(2, 1), order: fn(10, 1), client: fn(10, 1) },
  workers: {
    // 100 messages in hand of (2 s + 2 renders × 1 s) = 25/s: above every other ceiling below unless a case lowers it.
    'doc-generation': { maxTasks: 10, concurrency: 10, renderSlots: 2, dbPoolMax: 2, cpuUnits: 1024, memoryMb: 2048, arm64: true },
    'b2b-batch': { maxTasks: 1, concurrency: 1, renderSlots: 1, dbPoolMax: 2, cpuUnits: 1024, memoryMb: 2048, arm64: true },
  },
  database: { engine: 'rds-instance', instanceClass: 'db.t4g.micro', maxConnections: 53, maxConnectionsSource: 'test' },
  cache: { ecpuPerSecond: 1000 },
  gemini: { requestsPerMinute: 600, tokensPerMinute: 6_000_000, interactiveSharePercent: 50, batchMaxInFlight: 4 },
  queues: { 'doc-jobs': { visibilityTimeoutSeconds: 180 }, 'batch-doc-jobs': { visibilityTimeoutSeconds: 20 } },
  ...over,
});

const flow = (report: ReturnType<typeof capacityReport>, name: string) => report.flows.find((f) => f.flow === name)!;

describe('capacity model, on hand-computed cases', () => {
  it('theme list: gateway-b2c holds 2 environments for 0.5 s each, 4/s, below the API throttle (10/s) and theme (2 / 0.1 s = 20/s)', () => {
    const theme = flow(capacityReport(limits(), profile, prices), 'theme list');
    expect(theme.perSecond).toBeCloseTo(4);
    expect(theme.limit).toBe('gateway-b2c reserved concurrency');
    expect(theme.knob).toBe('lambdas.gateway-b2c.reservedConcurrency');
    expect(theme.perMonth).toBeCloseTo(4 * SECONDS_PER_MONTH);
  });

  it('B2C order: gateway-b2c binds at 2 / (8 calls × 0.5 s) = 0.5/s, then core-llm at 2 / 2 s = 1/s', () => {
    // Per order: 8 API requests, each one gateway-b2c call of 0.5 s: 2 / (8 × 0.5) = 0.5/s; core-llm: 2 / 2 s = 1/s; Gemini 10/s; workers 10 × 60/min = 10/s.
    const order = flow(capacityReport(limits(), profile, prices), 'B2C order');
    expect(order.perSecond).toBeCloseTo(0.5);
    expect(order.limit).toBe('gateway-b2c reserved concurrency');
    // With gateway-b2c at 12, core-llm's 1/s binds.
    const raised = flow(capacityReport(limits({ functions: { ...limits().functions, 'gateway-b2c': fn(12) } }), profile, prices), 'B2C order');
    expect(raised.perSecond).toBeCloseTo(1);
    expect(raised.limit).toBe('core-llm reserved concurrency');
  });

  it('B2B batch row: 4 batch generations in flight of 2 s = 2/s, below what the interactive share leaves of Gemini (600/min × 50% = 5/s)', () => {
    const row = flow(capacityReport(limits({ functions: { ...limits().functions, 'core-llm': fn(100) } }), profile, prices), 'B2B batch row');
    expect(row.perSecond).toBeCloseTo(2);
    expect(row.limit).toBe('batch generations in flight');
    // 20 in flight would serve 10/s: the batch part of the quota, 5/s, binds.
    const quota = flow(capacityReport(limits({ functions: { ...limits().functions, 'core-llm': fn(100) }, gemini: { ...limits().gemini, batchMaxInFlight: 20 } }), profile, prices), 'B2B batch row');
    expect(quota.perSecond).toBeCloseTo(5);
    expect(quota.limit).toBe('Gemini requests quota');
  });

  it('document render: 10 tasks × 60 documents a task-minute = 10/s when nothing else binds', () => {
    const open = limits({ functions: { ...limits().functions, 'core-llm': fn(1000), order: fn(1000, 1) }, gemini: { ...limits().gemini, requestsPerMinute: 60_000 }, cache: { ecpuPerSecond: 1e6 } });
    const render = flow(capacityReport(open, profile, prices), 'document render');
    expect(render.perSecond).toBeCloseTo(10);
    expect(render.limit).toBe('doc-generation tasks');
  });

  it('messages in hand by Little\'s law: 10 tasks × 2 messages, each held 2 s for Gemini and 1 render × 1 s, = 6.67/s, below the tasks\' 10/s', () => {
    const open = limits({ functions: { ...limits().functions, 'core-llm': fn(1000), order: fn(1000, 1) }, gemini: { ...limits().gemini, requestsPerMinute: 60_000 }, cache: { ecpuPerSecond: 1e6 } });
    const held = limits({ ...open, workers: { ...open.workers, 'doc-generation': { ...open.workers['doc-generation'], concurrency: 2, renderSlots: 1 } } });
    const render = flow(capacityReport(held, profile, prices), 'document render');
    expect(render.limit).toBe('doc-generation messages in hand');
    expect(render.knob).toBe('workers.doc-generation.concurrency');
    expect(render.perSecond).toBeCloseTo(20 / 3);
  });

  it('connections in use by Little\'s law: theme holds 1 for 0.1 s per call, a document holds a task\'s 2 for 1 s', () => {
    // document render: order 1 call × 0.1 s × 1 + 1 document × (1 / (60/60)) s × 2 = 2.1 connection-seconds; 50 available → 23.8/s.
    const open = limits({ functions: { ...limits().functions, 'core-llm': fn(1000), order: fn(1000, 1) }, gemini: { ...limits().gemini, requestsPerMinute: 60_000 }, cache: { ecpuPerSecond: 1e6 }, workers: { ...limits().workers, 'doc-generation': { ...limits().workers['doc-generation'], maxTasks: 1000 } } });
    const render = flow(capacityReport(open, profile, prices), 'document render');
    expect(render.limit).toBe('database connections');
    expect(render.perSecond).toBeCloseTo(50 / 2.1);
  });

  it('peak rates: 40 batches of 25 rows and the rest of 2,628 documents as orders, at 10× the month average', () => {
    const rates = peakRates(profile);
    expect(rates['B2B batch row']).toBeCloseTo((1000 * 10) / SECONDS_PER_MONTH);
    expect(rates['B2C order']).toBeCloseTo((1628 * 10) / SECONDS_PER_MONTH);
    // The API requests orders and batches do not make: 262,800 − 1,628 × 8 − 40 × 5.
    expect(rates['theme list']).toBeCloseTo(((262_800 - 1628 * 8 - 200) * 10) / SECONDS_PER_MONTH);
  });

  it('names the limits that saturate first at 10× and 100× the profile, and the checks of the configuration', () => {
    const report = capacityReport(limits(), profile, prices);
    const sorted = report.limits.map((l) => l.breaksAt);
    expect([...sorted].sort((a, b) => a - b)).toEqual(sorted);
    // theme lists at peak ≈ 0.95/s on gateway-b2c (0.5 s, 2 reserved = 4/s) plus 8 calls per order: the first to break.
    expect(report.limits[0].limit.name).toBe('gateway-b2c reserved concurrency');
    const at100 = report.firstToBreak.find((b) => b.multiple === 100)!;
    expect(at100.limits).toContain('gateway-b2c reserved concurrency');
    expect(report.checks.find((c) => c.name.startsWith('core-llm concurrency'))!.ok).toBe(false); // 2 reserved < 100 slots
    // Each doc-job queue's visibility against core-llm's 30 s timeout.
    expect(report.checks.filter((c) => c.name.endsWith('visibility covers a generation')).map((c) => [c.name, c.ok])).toEqual([
      ['doc-jobs visibility covers a generation', true],
      ['batch-doc-jobs visibility covers a generation', false],
    ]);
    // theme 2 × 1 + order 10 × 1 + client 10 × 1 + doc-generation 10 × 2 + b2b-batch 1 × 2 = 44 of 53 − 3.
    expect(report.checks.find((c) => c.name.startsWith('connections'))).toMatchObject({ ok: true, detail: expect.stringMatching(/^44 .* of 50 available$/) });
  });

  it("RDS's default max_connections from the class memory, about 80 for db.t4g.micro", () => {
    expect(defaultMaxConnections(1)).toBe(84);
    expect(defaultMaxConnections(1000)).toBe(5000);
  });
});
