import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Knex } from 'knex';
import { createDb } from '../../core/db';
import { createLogger } from '../../core/logger';
import { startConsumer } from '../../containers/shared/consumer';
import { startLocalEmulator, LocalEmulator } from '../../scripts/local/emulator';
import { Cluster, startLogicalCluster } from '../support/data-move-harness';
import { sleep, until } from '../support/workers-harness';

/**
 * A worker meets a database that sleeps (an Aurora instance resuming from 0 ACU), played by a
 * throwaway PostgreSQL cluster stopped and started again: the one SQS consumer loop, a job that
 * writes through core/db.ts with a connection wait (DB_CONNECT_WAIT_MS) of 4 s, the emulator's
 * queue with a 3 s visibility timeout. Back within the wait: the job is done on its first receive.
 * Down for longer: the job fails that receive, its message is not deleted and comes back through
 * its visibility timeout, and is done once the database is back — no job lost.
 */
let cluster: Cluster;
let emulator: LocalEmulator;
let sqs: SQSClient;
let db: Knex;
const QUEUE = 'paused-db-jobs';
// The consumer logs each failed receive: expected here, kept off the test output.
const logger = createLogger({ component: 'test' }, 'error', () => undefined);

beforeAll(async () => {
  cluster = await startLogicalCluster('paused-worker');
  emulator = await startLocalEmulator({ queues: [{ name: QUEUE, maxReceiveCount: 5, visibilityTimeoutSeconds: 3 }] });
  sqs = new SQSClient({ region: 'eu-west-3', endpoint: emulator.endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  const url = cluster.url('postgres').replace('sslmode=require', 'sslmode=no-verify');
  db = createDb({ database: { url, port: 5432, poolMax: 2, connectWaitMs: 4000 }, secrets: {} });
  await db.raw('CREATE TABLE jobs_done (job text PRIMARY KEY, receives int NOT NULL)');
}, 120_000);

afterAll(async () => {
  sqs?.destroy();
  await db?.destroy();
  await emulator?.stop();
  await cluster?.stop();
});

/** Runs the consumer while `work` runs; `receives` counts each job's receives. */
async function runJobs(receives: Map<string, number>, work: () => Promise<void>): Promise<void> {
  const consumer = await startConsumer({
    sqs,
    queues: [emulator.queueUrls[QUEUE]],
    concurrency: 1,
    waitTimeSeconds: 1,
    logger,
    handler: async (message) => {
      const { job } = JSON.parse(message.body) as { job: string };
      receives.set(job, (receives.get(job) ?? 0) + 1);
      await db('jobs_done').insert({ job, receives: receives.get(job) });
    },
  });
  try {
    await work();
  } finally {
    await consumer.stop(5000);
  }
}

const send = (job: string) => sqs.send(new SendMessageCommand({ QueueUrl: emulator.queueUrls[QUEUE], MessageBody: JSON.stringify({ v: 1, job }) }));
const done = async (job: string) => (await db('jobs_done').where({ job }).first('receives')) as { receives: number } | undefined;

test('the database comes back within the wait: the job is done on its first receive', async () => {
  const receives = new Map<string, number>();
  await runJobs(receives, async () => {
    await cluster.pause();
    await send('short-pause');
    await sleep(2000);
    await cluster.resume();
    await until(() => done('short-pause'), 20_000, 'the job done');
  });
  expect(await done('short-pause')).toEqual({ receives: 1 });
  expect(receives.get('short-pause')).toBe(1);
}, 60_000);

test('the database stays down past the wait: the message comes back through its visibility and the job is done once it is back', async () => {
  const receives = new Map<string, number>();
  await runJobs(receives, async () => {
    await cluster.pause();
    await send('long-pause');
    // Long enough for the first receive to give up (4 s wait) and its message to come back (3 s visibility).
    await until(() => (receives.get('long-pause') ?? 0) >= 2, 30_000, 'a second receive');
    await cluster.resume();
    await until(() => done('long-pause'), 30_000, 'the job done');
  });
  const row = await done('long-pause');
  expect(row!.receives).toBeGreaterThanOrEqual(2);
  expect(receives.get('long-pause')).toBe(row!.receives);
}, 90_000);
