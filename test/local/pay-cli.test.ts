import { randomUUID } from 'node:crypto';
import { createDb } from '../../core/db';
import { migrateLatest } from '../../migrations/migrate';
import { runScript } from '../support/local-dev';
import { createTestDatabase, TestDatabase } from '../support/postgres';

/**
 * `npm run local:pay -- <orderId>` with a UUID that is no order's (a copy of the wrong id, an
 * order of another database): exit 2 naming orderId, as `npm run ops` says of an id that names no
 * order. It was exit 1, the code's failure.
 */
let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase('local_pay_cli');
  const db = createDb({ database: { url: database.url, port: 5432, poolMax: 1 }, secrets: {} });
  try {
    await migrateLatest(db);
  } finally {
    await db.destroy();
  }
}, 60_000);
afterAll(() => database.drop());

test('an order id that names no order: exit 2 naming orderId, nothing sent', async () => {
  const id = randomUUID();
  // Nothing listens on port 9: a webhook sent would fail otherwise.
  const result = await runScript('scripts/local/pay.ts', [id], { DATABASE_URL: database.url, SERVICE_URL_GATEWAY_B2C: 'http://127.0.0.1:9' });
  expect(result.code).toBe(2);
  const line = JSON.parse(result.output.split('\n').find((l) => l.startsWith('{'))!);
  expect(line).toMatchObject({ level: 'error', field: 'orderId', msg: expect.stringContaining(id) });
}, 30_000);
