import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { SendMessageBatchCommand } from '@aws-sdk/client-sqs';
import { startWorkerHarness, until } from '../../test/support/workers-harness';
import { DEFAULT_CONCURRENCY } from '../../containers/doc-generation/worker';
import { samplePeak } from './memory';

/**
 * The doc-generation worker through its queue, as ECS runs it: its own process (entry main.ts)
 * pinned to one core, at its default concurrency, against the worker harness (PostgreSQL,
 * fauxqs, the real core-llm app answering with its offline stand-in text). `orders` queued PDF
 * orders are sent at once; the rate is orders from the first send to the last `ready`
 * (receive → content from core-llm → render → upload → ready), after one warm-up order that
 * starts the browser. The browser is recycled after `recycleAfter` documents (BROWSER_RECYCLE_AFTER,
 * the worker's own knob); its launches are counted from the worker's log, and the run waits for
 * every order to end (ready or failed) so that one lost at a recycle is counted, not waited for.
 */
const REPO = join(__dirname, '..', '..');

export interface EndToEnd {
  orders: number;
  concurrency: number;
  seconds: number;
  perMinute: number;
  peakPssMb: number;
  peakRssMb: number;
  launches: number;
  ready: number;
  /** The worker's "message failed" lines: attempts that will be retried, or not. */
  failedAttempts: number;
}

export async function endToEnd(orders: number, recycleAfter: number): Promise<EndToEnd> {
  const h = await startWorkerHarness('bench_workers', { docVisibilitySeconds: 60 });
  const child = spawn('taskset', ['-c', '0', process.execPath, '--import', 'tsx', join(REPO, 'containers/doc-generation/main.ts')], {
    cwd: REPO,
    env: { ...process.env, ...h.env, LOG_LEVEL: 'info', BROWSER_RECYCLE_AFTER: String(recycleAfter) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let logs = '';
  child.stdout.on('data', (c: Buffer) => {
    logs += c;
    // A job that did not go straight through shows in the rate: say why.
    for (const line of String(c).split('\n')) if (/"level":"(warn|error)"/.test(line)) process.stderr.write(`worker: ${line}\n`);
  });
  try {
    await until(() => logs.includes('"consumer started"'), 60_000, 'the worker to start');
    const clientId = await h.createClient();
    const order = () => h.createOrder(clientId, 'business-plan', { company: 'Solaris SAS', sector: 'solar energy' });
    const send = async (ids: string[]) => {
      for (let i = 0; i < ids.length; i += 10) {
        const batch = ids.slice(i, i + 10);
        await h.sqs.send(new SendMessageBatchCommand({ QueueUrl: h.queues.docJobs, Entries: batch.map((orderId, j) => ({ Id: String(j), MessageBody: JSON.stringify({ v: 1, orderId }) })) }));
      }
    };
    const inStatus = async (ids: string[], statuses: string[]) => Number((await h.db('orders').whereIn('id', ids).whereIn('status', statuses).count({ n: '*' }).first())?.n ?? 0);
    const ready = (ids: string[]) => inStatus(ids, ['ready']);
    const warmUp = [await order()];
    await send(warmUp);
    await until(async () => (await ready(warmUp)) === 1, 60_000, 'the warm-up order to be ready');

    const ids = await Promise.all(Array.from({ length: orders }, order));
    const memory = samplePeak(child.pid!);
    const started = process.hrtime.bigint();
    await send(ids);
    await until(async () => (await inStatus(ids, ['ready', 'failed'])) === orders, 600_000, `${orders} orders to end`);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const peak = memory.stop();
    const lines = (msg: string) => logs.split('\n').filter((l) => l.includes(`"msg":"${msg}`)).length;
    return {
      orders,
      concurrency: DEFAULT_CONCURRENCY,
      seconds,
      perMinute: (orders / seconds) * 60,
      peakPssMb: peak.peakPssMb,
      peakRssMb: peak.peakRssMb,
      launches: lines('browser launched'),
      ready: await ready(ids),
      failedAttempts: lines('message failed'),
    };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await h.stop();
  }
}
