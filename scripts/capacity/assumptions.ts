/**
 * What one operation costs in time and resources, where the synthesised configuration cannot
 * say. Function durations, ECPUs and worker throughput come from the traffic profile the cost
 * model uses (scripts/cost/traffic/*.json), so both models read the same figures; these are the
 * rest. `measured` says whether a figure was measured in this repository or assumed.
 */
export interface Assumption {
  value: number;
  unit: string;
  measured: boolean;
  source: string;
}

export const CAPACITY_ASSUMPTIONS = {
  apiRequestsPerB2cOrder: {
    // Five status reads: the reference client's pace (frontend/src/app/poll.ts, 1 s then doubling up to 5 s), which cannot import this figure.
    value: 8,
    unit: 'API requests',
    measured: false,
    source:
      'POST /b2c/orders, the Stripe webhook, five status reads while the document is made (the reference client reads at 0, 1, 3, 7 and 12 s; ready about 10 s after the buyer is back from Checkout), the document link',
  },
  apiRequestsPerBatch: {
    value: 5,
    unit: 'API requests',
    measured: false,
    source: 'POST /b2b/batches and a few status reads by the client',
  },
  rowsPerBatch: {
    value: 25,
    unit: 'rows',
    measured: false,
    source: 'launch profile: 40 batches and 3,000 documents a month, a third of them batch rows',
  },
  batchRowsPerTaskMinute: {
    value: 3000,
    unit: 'rows per b2b-batch task-minute',
    measured: false,
    source: 'the batch worker inserts rows in chunks and sends one doc job per row (SendMessageBatch of 10); far above what the document workers then make',
  },
  tokensPerDocument: {
    value: 4000,
    unit: 'Gemini tokens (prompt and answer)',
    measured: false,
    source: "a theme's prompt (~1,000 tokens) and a two-page answer (~3,000); core-llm corrects its estimate with usageMetadata",
  },
  peakToAverage: {
    value: 10,
    unit: 'x the month average',
    measured: false,
    source: 'office-hours traffic: the busiest hour of a month at ten times its average hour',
  },
} satisfies Record<string, Assumption>;

/** Seconds in the month the profiles are written for (730 hours, as the price table). */
export const SECONDS_PER_MONTH = 730 * 3600;
/** API Gateway's regional account throttle (requests per second), a soft quota. */
export const ACCOUNT_API_RPS = 10_000;
/** Lambda's concurrent executions per account and region (new accounts may start lower); 100 must stay unreserved. */
export const ACCOUNT_LAMBDA_CONCURRENCY = 1000;
/** PostgreSQL's superuser_reserved_connections and the RDS admin sessions: not the application's. */
export const DB_RESERVED_CONNECTIONS = 3;
