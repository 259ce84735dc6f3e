import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { createDb } from '../../core/db';
import type { LogSink } from '../../core/logger';
import { LOCAL_QUEUES } from '../../scripts/local/defaults';
import { startLocalPlatform, LocalPlatform } from '../../scripts/local/platform';
import { assertContract } from './openapi-contract';
import { createTestDatabase, TestDatabase } from './postgres';

/** The local platform on free ports over a fresh database and Redis prefix, for one test file. */
export interface TestPlatform extends LocalPlatform {
  database: TestDatabase;
  db: Knex;
  redisPrefix: string;
  receive(queue: keyof typeof LOCAL_QUEUES): Promise<unknown[]>;
  counts(): Promise<Record<string, number>>;
  teardown(): Promise<void>;
}

/** What a test may change of the platform: the workers (off by default) and where its log lines go, at what level. */
export interface TestPlatformOptions {
  startWorkers?: boolean;
  logSink?: LogSink;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
}

export async function startTestPlatform(prefix: string, env: Record<string, string> = {}, options: TestPlatformOptions = {}): Promise<TestPlatform> {
  const database = await createTestDatabase(prefix);
  const redisPrefix = `test:${prefix}:${randomBytes(4).toString('hex')}:`;
  const platform = await startLocalPlatform({
    databaseUrl: database.url,
    redisKeyPrefix: redisPrefix,
    logLevel: options.logLevel ?? 'error',
    env,
    startWorkers: options.startWorkers,
    logSink: options.logSink,
  });
  const db = createDb({ database: { url: database.url, port: 5432, poolMax: 2 }, secrets: {} });
  const sqs = new SQSClient({ region: 'eu-west-3', endpoint: platform.emulator.endpoint });
  return {
    ...platform,
    database,
    db,
    redisPrefix,
    receive: async (queue) => {
      const out = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: platform.emulator.queueUrls[LOCAL_QUEUES[queue]], MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
      );
      return (out.Messages ?? []).map((m) => JSON.parse(m.Body ?? 'null'));
    },
    counts: async () => {
      const out: Record<string, number> = {};
      for (const table of ['clients', 'themes', 'orders', 'batches']) {
        out[table] = Number((await db(table).count<{ count: string }[]>('* as count'))[0].count);
      }
      return out;
    },
    teardown: async () => {
      sqs.destroy();
      await db.destroy();
      await platform.stop();
      await database.drop();
    },
  };
}

export const newIdempotencyKey = (): string => randomBytes(18).toString('base64url');

export async function http(base: string, path: string, init: RequestInit & { json?: unknown } = {}) {
  const headers = new Headers(init.headers);
  let body = init.body;
  if (init.json !== undefined) {
    headers.set('content-type', 'application/json');
    body = JSON.stringify(init.json);
  }
  const res = await fetch(base + path, { ...init, headers, body });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  const answer = { status: res.status, headers: res.headers, text, json };
  // Every answer of a public route is held against the published contract; a followed redirect is another origin's.
  if (!res.redirected) assertContract(init.method ?? 'GET', path, answer);
  return answer;
}
