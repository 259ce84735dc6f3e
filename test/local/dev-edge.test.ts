import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LOCAL_EDGE_SOURCE_VAR } from '../../scripts/local/defaults';
import { FIXTURE_FILES, writeFrontendFixture } from '../support/frontend-fixture';
import { DevRun, runScript, startDev } from '../support/local-dev';
import { createTestDatabase, TestDatabase } from '../support/postgres';

/**
 * `npm run dev` starts the local edge and prints it with the other URLs; with
 * LOCAL_EDGE_SOURCE=bucket it serves what `npm run publish:frontend -- --env local` put into the
 * emulator, on the same origin as the API.
 */
jest.setTimeout(120_000);

let database: TestDatabase;
let state: string;
let dist: string;
let run: DevRun | undefined;

beforeAll(async () => {
  database = await createTestDatabase('local_dev_edge');
  state = mkdtempSync(join(tmpdir(), 'dev-edge-'));
  dist = writeFrontendFixture();
});
afterAll(async () => {
  await run?.stop();
  await database.drop();
  rmSync(state, { recursive: true, force: true });
  rmSync(dist, { recursive: true, force: true });
});

test('the banner names the edge; a local publish is served there, beside /api', async () => {
  run = await startDev({ DATABASE_URL: database.url, LOCAL_STATE_DIR: state, [LOCAL_EDGE_SOURCE_VAR]: 'bucket' });
  const edge = run.urls.edge;
  expect(run.banner).toMatch(/^ {2}edge +http:\/\/127\.0\.0\.1:\d+ +\(one origin like CloudFront: front end from bucket docplatform-local-spa/m);

  const before = await fetch(`${edge}/orders/6f1c2b4e-8a3d-4c5e-9f10-1a2b3c4d5e6f`);
  expect([before.status, await before.text()]).toEqual([404, expect.stringMatching(/not published: bucket docplatform-local-spa has no index.html/)]);

  const emulatorPort = new URL(run.urls['sqs/s3']).port;
  const published = await runScript('scripts/release/publish-frontend.ts', ['--env', 'local', '--dist', dist], { EMULATOR_PORT: emulatorPort });
  expect(published).toEqual({ code: 0, output: expect.stringContaining('"msg":"frontend-published"') });

  const page = await fetch(`${edge}/orders/6f1c2b4e-8a3d-4c5e-9f10-1a2b3c4d5e6f`);
  expect([page.status, page.headers.get('cache-control'), await page.text()]).toEqual([200, 'no-cache', FIXTURE_FILES['index.html']]);
  const themes = await fetch(`${edge}/api/b2c/themes`);
  expect(themes.status).toBe(200);
  expect(((await themes.json()) as { themes: unknown[] }).themes.length).toBeGreaterThan(0);
  expect(await run.stop()).toBe(0);
  run = undefined;
});

test('a LOCAL_EDGE_SOURCE it does not know stops the start, naming the variable', async () => {
  const result = await runScript('scripts/dev.ts', [], { DATABASE_URL: database.url, LOCAL_STATE_DIR: state, [LOCAL_EDGE_SOURCE_VAR]: 'cdn' });
  expect(result.code).toBe(2);
  expect(result.output).toContain('"msg":"LOCAL_EDGE_SOURCE: must be one of folder, bucket (got \\"cdn\\")","component":"dev","field":"LOCAL_EDGE_SOURCE"');
});
