import { createDb } from '../../core/db';
import { DependencyUnavailableError } from '../../core/failures';
import { createTestDatabase, type TestDatabase } from '../support/postgres';

/**
 * A database that cannot be reached is one 503 for the caller, whatever the driver said; the
 * error's message (what the service logs and a CLI prints, redacted) keeps the driver's reason,
 * so ops can tell a stopped server from a refused login or a missing database.
 */
let existing: TestDatabase;
beforeAll(async () => {
  existing = await createTestDatabase('db_reason');
});
afterAll(() => existing?.drop());

async function failureOf(url: string): Promise<DependencyUnavailableError> {
  const db = createDb({ database: { url, port: 5432, poolMax: 1 }, secrets: {} });
  try {
    await db.raw('SELECT 1');
    throw new Error('the query succeeded');
  } catch (err) {
    expect(err).toBeInstanceOf(DependencyUnavailableError);
    return err as DependencyUnavailableError;
  } finally {
    await db.destroy();
  }
}

test('a stopped server: the message names the refused connection, the answer does not', async () => {
  const err = await failureOf('postgres://postgres@127.0.0.1:1/none');
  expect(err.message).toMatch(/ECONNREFUSED/);
  expect(err.answer).toBe('database unavailable, please retry shortly (Error)');
});

test('a database that does not exist: the message says so (3D000), the answer stays generic', async () => {
  const missing = new URL(existing.url);
  missing.pathname = '/db_reason_does_not_exist';
  const err = await failureOf(missing.toString());
  expect(err.message).toMatch(/3D000: database "db_reason_does_not_exist" does not exist/);
  expect(err.answer).not.toMatch(/does not exist/);
});
