import { createServer, Server, Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import { startLocalEmulator, LocalEmulator } from '../../scripts/local/emulator';
import { createLogger } from '../../core/logger';
import { createJobQueue, createSqsClient } from '../../core/queue';
import { startConsumer, Consumer } from '../../containers/shared/consumer';

const logger = createLogger({ test: 'sqs-blackhole' }, 'error', () => undefined);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/**
 * A TCP relay to the emulator that can turn into a black hole: while `dropping`, bytes either way
 * are swallowed and no connection is closed, as when a NAT instance is replaced under open
 * connections (the new one has no state for them) or a network path silently fails.
 */
async function startRelay(targetPort: number): Promise<{ port: number; dropping: { on: boolean }; stop(): Promise<void> }> {
  const dropping = { on: false };
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = new Socket();
    upstream.connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.on('data', (d) => void (dropping.on || upstream.write(d)));
    upstream.on('data', (d) => void (dropping.on || client.write(d)));
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    port: (server.address() as AddressInfo).port,
    dropping,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('SQS calls over a connection that stops answering (black hole)', () => {
  let emu: LocalEmulator;
  let relay: Awaited<ReturnType<typeof startRelay>>;
  let direct: SQSClient;
  let viaRelay: SQSClient;

  beforeAll(async () => {
    process.env.AWS_ACCESS_KEY_ID ??= 'test';
    process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
    emu = await startLocalEmulator({ queues: [{ name: 'jobs', maxReceiveCount: 5, visibilityTimeoutSeconds: 30 }] });
    relay = await startRelay(emu.port);
    direct = new SQSClient({ endpoint: emu.endpoint, region: 'eu-west-3', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    // The workers' own client (worker-runtime.ts), its connections routed through the relay (the
    // emulator knows its queues by their URL, so the URLs stay as they are).
    viaRelay = createSqsClient({ aws: { region: 'eu-west-3', endpoint: emu.endpoint, s3ForcePathStyle: true } });
    viaRelay.middlewareStack.add(
      (next) => async (args) => {
        (args.request as { port?: number }).port = relay.port;
        return next(args);
      },
      { step: 'finalizeRequest', name: 'throughRelay' },
    );
  });
  afterAll(async () => {
    viaRelay.destroy();
    direct.destroy();
    await relay.stop();
    await emu.stop();
  });

  test('a receive lost in a black hole fails and the loop polls again: messages sent after it are still handled', async () => {
    const handled: string[] = [];
    const c: Consumer = await startConsumer({ sqs: viaRelay, queues: [emu.queueUrls.jobs], concurrency: 1, logger, waitTimeSeconds: 1, handler: async (m) => void handled.push(m.body) });
    try {
      await direct.send(new SendMessageCommand({ QueueUrl: emu.queueUrls.jobs, MessageBody: 'before' }));
      await until(() => handled.includes('before'), 10_000, 'the first message');
      relay.dropping.on = true;
      // Long enough for the loop's next poll to be sent, and swallowed.
      await sleep(1_500);
      relay.dropping.on = false;
      await direct.send(new SendMessageCommand({ QueueUrl: emu.queueUrls.jobs, MessageBody: 'after' }));
      await until(() => handled.includes('after'), 30_000, 'the message sent after the black hole');
    } finally {
      await c.stop(0);
    }
  });

  test('a job sent into a black hole fails within the bound instead of waiting for ever', async () => {
    const jobs = createJobQueue({ queues: { docJobsUrl: emu.queueUrls.jobs } }, viaRelay);
    relay.dropping.on = true;
    const started = Date.now();
    try {
      await expect(jobs.sendDocJob({ id: '6f1c1d1e-0000-4000-8000-0000000000d1', batch_id: null })).rejects.toThrow(/timeout|timed out/i);
      expect(Date.now() - started).toBeLessThan(45_000);
    } finally {
      relay.dropping.on = false;
    }
  });
});
