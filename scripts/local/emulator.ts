import { spawn, ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { S3Client } from '@aws-sdk/client-s3';

/**
 * The local stand-in for SQS and S3 (fauxqs), spoken to through the real AWS SDK.
 * Used by `npm run dev` and by tests; runtime code knows nothing of it: the SDK is pointed
 * at it through AWS_ENDPOINT_URL. fauxqs is ESM-only, so it runs in a child process, which
 * also lets tests kill workers without taking the emulator down.
 */
export interface QueueSpec {
  name: string;
  /** Creates `<name>-dlq` and a redrive policy to it. */
  maxReceiveCount: number;
  visibilityTimeoutSeconds: number;
}

export interface EmulatorSpec {
  queues?: QueueSpec[];
  buckets?: string[];
  port?: number;
  region?: string;
}

export interface LocalEmulator {
  endpoint: string;
  port: number;
  /** Queue URLs by queue name, DLQs included (`<name>-dlq`). */
  queueUrls: Record<string, string>;
  stop(): Promise<void>;
}

const RUNNER = `
import { Server } from 'node:net';
import { startFauxqs } from 'fauxqs';
// fauxqs listens on 0.0.0.0 whatever it is given; it takes any request unsigned and holds the
// buckets' documents, so in this process (fauxqs alone) every listen stays on this machine.
const listen = Server.prototype.listen;
Server.prototype.listen = function (options, ...rest) {
  const local = options && typeof options === 'object' && options.host === '0.0.0.0' ? { ...options, host: '127.0.0.1' } : options;
  return listen.call(this, local, ...rest);
};
const spec = JSON.parse(process.env.EMULATOR_SPEC);
// A listen error (the port taken) goes to the parent as its message, not as a stack trace on the terminal.
const server = await startFauxqs({ port: spec.port, logger: false, defaultRegion: spec.region }).catch((err) => {
  process.stdout.write(JSON.stringify({ error: err.message }) + '\\n');
  process.exit(1);
});
const queueUrls = {};
for (const q of spec.queues) {
  const dlq = server.createQueue(q.name + '-dlq', { attributes: { MessageRetentionPeriod: '1209600' } });
  const main = server.createQueue(q.name, { attributes: {
    VisibilityTimeout: String(q.visibilityTimeoutSeconds),
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.queueArn, maxReceiveCount: q.maxReceiveCount }),
  } });
  queueUrls[q.name] = main.queueUrl;
  queueUrls[q.name + '-dlq'] = dlq.queueUrl;
}
for (const b of spec.buckets) server.createBucket(b);
process.stdout.write(JSON.stringify({ port: server.port, queueUrls }) + '\\n');
// fastify's close waits for the SDK's keep-alive sockets: give it a second, then leave anyway.
const stop = () => {
  setTimeout(() => process.exit(0), 1000).unref();
  server.stop().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
// The IPC channel closes when the parent dies, even by SIGKILL: never outlive it.
process.on('disconnect', stop);
`;

export async function startLocalEmulator(spec: EmulatorSpec = {}): Promise<LocalEmulator> {
  const full = { port: spec.port ?? 0, region: spec.region ?? 'eu-west-3', queues: spec.queues ?? [], buckets: spec.buckets ?? [] };
  const child: ChildProcess = spawn(process.execPath, ['--input-type=module', '-e', RUNNER], {
    cwd: `${__dirname}/../..`,
    env: { ...process.env, EMULATOR_SPEC: JSON.stringify(full) },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    // Its own process group: Ctrl-C in the terminal reaches npm run dev, which drains the workers
    // (their last S3 puts and SQS deletes) before it stops this; the IPC channel still ends it with its parent.
    detached: true,
  });
  const ready = await new Promise<{ port: number; queueUrls: Record<string, string> }>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => {
      const answer = JSON.parse(line) as { port: number; queueUrls: Record<string, string> } | { error: string };
      if ('error' in answer) reject(new Error(`the SQS/S3 emulator did not start on port ${full.port}: ${answer.error}`));
      else resolve(answer);
    });
    child.once('exit', (code) => reject(new Error(`SQS/S3 emulator exited with code ${code} before it was ready`)));
  });
  child.removeAllListeners('exit');
  return {
    endpoint: `http://127.0.0.1:${ready.port}`,
    port: ready.port,
    queueUrls: ready.queueUrls,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** An S3 client of the emulator at `endpoint` (path-style; the SDK wants credentials, any will do). */
export const emulatorS3Client = (endpoint: string, region = 'eu-west-3'): S3Client =>
  new S3Client({ region, endpoint, forcePathStyle: true, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
