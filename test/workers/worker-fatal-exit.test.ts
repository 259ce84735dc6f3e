import { spawn, ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { startWorkerHarness, WorkerHarness, until } from '../support/workers-harness';

/**
 * A worker process that dies of an uncaught exception with a job in hand (the real doc-generation
 * worker, its core-llm call held for 60 s): it exits 1, and before that hands the message back
 * (visibility 0) and gives up the order's lease, so the next delivery takes the order at once.
 * Before, it exited at once: the message stayed invisible for the rest of its visibility timeout
 * (30 s here, 180 s in AWS, pushed forward by the last heartbeat) and the lease held the order.
 */
const REPO = join(__dirname, '..', '..');

describe('worker process: a fatal error hands its messages back', () => {
  let h: WorkerHarness;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    h = await startWorkerHarness('worker_fatal_exit', { docVisibilitySeconds: 30, maxReceiveCount: 5 });
  });
  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await h.stop();
  });

  test('uncaught exception mid-job: exit 1, the message visible again and the lease given up at once', async () => {
    child = spawn(process.execPath, ['--import', 'tsx', '--import', join(REPO, 'test/support/fatal-on-signal.mjs'), join(REPO, 'containers/doc-generation/main.ts')], {
      cwd: REPO,
      env: { ...process.env, ...h.env, WORKER_CONCURRENCY: '1', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let logs = '';
    child.stdout!.on('data', (c) => (logs += c));
    const exited = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)));

    h.llmDelay.ms = 60_000;
    const clientId = await h.createClient();
    const orderId = await h.createOrder(clientId, 'product-sheet', { product: 'Crashing kettle' });
    await h.sqs.send(new SendMessageCommand({ QueueUrl: h.queues.docJobs, MessageBody: JSON.stringify({ v: 1, orderId }) }));
    await until(() => h.llmCalls.count > 0 || h.llmRequests.count > 0, 30_000, 'the job to reach core-llm');

    child.kill('SIGUSR2');
    expect(await exited).toBe(1);
    const exitedAt = Date.now();
    expect(logs).toContain('uncaught exception');

    const got = await h.sqs.send(new ReceiveMessageCommand({ QueueUrl: h.queues.docJobs, WaitTimeSeconds: 5, VisibilityTimeout: 30 }));
    expect({ messages: got.Messages?.length ?? 0, withinSeconds: Date.now() - exitedAt < 10_000 }).toEqual({ messages: 1, withinSeconds: true });
    expect(await h.db('orders').where({ id: orderId }).first(h.db.raw('status, generation_lease_until <= now() as lease_over'))).toEqual({ status: 'generating', lease_over: true });
    h.llmDelay.ms = 0;
  }, 90_000);
});
