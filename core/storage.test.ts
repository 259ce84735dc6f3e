import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DependencyUnavailableError } from './failures';
import { createStorage } from './storage';

/**
 * S3's answers to a HEAD that the local emulator does not give: 403 for a missing key to a caller
 * that may read but not list (AWS's rule, the gateways' case), and no answer at all.
 */
let server: Server;
let endpoint: string;
const answer = new Map<string, number | 'never'>();

beforeAll(async () => {
  process.env.AWS_ACCESS_KEY_ID ??= 'test';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
  server = createServer((req, res) => {
    const status = answer.get(req.url!.split('?')[0]) ?? 500;
    if (status !== 'never') res.writeHead(status).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(resolve));
});

const storage = () =>
  createStorage({ aws: { region: 'eu-west-3', endpoint, s3ForcePathStyle: true } } as never);

test('a HEAD answered 200 is readable; 404, and the 403 S3 gives a caller that may not list, are not', async () => {
  answer.set('/reports/here.pdf', 200).set('/reports/gone.pdf', 404).set('/reports/unlisted.pdf', 403);
  const s = storage();
  expect(await s.readable('reports', 'here.pdf', 2_000)).toBe(true);
  expect(await s.readable('reports', 'gone.pdf', 2_000)).toBe(false);
  expect(await s.readable('reports', 'unlisted.pdf', 2_000)).toBe(false);
});

test('a HEAD S3 does not answer is a storage 503 within its bound, not a wait for the Lambda timeout', async () => {
  answer.set('/reports/hung.pdf', 'never');
  const started = Date.now();
  const err = await storage().readable('reports', 'hung.pdf', 300).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(DependencyUnavailableError);
  expect(err).toMatchObject({ dependency: 'storage', answer: 'storage unavailable, please retry shortly' });
  expect(Date.now() - started).toBeLessThan(2_000);
});
