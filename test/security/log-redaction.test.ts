import { S3Client } from '@aws-sdk/client-s3';
import knex from 'knex';
import Redis from 'ioredis';
import Stripe from 'stripe';
import { EDGE_HEADERS } from '../../core/contract';
import { issueApiKey } from '../../core/domain/api-keys';
import { accessTokenFor } from '../../core/domain/order-tokens';
import { createLogger, REDACTED } from '../../core/logger';
import { createStorage } from '../../core/storage';

/**
 * The one redaction rule of core/logger.ts, through real log lines: each kind of secret the
 * platform handles is written the way the code around it would write it (a field, a URL, an
 * error of the dependency that holds it), and the line that comes out holds none of it while
 * keeping what an operator needs (host, path, names, counts).
 */
const capture = () => {
  const lines: string[] = [];
  const log = createLogger({ service: 'security-test' }, 'debug', (line) => void lines.push(line));
  return { lines, log, last: () => JSON.parse(lines[lines.length - 1]) };
};

const thrown = async (fn: () => unknown): Promise<Error> => {
  try {
    await fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a failure');
};

test('a presigned S3 link keeps bucket and key; its signature, credential and session token are redacted', async () => {
  const s3 = new S3Client({
    region: 'eu-west-3',
    endpoint: 'http://127.0.0.1:9',
    forcePathStyle: true,
    credentials: { accessKeyId: 'ASIAPRESIGNTEST00001', secretAccessKey: 'presign-secret-access-key', sessionToken: 'PRESIGN-SESSION-TOKEN-value' },
  });
  const url = await createStorage({ aws: {} } as never, s3).presignGet('docplatform-dev-reports', 'client/order.pdf', 300, 'order.pdf');
  const signature = new URL(url).searchParams.get('X-Amz-Signature')!;
  expect(signature).toMatch(/^[0-9a-f]{64}$/);
  const out = capture();
  out.log.info(`document link ${url}`, { order: { document: { url } } });
  const line = out.lines[0];
  for (const secret of [signature, 'ASIAPRESIGNTEST00001', 'PRESIGN-SESSION-TOKEN-value']) expect(line).not.toContain(secret);
  const logged = new URL(out.last().order.document.url);
  expect(logged.pathname).toBe('/docplatform-dev-reports/client/order.pdf');
  for (const name of ['X-Amz-Signature', 'X-Amz-Credential', 'X-Amz-Security-Token']) expect(logged.searchParams.get(name)).toBe(REDACTED);
  expect(logged.searchParams.get('X-Amz-Expires')).toBe('300');
  s3.destroy();
});

test("a B2C order's status URL keeps the order id; its ?token= is redacted, in the message and in a field", () => {
  const orderId = '6f1c2b4e-8a3d-4c5e-9f10-1a2b3c4d5e6f';
  const token = accessTokenFor('an-order-token-secret-of-32-chars-or-more', orderId);
  const out = capture();
  out.log.info(`GET /b2c/orders/${orderId}?token=${token}`, { statusUrl: `/b2c/orders/${orderId}?token=${token}&lang=fr`, token });
  expect(out.lines[0]).not.toContain(token);
  expect(out.last()).toMatchObject({ msg: `GET /b2c/orders/${orderId}?token=${REDACTED}`, statusUrl: `/b2c/orders/${orderId}?token=${REDACTED}&lang=fr`, token: REDACTED });
});

test('a B2B API key is redacted by its field name (apiKey, x-api-key, authorization) and after Bearer in text', () => {
  const { apiKey, prefix } = issueApiKey();
  const out = capture();
  out.log.warn(`refused Authorization: Bearer ${apiKey}`, { apiKey, headers: { 'x-api-key': apiKey, authorization: `Bearer ${apiKey}` }, prefix });
  expect(out.lines[0]).not.toContain(apiKey.slice(-43));
  expect(out.last()).toMatchObject({ msg: `refused Authorization: Bearer ${REDACTED}`, apiKey: REDACTED, headers: { 'x-api-key': REDACTED, authorization: REDACTED }, prefix });
});

test("Stripe's secret key, webhook secret and a webhook signature are redacted wherever they are written", () => {
  const secretKey = 'sk_live_51AbCdEfGhIjKlMnOpQrStUvWx';
  const webhookSecret = 'whsec_AbCdEfGhIjKlMnOpQrStUvWxYz012345';
  const header = new Stripe(secretKey).webhooks.generateTestHeaderString({ payload: '{"id":"evt_1"}', secret: webhookSecret });
  const signature = /v1=([0-9a-f]{64})/.exec(header)![1];
  const out = capture();
  out.log.error(`Stripe refused the key ${secretKey}; webhook checked with ${webhookSecret} against ${header}`, {
    stripeSecretKey: secretKey,
    STRIPE_WEBHOOK_SECRET: webhookSecret,
    'stripe-signature': header,
    header,
  });
  for (const secret of [secretKey, webhookSecret, signature]) expect(out.lines[0]).not.toContain(secret);
  expect(out.last()).toMatchObject({ stripeSecretKey: REDACTED, STRIPE_WEBHOOK_SECRET: REDACTED, 'stripe-signature': REDACTED });
  expect(out.last().header).toMatch(/^t=\d+,v1=\[redacted\]/);
});

test('a Gemini API key in a ?key= URL or a message is redacted by its form', () => {
  const key = 'AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW';
  const out = capture();
  out.log.warn('model call failed', { err: new Error(`request to https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent?key=${key} failed`), geminiApiKey: key });
  expect(out.lines[0]).not.toContain(key);
  expect(out.last().err.message).toBe(`request to https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent?key=${REDACTED} failed`);
  expect(out.last().geminiApiKey).toBe(REDACTED);
});

test("database and Redis URLs keep user, host and database; the password is redacted (an unencoded @ in it too), next to the driver's real error", async () => {
  const dbUrl = 'postgres://docplatform_app:Db-P4ss@word@127.0.0.1:9/docplatform';
  const db = knex({ client: 'pg', connection: { connectionString: dbUrl, connectionTimeoutMillis: 1000 }, acquireConnectionTimeout: 2000 });
  const dbError = await thrown(() => db.raw('select 1'));
  await db.destroy();
  const redisUrl = 'rediss://default:R3dis-Secret-pw@127.0.0.1:9';
  const redis = new Redis(redisUrl.replace('rediss', 'redis'), { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  const redisError = await new Promise<Error>((resolve) => {
    redis.once('error', resolve);
    redis.connect().catch(() => undefined);
  });
  redis.disconnect();
  const out = capture();
  out.log.error(`cannot reach ${dbUrl}`, { err: dbError, databaseUrl: dbUrl, DATABASE_URL: dbUrl });
  out.log.error(`cannot reach ${redisUrl}`, { err: redisError, url: redisUrl });
  for (const line of out.lines) for (const secret of ['Db-P4ss', 'word@127', 'R3dis-Secret-pw']) expect(line).not.toContain(secret);
  const [dbLine, redisLine] = out.lines.map((l) => JSON.parse(l));
  expect(dbLine).toMatchObject({ msg: `cannot reach postgres://docplatform_app:${REDACTED}@127.0.0.1:9/docplatform`, databaseUrl: `postgres://docplatform_app:${REDACTED}@127.0.0.1:9/docplatform` });
  expect(dbLine.err.message).toContain('ECONNREFUSED 127.0.0.1:9');
  expect(redisLine).toMatchObject({ url: `rediss://default:${REDACTED}@127.0.0.1:9` });
  expect(redisLine.err.message).toContain('ECONNREFUSED');
});

test('a secret key inside JSON text (an SQS body, an error body quoted in a message) is redacted; other keys stay', () => {
  const body = JSON.stringify({ v: 1, orderId: 'o-1', accessToken: 'tok-SQS-BODY-value', nested: { password: 'pw-in-json' } });
  const out = capture();
  out.log.warn('message refused', { body, err: new Error(`got status: 400. ${JSON.stringify({ error: { message: 'bad', api_key: 'AK-IN-ERROR-BODY' } })}`) });
  for (const secret of ['tok-SQS-BODY-value', 'pw-in-json', 'AK-IN-ERROR-BODY']) expect(out.lines[0]).not.toContain(secret);
  expect(JSON.parse(out.last().body)).toEqual({ v: 1, orderId: 'o-1', accessToken: REDACTED, nested: { password: REDACTED } });
});

test("the origin secret's header and cookies are redacted by name when request headers are logged", () => {
  const out = capture();
  out.log.warn('request headers', { headers: { [EDGE_HEADERS.originVerify]: 'origin-secret-value', cookie: 'session=abc', 'x-client-ip': '203.0.113.7' } });
  expect(out.lines[0]).not.toContain('origin-secret-value');
  expect(out.last().headers).toEqual({ [EDGE_HEADERS.originVerify]: REDACTED, cookie: REDACTED, 'x-client-ip': '203.0.113.7' });
});

test('AWS credentials are redacted by name; the access key id, an identifier, stays', () => {
  const out = capture();
  out.log.info('source storage', { credentials: { accessKeyId: 'SCWABCDEF', secretAccessKey: 'scw-secret' }, source: { accessKeyId: 'SCWABCDEF', secretAccessKey: 'scw-secret', sessionToken: 'sess' } });
  expect(out.lines[0]).not.toContain('scw-secret');
  expect(out.last()).toMatchObject({ credentials: REDACTED, source: { accessKeyId: 'SCWABCDEF', secretAccessKey: REDACTED, sessionToken: REDACTED } });
});

test("JSON.parse's error quoting a secret put as plain text is redacted, in the message and in the stack", () => {
  const error = (() => {
    try {
      JSON.parse('hunter2-plain');
    } catch (err) {
      return err as Error;
    }
    throw new Error('expected a SyntaxError');
  })();
  expect(error.message).toContain('hunter2-plain');
  const out = capture();
  out.log.error(`cannot read the database login from secret docplatform-dev-db-app: ${error.message}`, { err: error });
  expect(out.lines[0]).not.toContain('hunter2');
  expect(out.last().msg).toBe(`cannot read the database login from secret docplatform-dev-db-app: Unexpected token in "${REDACTED}" is not valid JSON`);
});

test('what is not secret is written as it was: ids, counts, names of secrets, flags, a child logger’s base fields', () => {
  const out = capture();
  out.log.child({ requestId: 'r-1', orderId: 'o-1' }).info('smoke-secrets-ok: Basic authentication is off, Bearer keys only', {
    secrets: 3,
    missing: ['STRIPE_SECRET_ARN'],
    key: 'client/o-1.pdf',
    manifestKey: 'batches/b-1/manifest.json',
    tokenExpired: false,
    queueUrl: 'http://127.0.0.1:4566/000000000000/doc-jobs',
    at: new Date('2026-12-01T00:00:00.000Z'),
  });
  const { time: _time, ...line } = out.last();
  expect(line).toEqual({
    level: 'info',
    msg: 'smoke-secrets-ok: Basic authentication is off, Bearer keys only',
    service: 'security-test',
    requestId: 'r-1',
    orderId: 'o-1',
    secrets: 3,
    missing: ['STRIPE_SECRET_ARN'],
    key: 'client/o-1.pdf',
    manifestKey: 'batches/b-1/manifest.json',
    tokenExpired: false,
    queueUrl: 'http://127.0.0.1:4566/000000000000/doc-jobs',
    at: '2026-12-01T00:00:00.000Z',
  });
});

test('a base field named like a secret is redacted too', () => {
  const lines: string[] = [];
  createLogger({ service: 's', apiKey: 'dpk_base_value' }, 'info', (l) => void lines.push(l)).child({ sessionToken: 'child-token' }).info('x');
  expect(JSON.parse(lines[0])).toMatchObject({ apiKey: REDACTED, sessionToken: REDACTED });
});

test('a B2B API key in free text (an error quoting a header, a CSV cell, a URL) is redacted by its form, its prefix kept', () => {
  const { apiKey, prefix } = issueApiKey();
  const out = capture();
  out.log.warn(`partner sent x-api-key ${apiKey} in a CSV cell`, { err: new Error(`row 3: "${apiKey}" is not a theme`), url: `https://api.example/b2b/batches#${apiKey}` });
  expect(out.lines[0]).not.toContain(apiKey.slice(-43));
  expect(out.last().msg).toBe(`partner sent x-api-key dpk_${prefix}_${REDACTED} in a CSV cell`);
  expect(out.last().err.message).toBe(`row 3: "dpk_${prefix}_${REDACTED}" is not a theme`);
  expect(out.last().url).toBe(`https://api.example/b2b/batches#dpk_${prefix}_${REDACTED}`);
});
