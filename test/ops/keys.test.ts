import { randomBytes } from 'node:crypto';
import knex, { Knex } from 'knex';
import { DB_APP_ROLE } from '../../core/contract';
import { addApiKey, authenticateApiKey, MAX_WORKING_KEYS } from '../../core/domain/api-keys';
import { migrateLatest } from '../../migrations/migrate';
import { main } from '../../scripts/ops/cli';
import { admin, createTestDatabase, TestDatabase } from '../support/postgres';

/**
 * `npm run ops -- keys list|rotate|revoke` on the real PostgreSQL, logged in as a member of the
 * application role (as through the docplatform-<env>-db-app secret): the new key of a rotation
 * is on stdout once and in no log line, the old key keeps working until the expiry asked, a
 * revoked key stops authenticating at once, and bad input exits 2 naming the field.
 */
let database: TestDatabase;
let owner: Knex;
let appUrl: string;
const login = `keys_ops_${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  database = await createTestDatabase('ops_keys');
  owner = knex({ client: 'pg', connection: database.url });
  await migrateLatest(owner);
  await admin((c) => c.query(`CREATE ROLE ${login} LOGIN IN ROLE ${DB_APP_ROLE}`));
  const url = new URL(database.url);
  url.username = login;
  appUrl = url.toString();
});
afterAll(async () => {
  await owner?.destroy();
  await database?.drop();
  await admin((c) => c.query(`DROP ROLE IF EXISTS ${login}`));
});

const ops = async (...argv: string[]) => {
  let out = '';
  const lines: string[] = [];
  const code = await main([...argv, '--env', 'dev', '--database-url', appUrl], { stdout: (t) => void (out += t), logSink: (l) => void lines.push(l), env: {} });
  let json: any;
  try {
    json = JSON.parse(out);
  } catch {
    json = undefined;
  }
  const logs = lines.map((l) => (l.startsWith('{') ? JSON.parse(l) : { usage: l }));
  return { code, out, json, lines, logs, error: logs.find((l) => l.level === 'error') };
};

const newClient = async (name: string) => {
  const [client] = await owner('clients').insert({ kind: 'b2b', name, email: `${name}@example.test` }).returning('id');
  const { apiKey, key } = await addApiKey(owner, client.id);
  return { id: client.id as string, apiKey, prefix: key.prefix };
};

test('rotate: the new key on stdout once and in no log line; both keys work until the old one expires; list shows them', async () => {
  const client = await newClient('ops-rotate');
  const rotated = await ops('keys', 'rotate', '--client', client.id, '--old-key-expires-in', '2h');
  expect(rotated.code).toBe(0);
  const newKey: string = rotated.json.apiKey;
  expect(newKey).toMatch(/^dpk_[a-f0-9]{12}_/);
  expect(rotated.out.split(newKey)).toHaveLength(2);
  expect(rotated.lines.join('\n')).not.toContain(newKey.split('_')[2]);
  expect(rotated.logs.find((l) => l.msg === 'api key issued')).toMatchObject({ clientId: client.id, keyPrefix: rotated.json.key.prefix, oldKeys: [{ keyPrefix: client.prefix }] });
  const expiresIn = Date.parse(rotated.json.oldKeys[0].expiresAt) - Date.now();
  expect(expiresIn).toBeGreaterThan(2 * 3600_000 - 120_000);
  expect(expiresIn).toBeLessThanOrEqual(2 * 3600_000);

  expect((await authenticateApiKey(owner, client.apiKey))?.client.id).toBe(client.id);
  expect((await authenticateApiKey(owner, newKey))?.client.id).toBe(client.id);

  const listed = await ops('keys', 'list', '--client', client.id);
  expect(listed.code).toBe(0);
  expect(listed.json.keys.map((k: { prefix: string; state: string }) => [k.prefix, k.state])).toEqual([
    [rotated.json.key.prefix, 'active'],
    [client.prefix, 'expiring'],
  ]);
  expect(listed.out).not.toMatch(/hash|dpk_/);
  const table = await ops('keys', 'list', '--client', client.id, '--format', 'table');
  expect(table.out).toMatch(new RegExp(`${client.prefix}\\s+expiring`));

  const tableRotation = await ops('keys', 'rotate', '--client', client.id, '--format', 'table');
  expect(tableRotation.code).toBe(0);
  expect(tableRotation.out.split('\n')[1]).toMatch(/^dpk_[a-f0-9]{12}_[A-Za-z0-9_-]{43}$/);
  expect((await authenticateApiKey(owner, tableRotation.out.split('\n')[1]))?.client.id).toBe(client.id);
});

test('revoke: the key stops authenticating at once; again is not an error; a whole key given is refused and not echoed', async () => {
  const client = await newClient('ops-revoke');
  const revoked = await ops('keys', 'revoke', '--prefix', client.prefix);
  expect(revoked.code).toBe(0);
  expect(revoked.json).toMatchObject({ clientId: client.id, alreadyRevoked: false, key: { prefix: client.prefix, state: 'revoked' } });
  expect(revoked.logs.find((l) => l.msg === 'api key revoked')).toMatchObject({ clientId: client.id, keyPrefix: client.prefix });
  expect(await authenticateApiKey(owner, client.apiKey)).toBeUndefined();

  const again = await ops('keys', 'revoke', '--prefix', `dpk_${client.prefix}`);
  expect(again.code).toBe(0);
  expect(again.json).toMatchObject({ alreadyRevoked: true, key: { revokedAt: revoked.json.key.revokedAt } });

  const other = await newClient('ops-whole-key');
  const whole = await ops('keys', 'revoke', '--prefix', other.apiKey);
  expect(whole.code).toBe(2);
  expect(whole.error).toMatchObject({ field: '--prefix' });
  expect(whole.lines.join('\n')).not.toContain(other.apiKey.split('_')[2]);
  expect((await authenticateApiKey(owner, other.apiKey))?.client.id).toBe(other.id);
});

test('bad input exits 2 naming the field, before anything is written', async () => {
  const client = await newClient('ops-bad');
  const cases: [string[], string][] = [
    [['keys', 'list'], '--client'],
    [['keys', 'list', '--client', 'nope'], '--client'],
    [['keys', 'list', '--client', '6f1c1d1e-0000-4000-8000-00000000dead'], '--client'],
    [['keys', 'list', '--client', client.id, '--prefix', client.prefix], '--prefix'],
    [['keys', 'rotate', '--client', client.id, '--old-key-expires-in', 'soon'], '--old-key-expires-in'],
    [['keys', 'rotate', '--client', client.id, '--old-key-expires-in', '31d'], '--old-key-expires-in'],
    [['keys', 'rotate', '--client', client.id, '--old-key-expires-in', '0s'], '--old-key-expires-in'],
    [['keys', 'rotate', '--client', '6f1c1d1e-0000-4000-8000-00000000dead'], '--client'],
    [['keys', 'revoke'], '--prefix'],
    [['keys', 'revoke', '--prefix', 'XYZ'], '--prefix'],
    [['keys', 'revoke', '--prefix', 'abcdefabcdef'], '--prefix'],
    [['keys', 'revoke', '--prefix', client.prefix, 'extra'], 'arguments'],
  ];
  for (const [argv, field] of cases) {
    const run = await ops(...argv);
    expect([argv.join(' '), run.code, run.error?.field]).toEqual([argv.join(' '), 2, field]);
    expect(run.out).toBe('');
  }
  expect(await owner('api_keys').where({ client_id: client.id }).select('prefix', 'expires_at', 'revoked_at')).toEqual([{ prefix: client.prefix, expires_at: null, revoked_at: null }]);
});

test(`past ${MAX_WORKING_KEYS} working keys a rotation fails (exit 1) and says to revoke one`, async () => {
  const client = await newClient('ops-many');
  for (let i = 1; i < MAX_WORKING_KEYS; i++) expect((await ops('keys', 'rotate', '--client', client.id)).code).toBe(0);
  const refused = await ops('keys', 'rotate', '--client', client.id);
  expect(refused.code).toBe(1);
  expect(refused.error?.msg ?? JSON.stringify(refused.error)).toMatch(/working keys: revoke one/);
});
