import { readConfig, requireDatabase, resolveConfig } from './config';
import { ConfigError } from './errors';
import { createDb } from './db';

/**
 * Database settings are optional: a service that never connects (the gateways, core-llm) is given
 * none and reads no database secret; one that connects fails at start naming the variables.
 */
const RDS = { DB_HOST: 'db.example.internal', DB_NAME: 'docplatform', DB_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-3:123456789012:secret:docplatform-dev-db-app-AbCdEf' };
const noFetch = async (arn: string): Promise<string> => {
  throw new Error(`fetched ${arn}`);
};

test('no database variable: no database settings, and no database secret is read', async () => {
  const config = readConfig({ GEMINI_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-3:123456789012:secret:gemini' });
  expect(config.database).toBeUndefined();
  const fetched: string[] = [];
  const resolved = await resolveConfig(config, async (arn) => (fetched.push(arn), 'key'));
  expect(fetched).toEqual(['arn:aws:secretsmanager:eu-west-3:123456789012:secret:gemini']);
  expect(resolved.secrets.databaseCredentials).toBeUndefined();
});

test('DB_HOST, DB_NAME and DB_SECRET_ARN go together: a partial set names what is missing', () => {
  expect(() => readConfig({ DB_HOST: RDS.DB_HOST })).toThrow(new ConfigError('invalid configuration: DB_NAME, DB_SECRET_ARN: required with DB_HOST (or set DATABASE_URL)'));
  expect(() => readConfig({ DB_HOST: RDS.DB_HOST, DB_SECRET_ARN: RDS.DB_SECRET_ARN })).toThrow(/DB_NAME: required with DB_HOST, DB_SECRET_ARN/);
  expect(readConfig(RDS).database).toMatchObject({ host: RDS.DB_HOST, name: RDS.DB_NAME, secretArn: RDS.DB_SECRET_ARN, port: 5432, poolMax: 5 });
});

test('the RDS settings read the login of DB_SECRET_ARN at start', async () => {
  const resolved = await resolveConfig(readConfig(RDS), async () => JSON.stringify({ username: 'docplatform_app', password: 'p'.repeat(20) }));
  expect(resolved.secrets.databaseCredentials).toEqual({ username: 'docplatform_app', password: 'p'.repeat(20) });
});

test('DATABASE_APP_URL, when given, is what the process connects with; DATABASE_URL stays the owner’s', () => {
  const owner = 'postgres://postgres@127.0.0.1:5432/docplatform';
  const app = 'postgres://app_login:0123456789abcdef@127.0.0.1:5432/docplatform';
  expect(readConfig({ DATABASE_URL: owner }).database?.url).toBe(owner);
  expect(readConfig({ DATABASE_URL: owner, DATABASE_APP_URL: app }).database?.url).toBe(app);
  expect(() => readConfig({ DATABASE_APP_URL: 'mysql://x' })).toThrow(/DATABASE_APP_URL/);
});

test('a client that connects fails at start without database settings, naming the variables', async () => {
  const config = await resolveConfig(readConfig({}), noFetch);
  const message = 'invalid configuration: DATABASE_URL is required (or DB_HOST, DB_NAME and DB_SECRET_ARN together)';
  expect(() => requireDatabase(config)).toThrow(new ConfigError(message));
  expect(() => createDb(config)).toThrow(message);
});
