import { randomBytes } from 'node:crypto';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { loadavg } from 'node:os';
import { startWorker as startBatchWorker } from '../../containers/b2b-batch/worker';
import { startWorker as startDocWorker } from '../../containers/doc-generation/worker';
import type { RunningWorker } from '../../containers/shared/process';
import { integerOption, parseOptions, runCli } from '../../core/cli';
import { batchGenerationsInFlight } from '../../core/contract';
import { MAX_BATCH_ROWS } from '../../core/domain/batches';
import { createLogger, LogSink, stderrSink } from '../../core/logger';
import { LOCAL_QUEUES } from '../../scripts/local/defaults';
import { checkoutCompletedEvent, deliverWebhook } from '../../scripts/local/stand-ins/stripe';
import { prod } from '../../stacks/config';
import { startTestPlatform } from '../../test/support/functions-platform';
import { startGeminiStandIn } from '../../test/support/stand-ins/gemini';
import { formatLoad, median, printFigures } from '../figures';

/**
 * `npm run bench:batch [-- --rows N] [-- --b2c-every S]`: a B2B batch at full speed while B2C
 * orders keep coming, on the whole local platform (the six services, both workers, fauxqs,
 * PostgreSQL, Redis) with the Gemini stand-in answering in 2 s under a project quota of 1,000
 * requests a minute (it answers 429 beyond it, as Gemini does), core-llm budgeting that quota.
 *
 * The batch is N rows (5,000 by default, the most a batch may hold) on `product-sheet`, the seeded
 * HTML theme (no Chromium: PDF speed is another concern). The workers are prod's fleet at its
 * ceiling, run here as that many worker instances in this process: doc-generation 6 tasks of
 * `concurrency` messages in hand with `renderSlots` rendering, b2b-batch 2 × 1 (stacks/config.ts),
 * with core-llm's batch in-flight cap derived from those slots as the compute stack derives it. The
 * rows' doc jobs wait in batch-doc-jobs, the B2C orders' in doc-jobs, which the workers serve
 * first. Rendering HTML costs milliseconds; what the messages in hand wait on is the model.
 *
 * Every S seconds (15 by default) while the batch runs, a B2C order is placed through
 * gateway-b2c and paid through the Stripe webhook, as a customer would; its latency is from the
 * order's POST to `ready`. Targets: the batch completes in under 20 minutes, every B2C order
 * placed during it is ready in under 30 s.
 */
const GEMINI_LATENCY_MS = 2000;
const GEMINI_REQUESTS_PER_MINUTE = 1000;
const TARGET_BATCH_MINUTES = 20;
const TARGET_B2C_SECONDS = 30;
const THEME = 'product-sheet';

const USAGE = `usage: npm run bench:batch [-- --rows N] [-- --b2c-every S]
  --rows N        rows of the batch, 1 to ${MAX_BATCH_ROWS} (default ${MAX_BATCH_ROWS})
  --b2c-every S   seconds between two B2C orders while the batch runs, 1 to 600 (default 15)`;

const log = createLogger({ component: 'bench-batch' }, 'info', stderrSink);

function options(argv: string[]): { rows: number; b2cEverySeconds: number } {
  const { values } = parseOptions({ args: argv, options: { rows: { type: 'string' }, 'b2c-every': { type: 'string' } } });
  return {
    rows: integerOption('--rows', values.rows, { min: 1, max: MAX_BATCH_ROWS }, MAX_BATCH_ROWS),
    b2cEverySeconds: integerOption('--b2c-every', values['b2c-every'], { min: 1, max: 600 }, 15),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(argv: string[]): Promise<number> {
  const parsed = options(argv);
  const { rows, b2cEverySeconds } = parsed;
  const docFleet = prod.workers['doc-generation'];
  const batchFleet = prod.workers['b2b-batch'];
  const slots = docFleet.maxTasks * docFleet.concurrency;
  const batchInFlight = batchGenerationsInFlight(slots, prod.gemini.interactiveSharePercent);

  const counted = { deferrals: 0, errors: 0 };
  const sink: LogSink = (line) => {
    if (line.includes('over the generation budget')) counted.deferrals += 1;
    if (line.includes('"level":"error"')) {
      counted.errors += 1;
      if (counted.errors <= 5) process.stderr.write(line.endsWith('\n') ? line : `${line}\n`);
    }
  };
  const gemini = await startGeminiStandIn({ latencyMs: GEMINI_LATENCY_MS, requestsPerMinute: GEMINI_REQUESTS_PER_MINUTE });
  const p = await startTestPlatform(
    'bench_batch',
    {
      GEMINI_API_KEY: 'bench-gemini-key',
      GEMINI_BASE_URL: gemini.url,
      GEMINI_REQUESTS_PER_MINUTE: String(GEMINI_REQUESTS_PER_MINUTE),
      GEMINI_TOKENS_PER_MINUTE: String(prod.gemini.tokensPerMinute),
      LLM_INTERACTIVE_SHARE_PERCENT: String(prod.gemini.interactiveSharePercent),
      LLM_BATCH_MAX_IN_FLIGHT: String(batchInFlight),
      DB_POOL_MAX: '3',
    },
    // The services' request lines would cost this shared machine more CPU than the work: warnings only; the workers' info lines count the deferrals.
    { logLevel: 'warn', logSink: sink },
  );
  const workers: RunningWorker[] = [];
  const loads: number[] = [];
  try {
    const logger = (service: string) => createLogger({ service, env: p.config.appEnv }, 'info', sink);
    for (let i = 0; i < docFleet.maxTasks; i++) {
      workers.push(
        await startDocWorker({ config: p.config, worker: { concurrency: docFleet.concurrency, renderSlots: docFleet.renderSlots, waitTimeSeconds: 1 }, logger: logger('doc-generation') }),
      );
    }
    for (let i = 0; i < batchFleet.maxTasks; i++) {
      workers.push(await startBatchWorker({ config: p.config, worker: { concurrency: batchFleet.concurrency, waitTimeSeconds: 1 }, logger: logger('b2b-batch') }));
    }
    const client = await fetch(`${p.urls.client}/clients`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Bench batch', email: 'bench-batch@example.test' }),
    });
    const { apiKey } = (await client.json()) as { apiKey: string };
    const csv = ['product', ...Array.from({ length: rows }, (_, i) => `Bench product ${i + 1}`)].join('\n') + '\n';

    const started = Date.now();
    const submitted = await fetch(`${p.urls['gateway-b2b']}/b2b/batches?theme=${THEME}`, {
      method: 'POST',
      headers: { 'content-type': 'text/csv', 'x-api-key': apiKey, 'idempotency-key': randomBytes(18).toString('base64url') },
      body: csv,
    });
    if (submitted.status !== 202) throw new Error(`the batch was refused: ${submitted.status} ${await submitted.text()}`);
    const batchId = ((await submitted.json()) as { batch: { id: string } }).batch.id;
    process.stderr.write(`batch ${batchId}: ${rows} rows on ${THEME}; doc-generation ${docFleet.maxTasks} x ${docFleet.concurrency} (${docFleet.renderSlots} rendering), b2b-batch ${batchFleet.maxTasks} x ${batchFleet.concurrency}, batch in flight ${batchInFlight}; load ${formatLoad()}\n`);

    let done = false;
    const b2c: { placedAt: number; readyMs?: number; orderId?: string }[] = [];
    const placeB2c = async (i: number) => {
      const entry: (typeof b2c)[number] = { placedAt: Date.now() };
      b2c.push(entry);
      const res = await fetch(`${p.urls['gateway-b2c']}/b2c/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': randomBytes(18).toString('base64url') },
        body: JSON.stringify({ email: `bench-b2c-${i}@example.test`, name: 'Bench', theme: THEME, input: { product: `B2C product ${i} ${Date.now()}` } }),
      });
      if (res.status !== 201 && res.status !== 200) throw new Error(`B2C order refused: ${res.status} ${await res.text()}`);
      const orderId = ((await res.json()) as { order: { id: string } }).order.id;
      entry.orderId = orderId;
      const row = await p.db('orders').where({ id: orderId }).first();
      const event = checkoutCompletedEvent({ id: row.stripe_session_id, metadata: { orderId }, client_reference_id: orderId, amount_total: row.amount_cents, currency: row.currency });
      const paid = await deliverWebhook(`${p.urls['gateway-b2c']}/b2c/stripe/webhook`, p.env.STRIPE_WEBHOOK_SECRET, event);
      if (paid.status >= 300) throw new Error(`B2C webhook refused: ${paid.status} ${paid.body}`);
      for (;;) {
        const now = await p.db('orders').where({ id: orderId }).first('status');
        if (now.status === 'ready' || now.status === 'failed') {
          if (now.status === 'ready') entry.readyMs = Date.now() - entry.placedAt;
          return;
        }
        await sleep(250);
      }
    };
    const b2cRuns: Promise<void>[] = [];
    const b2cLoop = (async () => {
      for (let i = 1; !done; i++) {
        await sleep(b2cEverySeconds * 1000);
        if (!done) b2cRuns.push(placeB2c(i));
      }
    })();

    let finishedAt = 0;
    let lastReport = 0;
    for (;;) {
      await sleep(1000);
      const counts = (await p.db('orders').where({ batch_id: batchId }).select('status').count('* as n').groupBy('status')) as { status: string; n: string }[];
      const by = Object.fromEntries(counts.map((c) => [c.status, Number(c.n)]));
      const final = (by.ready ?? 0) + (by.failed ?? 0);
      if (Date.now() - lastReport >= 30_000) {
        lastReport = Date.now();
        loads.push(loadavg()[0]);
        process.stderr.write(`${((Date.now() - started) / 60_000).toFixed(1)} min: ${final}/${rows} final (${JSON.stringify(by)}), ${b2c.filter((b) => b.readyMs !== undefined).length}/${b2c.length} B2C ready, load ${formatLoad()}\n`);
      }
      const batch = await p.db('batches').where({ id: batchId }).first('status');
      if (final === rows && batch.status === 'completed') {
        finishedAt = Date.now();
        break;
      }
    }
    done = true;
    await b2cLoop;
    await Promise.race([Promise.all(b2cRuns), sleep(120_000)]);

    const minutes = (finishedAt - started) / 60_000;
    const outcome = (await p.db('orders').where({ batch_id: batchId }).select(p.db.raw("count(*) filter (where status = 'ready') as ready, count(*) filter (where status = 'failed') as failed, coalesce(sum(requeues), 0) as requeues")).first()) as {
      ready: string;
      failed: string;
      requeues: string;
    };
    let dlqDepth = 0;
    for (const queue of [LOCAL_QUEUES.docJobs, LOCAL_QUEUES.batchDocJobs]) dlqDepth += await depthOf(p.emulator.endpoint, p.emulator.queueUrls[`${queue}-dlq`]);
    const latencies = b2c.flatMap((b) => (b.readyMs === undefined ? [] : [b.readyMs / 1000]));
    loads.push(loadavg()[0]);
    const figures = {
      rows,
      minutes,
      documentsPerMinute: Number(outcome.ready) / minutes,
      ready: Number(outcome.ready),
      failed: Number(outcome.failed),
      b2cOrders: b2c.length,
      b2cReady: latencies.length,
      b2cP50Seconds: latencies.length ? median(latencies) : null,
      b2cMaxSeconds: latencies.length ? Math.max(...latencies) : null,
      geminiCalls: gemini.calls.length,
      gemini429: gemini.refused,
      budgetDeferrals: counted.deferrals,
      requeues: Number(outcome.requeues),
      dlq: dlqDepth,
      errorLines: counted.errors,
      docSlots: slots,
      renderSlots: docFleet.maxTasks * docFleet.renderSlots,
      batchInFlight,
      geminiLatencyMs: GEMINI_LATENCY_MS,
      geminiRequestsPerMinute: GEMINI_REQUESTS_PER_MINUTE,
      load1mMean: loads.reduce((a, b) => a + b, 0) / loads.length,
      load1mMax: Math.max(...loads),
      batchTargetMet: minutes < TARGET_BATCH_MINUTES,
      b2cTargetMet: latencies.length === b2c.length && latencies.every((l) => l < TARGET_B2C_SECONDS),
    };
    const table: [string, string][] = [
      ['batch rows (HTML theme)', `${rows}`],
      ['batch minutes (target < 20)', minutes.toFixed(2)],
      ['documents / minute', figures.documentsPerMinute.toFixed(1)],
      ['ready / failed', `${figures.ready} / ${figures.failed}`],
      ['B2C orders during the batch (ready)', `${b2c.length} (${latencies.length})`],
      ['B2C latency p50 / max, s (target < 30)', `${figures.b2cP50Seconds?.toFixed(1) ?? '-'} / ${figures.b2cMaxSeconds?.toFixed(1) ?? '-'}`],
      ['Gemini calls / 429 from its quota', `${figures.geminiCalls} / ${figures.gemini429}`],
      ['budget deferrals (message visibility)', `${figures.budgetDeferrals}`],
      ['hand-offs (requeues) / DLQ', `${figures.requeues} / ${figures.dlq}`],
      ['doc slots (messages in hand) / rendering / batch in flight', `${slots} / ${docFleet.maxTasks * docFleet.renderSlots} / ${batchInFlight}`],
      ['load average 1 min: mean / max', `${figures.load1mMean.toFixed(2)} / ${figures.load1mMax.toFixed(2)}`],
    ];
    const width = Math.max(...table.map(([k]) => k.length));
    process.stdout.write(`\n${table.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')}\n\n`);
    printFigures('batch', figures);
    return 0;
  } finally {
    for (const w of workers) await w.stop().catch(() => undefined);
    await p.teardown();
    await gemini.close();
  }
}

/** Messages in a queue, visible or not. */
async function depthOf(endpoint: string, queueUrl: string): Promise<number> {
  const sqs = new SQSClient({ region: 'eu-west-3', endpoint });
  try {
    const a = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
    return Number(a.Attributes?.ApproximateNumberOfMessages ?? 0) + Number(a.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0);
  } finally {
    sqs.destroy();
  }
}

runCli(() => main(process.argv.slice(2)), { log, usage: USAGE });
