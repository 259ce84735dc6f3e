import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DevRun, startDev } from '../support/local-dev';
import { createTestDatabase, TestDatabase } from '../support/postgres';

/**
 * `npm run dev` against a DATABASE_URL that carries a password (the local server trusts any,
 * so the run itself is real): the banner names the database, user and host, and nothing it
 * prints holds the password.
 */
jest.setTimeout(120_000);

const PASSWORD = 'Dev-Pa55word-in-url';
let database: TestDatabase;
let state: string;
let run: DevRun | undefined;

beforeAll(async () => {
  database = await createTestDatabase('sec_dev_banner');
  state = mkdtempSync(join(tmpdir(), 'dev-banner-'));
});
afterAll(async () => {
  await run?.stop();
  await database.drop();
  rmSync(state, { recursive: true, force: true });
});

test("the banner names the database of a DATABASE_URL with a password, without the password", async () => {
  const url = new URL(database.url);
  url.password = PASSWORD;
  run = await startDev({ DATABASE_URL: url.toString(), LOCAL_STATE_DIR: state });
  expect(run.banner).toMatch(new RegExp(`^ {2}database +postgres://${url.username}:\\[redacted\\]@${url.host}${url.pathname}`, 'm'));
  expect(await run.stop()).toBe(0);
  expect(run.output()).not.toContain(PASSWORD);
  run = undefined;
});
