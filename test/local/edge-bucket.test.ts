import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { LOCAL_FRONTEND_BUCKET } from '../../scripts/local/defaults';
import { frontendSource } from '../../scripts/local/edge/frontend-source';
import { LocalEdge, startLocalEdge } from '../../scripts/local/edge/server';
import { LocalEmulator, startLocalEmulator } from '../../scripts/local/emulator';
import { main as publishFrontend } from '../../scripts/release/publish-frontend';
import { OPENAPI_PATH } from '../../scripts/openapi/document';
import { writeFrontendFixture } from '../support/frontend-fixture';

/**
 * Published like production: `publish:frontend -- --env local` puts a build into the emulator's
 * bucket with the production headers, and the local edge reading that bucket answers what it
 * answers from the folder: same status, Content-Type, Cache-Control, ETag and bytes.
 */
let emulator: LocalEmulator;
let dist: string;
let folder: LocalEdge;
let bucket: LocalEdge;
const previousPort = process.env.EMULATOR_PORT;

beforeAll(async () => {
  emulator = await startLocalEmulator({ buckets: [LOCAL_FRONTEND_BUCKET] });
  dist = writeFrontendFixture();
  process.env.EMULATOR_PORT = String(emulator.port);
  expect(await publishFrontend(['--env', 'local', '--dist', dist])).toBe(0);
  // The API is not this test's subject: nothing listens there.
  const common = { gateways: { b2c: 'http://127.0.0.1:9', b2b: 'http://127.0.0.1:9' }, openApiFile: join(__dirname, '..', '..', OPENAPI_PATH) };
  folder = await startLocalEdge({ ...common, frontend: frontendSource('folder', emulator.endpoint, dist) });
  bucket = await startLocalEdge({ ...common, frontend: frontendSource('bucket', emulator.endpoint) });
});

afterAll(async () => {
  if (previousPort === undefined) delete process.env.EMULATOR_PORT;
  else process.env.EMULATOR_PORT = previousPort;
  await folder?.close();
  await bucket?.close();
  await emulator?.stop();
  rmSync(dist, { recursive: true, force: true });
});

const answer = async (edge: LocalEdge, path: string) => {
  const res = await fetch(edge.url + path);
  const headers = ['content-type', 'cache-control', 'etag', 'content-security-policy', 'strict-transport-security'].map((h) => [h, res.headers.get(h)]);
  return { status: res.status, headers: Object.fromEntries(headers), body: Buffer.from(await res.arrayBuffer()).toString('base64') };
};

test.each(['/', '/orders/6f1c2b4e-8a3d-4c5e-9f10-1a2b3c4d5e6f', '/main-X7KQ2ZPA.js', '/styles-5INURTSO.css', '/favicon.ico', '/media/logo-ABCD2345.svg', '/main-NOPE1234.js'])(
  'bucket mode answers %s as folder mode does',
  async (path) => {
    const fromBucket = await answer(bucket, path);
    expect(fromBucket).toEqual(await answer(folder, path));
    expect(fromBucket.status).toBe(path === '/main-NOPE1234.js' ? 403 : 200);
  },
);

test('--env takes only local, naming the option (exit 2 by the CLI)', async () => {
  await expect(publishFrontend(['--env', 'prod', '--dist', dist])).rejects.toThrow(/^--env: only "local"/);
});

test('a byte range, and one past the end, are answered from the bucket as from the folder', async () => {
  const ranged = async (edge: LocalEdge, range: string) => {
    const res = await fetch(`${edge.url}/main-X7KQ2ZPA.js`, { headers: { range } });
    return { status: res.status, range: res.headers.get('content-range'), etag: res.headers.get('etag'), body: await res.text() };
  };
  for (const range of ['bytes=2-5', 'bytes=-3', 'bytes=100000-']) expect(await ranged(bucket, range)).toEqual(await ranged(folder, range));
  expect((await ranged(bucket, 'bytes=2-5')).status).toBe(206);
});
