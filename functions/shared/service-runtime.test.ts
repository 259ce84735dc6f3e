import { readConfig, resolveConfig } from '../../core/config';
import { createDb } from '../../core/db';
import { createStorage } from '../../core/storage';
import { composeRuntime } from './service-runtime';

/** A service that composes `db` fails when its runtime is composed (Lambda init), not at its first query; one that does not needs no database. */
test('composing db without database settings fails at start, naming the variables; a service without db starts without them', async () => {
  const config = await resolveConfig(readConfig({}), async (arn) => {
    throw new Error(`fetched ${arn}`);
  });
  expect(() => composeRuntime('theme', config, { db: createDb })).toThrow(
    'invalid configuration: DATABASE_URL is required (or DB_HOST, DB_NAME and DB_SECRET_ARN together)',
  );
  const gateway = composeRuntime('gateway-b2b', config, { storage: (c) => createStorage(c) });
  expect(gateway.service).toBe('gateway-b2b');
  await gateway.close();
});
