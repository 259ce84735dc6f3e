import type { WindowLimits } from '../../core/domain/generation-budget';
import type { TrafficKind } from '../../core/internal-api';

/**
 * core-llm's generation budget: the project's Gemini quota (requests and tokens per minute),
 * shared by kind of traffic rather than per client.
 *
 * - Interactive (B2C) generations keep a guaranteed share (`interactiveSharePercent`) of each
 *   window's requests and tokens, and may take anything else left in the window.
 * - Batch (B2B row) generations use what is left: never more than the window's quota less the
 *   larger of the interactive share and what interactive traffic used. Batch clients seen in the
 *   last two windows split the batch part equally (each gets `ceil(part / n)` requests per
 *   window), and so the batch generations in flight (`batchMaxInFlight`, the doc workers' slots
 *   less the interactive share of them: a batch never holds every slot, so a B2C job always finds
 *   one free).
 * - A refused batch request is not made to wait: it is given a time to come back (its Retry-After,
 *   which the doc worker turns into its message's visibility). Each client's refusals are booked
 *   into the following windows at that client's rate (its share, or fewer when the in-flight cap
 *   and the measured generation time serve fewer, IN_FLIGHT_OVERBOOKING included), spread within
 *   their window, so a backlog of thousands of rows comes back at the rate it can be served
 *   instead of all at once: a row is received about twice, far from the queue's maxReceiveCount.
 *
 * Windows are BUDGET_WINDOW_MS long, and their figures are windowLimits' (core/config.ts, whose
 * reader refuses a quota or share that leaves a window, or its batch part, unable to serve the
 * longest prompt).
 *
 * The decision is made in Redis by one script (ADMIT_SCRIPT), atomic across every execution
 * environment; while Redis is unreachable the same rules run in process (LocalBudget), per
 * execution environment: generation goes on, each environment allowing the whole budget
 * (docs/services.md says what that costs).
 */
/** Weight of the newest generation time in the batch's moving average (used for booking). */
const LATENCY_WEIGHT = 0.2;
/**
 * Bookings per window beyond what the in-flight cap serves at the measured generation time: a
 * booked row comes back at a random moment of its window, and without a few extra some slots
 * would sit idle while none is due (the extra ones find the cap full and are booked again).
 */
export const IN_FLIGHT_OVERBOOKING = 1.25;

export interface BudgetRequest {
  kind: TrafficKind;
  clientId: string;
  /** Unique per generation: names it among the batch generations in flight. */
  ticket: string;
  estimatedTokens: number;
  now: number;
  /** How long the generation may stay in flight at most (the request's deadline): a crashed one stops counting then. */
  holdMs: number;
  /** In [0, 1): where in its booked window a refused request comes back. */
  random: number;
}

export type Admission = { admitted: true; window: number } | { admitted: false; retryAfterMs: number };

export interface Settlement {
  kind: TrafficKind;
  clientId: string;
  ticket: string;
  window: number;
  /**
   * False when the generation never reached the model (its request had no time left for an
   * attempt): its request is taken back from the window, and its tokens by a tokenDelta of minus
   * the estimate. Counted at admission all the same, so that concurrent requests never pass the
   * budget together; given back only for a call not made.
   */
  sent: boolean;
  /** Real tokens less the estimate counted at admission. */
  tokenDelta: number;
  /** The generation's time, for a batch booking's pace; undefined when it failed. */
  latencyMs?: number;
}

/** One hash tag for every key: the script touches them together, and a cluster (ElastiCache Serverless) keeps them in one slot. */
const TAG = 'llm:{budget}';

/** The keys of a request, in the scripts' KEYS order. */
export function budgetKeys(clientId: string, window: number): string[] {
  return [
    `${TAG}:req:${window}`,
    `${TAG}:tok:${window}`,
    `${TAG}:interactive:req:${window}`,
    `${TAG}:interactive:tok:${window}`,
    `${TAG}:batch:req:${window}`,
    `${TAG}:batch:tok:${window}`,
    `${TAG}:client:${clientId}:req:${window}`,
    `${TAG}:batch:clients`,
    `${TAG}:batch:inflight`,
    `${TAG}:client:${clientId}:inflight`,
    `${TAG}:client:${clientId}:booking`,
    `${TAG}:batch:latency`,
  ];
}

export const admitArgs = (r: BudgetRequest, l: WindowLimits): (string | number)[] => [
  r.kind,
  r.clientId,
  r.ticket,
  r.now,
  r.estimatedTokens,
  l.requests,
  l.tokens,
  l.interactiveRequests,
  l.interactiveTokens,
  l.batchMaxInFlight,
  l.windowMs,
  r.holdMs,
  r.random,
  Math.floor(r.now / l.windowMs),
];

/** Returns {1, window} when admitted, {0, retryAfterMs} when not. Mirrors LocalBudget.admit. */
export const ADMIT_SCRIPT = `
local kind, client, ticket = ARGV[1], ARGV[2], ARGV[3]
local now, est = tonumber(ARGV[4]), tonumber(ARGV[5])
local R, T, G, GT = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
local maxIn, W, hold, rnd, w = tonumber(ARGV[10]), tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13]), tonumber(ARGV[14])
local keep = 3 * W
local function num(k) return tonumber(redis.call('GET', k) or '0') end
local function add(k, n) redis.call('INCRBY', k, n); redis.call('PEXPIRE', k, keep) end
local req, tok = num(KEYS[1]), num(KEYS[2])
if kind == 'interactive' then
  if req < R and tok + est <= T then
    add(KEYS[1], 1); add(KEYS[3], 1); add(KEYS[2], est); add(KEYS[4], est)
    return {1, w}
  end
  return {0, (w + 1) * W - now}
end
redis.call('ZADD', KEYS[8], now, client)
redis.call('ZREMRANGEBYSCORE', KEYS[8], '-inf', now - 2 * W)
redis.call('PEXPIRE', KEYS[8], 2 * W)
local n = redis.call('ZCARD', KEYS[8])
redis.call('ZREMRANGEBYSCORE', KEYS[9], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[10], '-inf', now)
local laneReq = R - math.max(G, num(KEYS[3]))
local laneTok = T - math.max(GT, num(KEYS[4]))
local shareReq = math.ceil((R - G) / n)
local shareIn = math.ceil(maxIn / n)
if num(KEYS[5]) < laneReq and num(KEYS[6]) + est <= laneTok and num(KEYS[7]) < shareReq
  and redis.call('ZCARD', KEYS[9]) < maxIn and redis.call('ZCARD', KEYS[10]) < shareIn then
  add(KEYS[1], 1); add(KEYS[5], 1); add(KEYS[7], 1); add(KEYS[2], est); add(KEYS[6], est)
  for _, k in ipairs({KEYS[9], KEYS[10]}) do
    redis.call('ZADD', k, now + hold, ticket)
    redis.call('PEXPIRE', k, math.max(hold, redis.call('PTTL', k)))
  end
  return {1, w}
end
local pace = shareReq
local latency = num(KEYS[12])
if latency > 0 then pace = math.max(1, math.min(pace, math.floor(shareIn * W * ${IN_FLIGHT_OVERBOOKING} / latency))) end
local bw = tonumber(redis.call('HGET', KEYS[11], 'window') or '0')
local used = tonumber(redis.call('HGET', KEYS[11], 'used') or '0')
if bw <= w then bw = w + 1; used = 0 end
if used >= pace then bw = bw + 1; used = 0 end
redis.call('HSET', KEYS[11], 'window', bw, 'used', used + 1)
redis.call('PEXPIRE', KEYS[11], (bw - w + 2) * W)
return {0, bw * W - now + math.floor(rnd * W)}
`;

/** The keys of a settlement, in SETTLE_SCRIPT's KEYS order. */
export function settleKeys(s: Settlement): string[] {
  const all = budgetKeys(s.clientId, s.window);
  const interactive = s.kind === 'interactive';
  return [all[1], interactive ? all[3] : all[5], all[8], all[9], all[11], all[0], interactive ? all[2] : all[4], all[6]];
}

export const settleArgs = (s: Settlement): (string | number)[] => [s.ticket, s.tokenDelta, s.kind, s.latencyMs ?? '', s.sent ? 1 : 0];

/**
 * Corrects the window's tokens by the real count (and takes back the request of a generation
 * never sent), frees a batch slot, averages the batch's generation time. Mirrors LocalBudget.settle.
 */
export const SETTLE_SCRIPT = `
local delta = tonumber(ARGV[2])
if delta ~= 0 then
  if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('INCRBY', KEYS[1], delta) end
  if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('INCRBY', KEYS[2], delta) end
end
if ARGV[5] == '0' then
  local taken = {KEYS[6], KEYS[7]}
  if ARGV[3] == 'batch' then taken[3] = KEYS[8] end
  for _, k in ipairs(taken) do
    if redis.call('EXISTS', k) == 1 then redis.call('DECR', k) end
  end
end
if ARGV[3] == 'batch' then
  redis.call('ZREM', KEYS[3], ARGV[1])
  redis.call('ZREM', KEYS[4], ARGV[1])
  if ARGV[4] ~= '' then
    local ms = tonumber(ARGV[4])
    local old = tonumber(redis.call('GET', KEYS[5]) or ARGV[4])
    redis.call('SET', KEYS[5], math.floor(old * ${1 - LATENCY_WEIGHT} + ms * ${LATENCY_WEIGHT}), 'PX', 600000)
  end
end
return 1
`;

/**
 * The same rules in process, for while Redis is unreachable (and as the reference the script is
 * tested against). Windows older than the previous one are dropped as time moves on.
 */
export class LocalBudget {
  private counts = new Map<string, number>();
  private batchClients = new Map<string, number>();
  private inflight = new Map<string, { clientId: string; until: number }>();
  private bookings = new Map<string, { window: number; used: number }>();
  private latencyMs = 0;
  private window = -Infinity;

  constructor(private readonly limits: WindowLimits) {}

  private num(key: string): number {
    return this.counts.get(key) ?? 0;
  }
  private add(key: string, n: number): void {
    this.counts.set(key, this.num(key) + n);
  }
  private turn(w: number): void {
    if (w === this.window) return;
    this.window = w;
    for (const key of this.counts.keys()) if (Number(key.slice(key.lastIndexOf(':') + 1)) < w - 1) this.counts.delete(key);
    for (const [client, b] of this.bookings) if (b.window < w) this.bookings.delete(client);
  }

  admit(r: BudgetRequest): Admission {
    const { requests: R, tokens: T, interactiveRequests: G, interactiveTokens: GT, batchMaxInFlight: maxIn, windowMs: W } = this.limits;
    const w = Math.floor(r.now / W);
    this.turn(w);
    const [req, tok, ireq, itok, breq, btok, creq] = budgetKeys(r.clientId, w);
    const est = r.estimatedTokens;
    if (r.kind === 'interactive') {
      if (this.num(req) < R && this.num(tok) + est <= T) {
        this.add(req, 1);
        this.add(ireq, 1);
        this.add(tok, est);
        this.add(itok, est);
        return { admitted: true, window: w };
      }
      return { admitted: false, retryAfterMs: (w + 1) * W - r.now };
    }
    this.batchClients.set(r.clientId, r.now);
    for (const [client, seen] of this.batchClients) if (seen < r.now - 2 * W) this.batchClients.delete(client);
    const n = this.batchClients.size;
    for (const [ticket, f] of this.inflight) if (f.until <= r.now) this.inflight.delete(ticket);
    const clientInFlight = [...this.inflight.values()].filter((f) => f.clientId === r.clientId).length;
    const laneReq = R - Math.max(G, this.num(ireq));
    const laneTok = T - Math.max(GT, this.num(itok));
    const shareReq = Math.ceil((R - G) / n);
    const shareIn = Math.ceil(maxIn / n);
    if (this.num(breq) < laneReq && this.num(btok) + est <= laneTok && this.num(creq) < shareReq && this.inflight.size < maxIn && clientInFlight < shareIn) {
      this.add(req, 1);
      this.add(breq, 1);
      this.add(creq, 1);
      this.add(tok, est);
      this.add(btok, est);
      this.inflight.set(r.ticket, { clientId: r.clientId, until: r.now + r.holdMs });
      return { admitted: true, window: w };
    }
    let pace = shareReq;
    if (this.latencyMs > 0) pace = Math.max(1, Math.min(pace, Math.floor((shareIn * W * IN_FLIGHT_OVERBOOKING) / this.latencyMs)));
    let { window: bw, used } = this.bookings.get(r.clientId) ?? { window: 0, used: 0 };
    if (bw <= w) {
      bw = w + 1;
      used = 0;
    }
    if (used >= pace) {
      bw += 1;
      used = 0;
    }
    this.bookings.set(r.clientId, { window: bw, used: used + 1 });
    return { admitted: false, retryAfterMs: bw * W - r.now + Math.floor(r.random * W) };
  }

  settle(s: Settlement): void {
    const [req, tok, ireq, itok, breq, btok, creq] = budgetKeys(s.clientId, s.window);
    if (s.tokenDelta !== 0 && this.counts.has(tok)) {
      this.add(tok, s.tokenDelta);
      const lane = s.kind === 'interactive' ? itok : btok;
      if (this.counts.has(lane)) this.add(lane, s.tokenDelta);
    }
    if (!s.sent) for (const key of s.kind === 'interactive' ? [req, ireq] : [req, breq, creq]) if (this.counts.has(key)) this.add(key, -1);
    if (s.kind !== 'batch') return;
    this.inflight.delete(s.ticket);
    if (s.latencyMs !== undefined) {
      this.latencyMs = this.latencyMs === 0 ? s.latencyMs : Math.floor(this.latencyMs * (1 - LATENCY_WEIGHT) + s.latencyMs * LATENCY_WEIGHT);
    }
  }
}
