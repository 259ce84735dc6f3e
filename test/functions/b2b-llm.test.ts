import { createApp as coreLlmApp } from '../../functions/core-llm/app';
import { offlineProvider } from '../../functions/core-llm/providers';
import { readConfig, resolveConfig } from '../../core/config';
import { createRuntime } from '../../functions/shared/runtime';
import { createApp as themeApp } from '../../functions/theme/app';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { createS3Client } from '../../core/storage';
import { startGeminiStandIn, GeminiStandIn } from '../support/stand-ins/gemini';
import { http, newIdempotencyKey, startTestPlatform, TestPlatform } from '../support/functions-platform';
import type { Server } from 'node:http';

let p: TestPlatform;
let gemini: GeminiStandIn;
let b2b: string;
let llm: string;
const clientId = '6f1c1d1e-0000-4000-8000-000000000001';

beforeAll(async () => {
  gemini = await startGeminiStandIn({ apiKey: 'test-gemini-key' });
  p = await startTestPlatform('fn_b2b', { GEMINI_API_KEY: 'test-gemini-key', GEMINI_BASE_URL: gemini.url, LLM_RATE_LIMIT_PER_MINUTE: '4', GEMINI_TIMEOUT_MS: '400' });
  b2b = p.urls['gateway-b2b'];
  llm = p.urls['core-llm'];
});
afterAll(async () => {
  await p.teardown();
  await gemini.close();
});

/** Every object under a client's batches/ prefix in the assets bucket. */
const sourceKeys = async (clientId: string): Promise<string[]> => {
  const s3 = createS3Client(p.config);
  try {
    const out = await s3.send(new ListObjectsV2Command({ Bucket: p.config.buckets.assets, Prefix: `batches/${clientId}/` }));
    return (out.Contents ?? []).map((o) => o.Key!).sort();
  } finally {
    s3.destroy();
  }
};

const newClient = async (name: string) => {
  const res = await http(p.urls.client, '/clients', { method: 'POST', json: { name, email: `${name}@example.test` } });
  expect(res.status).toBe(201);
  return res.json as { client: { id: string }; apiKey: string };
};

describe('gateway-b2b', () => {
  test('401 without or with a wrong API key; the key is stored only as a hash', async () => {
    expect((await http(b2b, '/b2b/batches', { method: 'POST', json: {} })).status).toBe(401);
    const { client, apiKey } = await newClient('acme');
    const forged = apiKey.slice(0, -4) + 'AAAA';
    expect((await http(b2b, `/b2b/orders/${client.id}`, { headers: { 'x-api-key': forged } })).status).toBe(401);
    const row = await p.db('clients').where({ id: client.id }).first();
    const keys = await p.db('api_keys').where({ client_id: client.id });
    expect(JSON.stringify([row, keys])).not.toContain(apiKey);
    expect(keys.map((k) => k.hash)).toEqual([expect.stringMatching(/^[0-9a-f]{64}$/)]);
  });

  test('CSV batch: stored in S3, batch job enqueued; bad rows are a 400 naming each; another client gets 403', async () => {
    const acme = await newClient('acme2');
    const other = await newClient('globex');
    const before = await p.counts();
    const bad = await http(b2b, '/b2b/batches?theme=product-sheet', {
      method: 'POST',
      body: 'product,colour\nKettle,red\n,blue\n',
      headers: { 'content-type': 'text/csv', authorization: `Bearer ${acme.apiKey}` },
    });
    expect(bad.status).toBe(400);
    expect(bad.json.error.fields.map((f: { field: string }) => f.field)).toEqual(['rows[0].colour', 'rows[1].product', 'rows[1].colour']);
    expect(await p.counts()).toEqual(before);

    const ok = await http(b2b, '/b2b/batches?theme=product-sheet', {
      method: 'POST',
      body: 'product\nSolar kettle\nWind lamp\n',
      headers: { 'content-type': 'text/csv', 'x-api-key': acme.apiKey },
    });
    expect(ok.status).toBe(202);
    expect(ok.json.batch).toMatchObject({ status: 'pending', submittedRows: 2 });
    const batchId = ok.json.batch.id;
    expect(await p.receive('batchJobs')).toEqual([{ v: 1, batchId }]);
    const stored = await p.db('batches').where({ id: batchId }).first();
    const source = JSON.parse((await p.runtimes['gateway-b2b'].storage.get('assets', stored.source_key)).toString());
    expect(source.rows).toEqual([{ product: 'Solar kettle' }, { product: 'Wind lamp' }]);

    expect((await http(b2b, `/b2b/batches/${batchId}`, { headers: { 'x-api-key': acme.apiKey } })).status).toBe(200);
    expect((await http(b2b, `/b2b/batches/${batchId}`, { headers: { 'x-api-key': other.apiKey } })).status).toBe(403);
  });

  test('JSON batch with an unknown theme names body.theme; same idempotency key → same batch', async () => {
    const { apiKey } = await newClient('initech');
    const unknown = await http(b2b, '/b2b/batches', { method: 'POST', json: { theme: 'nope', rows: [{ a: 'b' }] }, headers: { 'x-api-key': apiKey } });
    expect(unknown.status).toBe(400);
    expect(unknown.json.error.fields[0].field).toBe('body.theme');
    const headers = { 'x-api-key': apiKey, 'idempotency-key': 'batch-key-0123456789abcdef' };
    const body = { theme: 'cover-letter', rows: [{ name: 'Ada', position: 'CTO', company: 'Initech' }] };
    const first = await http(b2b, '/b2b/batches', { method: 'POST', json: body, headers });
    const second = await http(b2b, '/b2b/batches', { method: 'POST', json: body, headers });
    expect(first.status).toBe(202);
    expect(second.status).toBe(200);
    expect(second.json.batch.id).toBe(first.json.batch.id);
  });
});

describe('gateway-b2b: links', () => {
  test('a completed batch whose manifest S3 does not hold answers without a manifest link, its error saying so; stored again, the link is back', async () => {
    const acme = await newClient('acme-manifest');
    const created = await http(b2b, '/b2b/batches?theme=product-sheet', {
      method: 'POST',
      body: 'product\nSolar kettle\n',
      headers: { 'content-type': 'text/csv', 'x-api-key': acme.apiKey },
    });
    expect(created.status).toBe(202);
    const id = created.json.batch.id;
    // Its job is not this test's: the later tests count what the queue holds.
    expect(await p.receive('batchJobs')).toContainEqual({ v: 1, batchId: id });
    const manifestKey = `batches/${acme.client.id}/${id}/manifest-1.json`;
    await p.db('batches').where({ id }).update({ status: 'completed', manifest_key: manifestKey });
    const read = () => http(b2b, `/b2b/batches/${id}`, { headers: { 'x-api-key': acme.apiKey } });

    const missing = await read();
    expect(missing.status).toBe(200);
    expect(missing.json.batch).toMatchObject({ status: 'completed', error: expect.stringContaining('no longer stored') });
    expect(missing.json.batch.manifest).toBeUndefined();

    await p.runtimes['gateway-b2b'].storage.put(p.config.buckets.assets, manifestKey, '{"v":1}', 'application/json');
    const stored = await read();
    expect(stored.json.batch.error).toBeNull();
    expect((await fetch(stored.json.batch.manifest.url)).status).toBe(200);
  });
});

describe('gateway-b2b: what a batch may hold', () => {
  const postCsv = (apiKey: string, body: string, theme = 'product-sheet', headers: Record<string, string> = {}) =>
    http(b2b, `/b2b/batches?theme=${theme}`, { method: 'POST', body, headers: { 'content-type': 'text/csv', 'x-api-key': apiKey, ...headers } });

  test('a NUL or other control character, or an unpaired surrogate, in a CSV or JSON row is a 400 naming the row and field; nothing is stored', async () => {
    const { client, apiKey } = await newClient('nul-co');
    const before = await p.counts();
    // Before the fix this was a 202: the worker's insert then failed on every delivery and the whole batch went to the DLQ.
    const csv = await postCsv(apiKey, 'product\nSolar kettle\nWind\u0000lamp\nTide clock\n');
    expect(csv.status).toBe(400);
    expect(csv.json.error.fields).toEqual([{ field: 'rows[1].product', message: 'must not contain control characters (U+0000 at character 5)' }]);
    const json = await http(b2b, '/b2b/batches', {
      method: 'POST',
      json: { theme: 'product-sheet', rows: [{ product: 'ok' }, { product: 'bell\u0007' }, { product: 'half \udc00' }, { ['pro\u0000duct']: 'x' }] },
      headers: { 'x-api-key': apiKey },
    });
    expect(json.status).toBe(400);
    expect(json.json.error.fields.map((f: { field: string }) => f.field)).toEqual([
      'rows[1].product',
      'rows[2].product',
      'rows[3].product',
      'rows[3].pro\u0000duct',
    ]);
    expect(json.json.error.fields[3].message).toBe('key must not contain control characters (U+0000 at character 4)');
    expect(await p.counts()).toEqual(before);
    expect(await sourceKeys(client.id)).toEqual([]);
    // Tabs and line breaks inside a quoted field are text.
    expect((await postCsv(apiKey, 'product\n"Solar\tkettle\r\nwith lid"\n')).status).toBe(202);
  });

  test('a CSV with a repeated column is a 400 naming the column', async () => {
    const { apiKey } = await newClient('dup-co');
    const before = await p.counts();
    // Before the fix: 202, each row keeping only its last "product" value.
    const dup = await postCsv(apiKey, 'product,product\nSolar kettle,Wind lamp\n');
    expect(dup.status).toBe(400);
    expect(dup.json.error.fields).toEqual([{ field: 'body', message: 'invalid CSV: column "product" appears more than once in the header' }]);
    // Names are compared after trimming, as the values are.
    expect((await postCsv(apiKey, 'product, product \nA,B\n')).json.error.fields[0].message).toMatch(/column "product" appears more than once/);
    expect(await p.counts()).toEqual(before);
  });

  test('Idempotency-Key: the same request is the original batch with nothing new stored; another CSV, theme or body is a 409 naming the header', async () => {
    const { client, apiKey } = await newClient('idem-co');
    const key = { 'idempotency-key': newIdempotencyKey() };
    const first = await postCsv(apiKey, 'product\nSolar kettle\nWind lamp\n', 'product-sheet', key);
    expect(first.status).toBe(202);
    expect(first.json.batch.submittedRows).toBe(2);
    const stored = await sourceKeys(client.id);
    expect(stored).toHaveLength(1);
    const batches = (await p.counts()).batches;

    const replay = await postCsv(apiKey, 'product\nSolar kettle\nWind lamp\n', 'product-sheet', key);
    expect(replay.status).toBe(200);
    expect(replay.json.batch).toMatchObject({ id: first.json.batch.id, submittedRows: 2 });

    const conflicts = [
      // Before the fix: 200 with the old batch, submittedRows 3, the new rows dropped and one more source object in S3.
      await postCsv(apiKey, 'product\nSolar kettle\nWind lamp\nTide clock\n', 'product-sheet', key),
      await postCsv(apiKey, 'product\nSolar kettle\nWind lamp\n', 'market-study', key),
      await http(b2b, '/b2b/batches', { method: 'POST', json: { theme: 'product-sheet', rows: [{ product: 'Solar kettle' }] }, headers: { 'x-api-key': apiKey, ...key } }),
    ];
    for (const c of conflicts) {
      expect({ status: c.status, error: c.json.error }).toEqual({
        status: 409,
        error: {
          code: 'conflict',
          message: 'this idempotency key was already used with a different request',
          fields: [{ field: 'header.idempotency-key', message: 'already used with a different request (body, content type or theme differ); use a new key for a new batch' }],
        },
      });
    }
    expect(await sourceKeys(client.id)).toEqual(stored);
    expect((await p.counts()).batches).toBe(batches);
    const source = JSON.parse((await p.runtimes['gateway-b2b'].storage.get('assets', stored[0])).toString());
    expect(source.rows).toEqual([{ product: 'Solar kettle' }, { product: 'Wind lamp' }]);

    // Concurrent first attempts of one request: one batch, one source object.
    const raceKey = { 'idempotency-key': newIdempotencyKey() };
    const race = await Promise.all([1, 2, 3].map(() => postCsv(apiKey, 'product\nLamp\n', 'product-sheet', raceKey)));
    expect(race.map((r) => r.status).sort()).toEqual([200, 200, 202]);
    expect(new Set(race.map((r) => r.json.batch.id)).size).toBe(1);
    expect(await sourceKeys(client.id)).toHaveLength(2);
  });

  test('Idempotency-Key, the race the replay lookup cannot see: a concurrent attempt of the same request joins the batch and its source object; another request is a 409', async () => {
    const { client, apiKey } = await newClient('race-co');
    const key = { 'idempotency-key': newIdempotencyKey() };
    const first = await postCsv(apiKey, 'product\nLamp\n', 'product-sheet', key);
    expect(first.status).toBe(202);
    // As if each attempt had asked before the other one's batch existed.
    const gateway = p.runtimes['gateway-b2b'].internal;
    const json = gateway.json.bind(gateway);
    const missReplay = jest.spyOn(gateway, 'json').mockImplementation(async (service, req) =>
      req.path === '/batches/replay' ? ({ batch: null } as never) : json(service, req),
    );
    try {
      const same = await postCsv(apiKey, 'product\nLamp\n', 'product-sheet', key);
      expect(same.status).toBe(200);
      expect(same.json.batch).toMatchObject({ id: first.json.batch.id, submittedRows: 1 });
      expect(await sourceKeys(client.id)).toEqual([`batches/${client.id}/${first.json.batch.id}/source.json`]);
      const other = await postCsv(apiKey, 'product\nLamp\nKettle\n', 'product-sheet', key);
      expect(other.status).toBe(409);
      expect(other.json.error.fields[0].field).toBe('header.idempotency-key');
    } finally {
      missReplay.mockRestore();
    }
    const source = JSON.parse((await p.runtimes['gateway-b2b'].storage.get('assets', `batches/${client.id}/${first.json.batch.id}/source.json`)).toString());
    expect(source.rows).toEqual([{ product: 'Lamp' }]);
  });

  test('Idempotency-Key of a batch created before fingerprints were kept: a 409 that says so, nothing stored', async () => {
    const { client, apiKey } = await newClient('legacy-co');
    const key = newIdempotencyKey();
    const theme = await p.db('themes').where({ slug: 'product-sheet' }).first();
    await p.db('batches').insert({ client_id: client.id, theme_id: theme.id, status: 'completed', source_key: 'batches/legacy/source.json', idempotency_key: key });
    const res = await postCsv(apiKey, 'product\nLamp\n', 'product-sheet', { 'idempotency-key': key });
    expect(res.status).toBe(409);
    expect(res.json.error.fields).toEqual([
      { field: 'header.idempotency-key', message: 'already used by a batch created before requests were fingerprinted; use a new key for a new batch' },
    ]);
    expect(await sourceKeys(client.id)).toEqual([]);
  });

  test('Idempotency-Key: a batch whose job could not be sent gets it from the retry of its request', async () => {
    const { apiKey } = await newClient('resend-co');
    await p.receive('batchJobs');
    const key = { 'idempotency-key': newIdempotencyKey() };
    const send = jest.spyOn(p.runtimes.order.queue, 'sendBatchJob').mockRejectedValueOnce(new Error('SQS unreachable'));
    try {
      expect((await postCsv(apiKey, 'product\nLamp\n', 'product-sheet', key)).status).toBe(503);
    } finally {
      send.mockRestore();
    }
    const retry = await postCsv(apiKey, 'product\nLamp\n', 'product-sheet', key);
    expect(retry.status).toBe(200);
    expect(retry.json.batch).toMatchObject({ status: 'pending', submittedRows: 1 });
    expect(await p.receive('batchJobs')).toEqual([{ v: 1, batchId: retry.json.batch.id }]);
    // Another request under that key never sends the batch's job.
    expect((await postCsv(apiKey, 'product\nKettle\n', 'product-sheet', key)).status).toBe(409);
    expect(await p.receive('batchJobs')).toEqual([]);
  });
});

describe('core-llm', () => {

  test('generates through the Gemini SDK, caches by prompt hash, retries 429/5xx with backoff', async () => {
    gemini.failNext(429);
    gemini.failNext(503);
    const first = await http(llm, '/generate', { method: 'POST', json: { clientId, prompt: 'Write about kettles.' } });
    expect(first.status).toBe(200);
    expect(first.json).toMatchObject({ cached: false, provider: 'gemini', model: 'gemini-2.5-flash' });
    expect(first.json.text).toContain('Write about kettles.');
    expect(gemini.calls).toHaveLength(3);
    expect(gemini.calls[2].apiKey).toBe('test-gemini-key');
    const second = await http(llm, '/generate', { method: 'POST', json: { clientId, prompt: 'Write about kettles.' } });
    expect(second.json).toMatchObject({ cached: true, text: first.json.text });
    expect(gemini.calls).toHaveLength(3);
  });

  test('a model that keeps failing is a 503, a slow one times out; the per-client rate limit answers 429', async () => {
    const limited = '6f1c1d1e-0000-4000-8000-000000000002';
    // The limit counts per clock minute: five calls that straddle a minute would start a fresh count.
    const leftInMinute = 60_000 - (Date.now() % 60_000);
    if (leftInMinute < 15_000) await new Promise((r) => setTimeout(r, leftInMinute + 50));
    gemini.failNext(500, 4);
    const down = await http(llm, '/generate', { method: 'POST', json: { clientId: limited, prompt: 'down' } });
    expect(down.status).toBe(503);
    gemini.delayNext(1000, 4);
    const slow = await http(llm, '/generate', { method: 'POST', json: { clientId: limited, prompt: 'slow' } });
    expect(slow.status).toBe(503);
    const third = await http(llm, '/generate', { method: 'POST', json: { clientId: limited, prompt: 'third' } });
    expect(third.status).toBe(200);
    const fourth = await http(llm, '/generate', { method: 'POST', json: { clientId: limited, prompt: 'fourth' } });
    expect(fourth.status).toBe(200);
    const over = await http(llm, '/generate', { method: 'POST', json: { clientId: limited, prompt: 'fifth' } });
    expect(over.status).toBe(429);
    expect(over.headers.get('retry-after')).toBeTruthy();
  }, 45000);

  test('validation names the fields; the offline provider is deterministic', async () => {
    const bad = await http(llm, '/generate', { method: 'POST', json: { clientId: 'x', prompt: '' } });
    expect(bad.json.error.fields.map((f: { field: string }) => f.field)).toEqual(['body.clientId', 'body.prompt']);
    const offline = offlineProvider('m');
    expect(await offline.generate('same prompt.')).toBe(await offline.generate('same prompt.'));
    expect(await offline.generate('a')).not.toBe(await offline.generate('b'));
  });
});

describe('dependencies down', () => {
  const serve = async (app: { callback(): never }) => {
    const { createServer } = await import('node:http');
    const server: Server = createServer(app.callback());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
  };

  test('PostgreSQL down → 503 with a clear message; Redis down → core-llm still generates, without cache', async () => {
    const config = await resolveConfig(
      readConfig({ ...p.env, DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', REDIS_URL: 'redis://127.0.0.1:1' }),
    );
    const themeRt = createRuntime('theme', config);
    const llmRt = createRuntime('core-llm', config);
    const a = await serve(themeApp(themeRt) as never);
    const b = await serve(coreLlmApp(llmRt) as never);
    try {
      const db = await http(a.url, '/themes');
      expect(db.status).toBe(503);
      expect(db.json.error.message).toMatch(/database unavailable/);
      expect(db.headers.get('retry-after')).toBe('5');
      // No cache and an in-process rate limit (functions/core-llm/store.ts): the same prompt twice is generated twice.
      for (let i = 0; i < 2; i++) {
        const degraded = await http(b.url, '/generate', { method: 'POST', json: { clientId, prompt: 'x' } });
        expect(degraded.status).toBe(200);
        expect(degraded.json).toMatchObject({ cached: false });
      }
    } finally {
      a.server.close();
      b.server.close();
      await themeRt.close();
      await llmRt.close();
    }
  });
});
