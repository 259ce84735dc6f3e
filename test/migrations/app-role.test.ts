import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import Stripe from 'stripe';
import { UsageError } from '../../core/cli';
import { DB_APP_ROLE } from '../../core/contract';
import { createDb } from '../../core/db';
import { issueApiKey } from '../../core/domain/api-keys';
import { markGenerating, markPaid, markQueued, markReady, renewLease, releaseLease } from '../../core/domain/orders';
import { createLogger } from '../../core/logger';
import { startWorker as startBatchWorker } from '../../containers/b2b-batch/worker';
import { startWorker as startDocWorker } from '../../containers/doc-generation/worker';
import type { RunningWorker } from '../../containers/shared/process';
import { AppCredentials, ensureAppLogin, scramSha256Verifier } from '../../migrations/app-role';
import { migrateLatest, migrateWithAppLogin, seed } from '../../migrations/migrate';
import * as appRoleMigration from '../../migrations/schema/20261201_005_app_role';
import { LOCAL_STRIPE_SECRET_KEY, LOCAL_STRIPE_WEBHOOK_SECRET } from '../../scripts/local/defaults';
import { startLocalPlatform, LocalPlatform } from '../../scripts/local/platform';
import { checkoutCompletedEvent } from '../../scripts/local/stand-ins/stripe';
import { http, newIdempotencyKey } from '../support/functions-platform';
import { admin, createTestDatabase, TestDatabase } from '../support/postgres';

/**
 * The application role on the machine's PostgreSQL: the migrations run as the owner (here the
 * `postgres` superuser, in AWS the RDS master), then a login of `docplatform_app` runs the whole
 * platform — the six services and both workers — and is refused every kind of DDL.
 */
const quiet = createLogger({ test: 'app-role' }, 'error', () => undefined);
const hex = () => randomBytes(4).toString('hex');
const newLogin = (): AppCredentials => ({ username: `app_test_${hex()}`, password: randomBytes(24).toString('base64url') });
const urlFor = (database: TestDatabase, c: AppCredentials) => {
  const url = new URL(database.url);
  url.username = c.username;
  url.password = c.password;
  return url.toString();
};
const dbAt = (url: string): Knex => createDb({ database: { url, port: 5432, poolMax: 2 }, secrets: {} });

/** The role's stored SCRAM verifier (pg_authid: superuser only). */
const storedVerifier = (role: string): Promise<string> =>
  admin(async (c) => (await c.query('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [role])).rows[0].rolpassword);

/**
 * Whether the role's stored verifier is the one of this password. The machine's PostgreSQL trusts
 * every local connection (pg_hba `trust`), so a login cannot tell a right password from a wrong
 * one here; the verifier recomputed with the stored salt can (and RDS checks exactly it).
 */
async function passwordMatches(c: AppCredentials): Promise<boolean> {
  const stored = await storedVerifier(c.username);
  const [, iterations, salt] = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(stored) ?? [];
  return salt !== undefined && scramSha256Verifier(c.password, Buffer.from(salt, 'base64'), Number(iterations)) === stored;
}

const logins: string[] = [];
afterAll(() => admin(async (c) => {
  for (const role of logins) await c.query(`DROP ROLE IF EXISTS ${role}`);
}));

describe('the application role', () => {
  let database: TestDatabase;
  let owner: Knex;
  let app: Knex;
  const login = newLogin();

  beforeAll(async () => {
    database = await createTestDatabase('app_role');
    owner = dbAt(database.url);
    logins.push(login.username);
    const { applied, login: made } = await migrateWithAppLogin(owner, login);
    expect(applied).toContain('20261201_005_app_role');
    expect(made).toEqual({ role: login.username, created: true });
    await seed(owner);
    app = dbAt(urlFor(database, login));
  });
  afterAll(async () => {
    await app?.destroy();
    await owner?.destroy();
    await database?.drop();
  });

  test('the login is a plain member of docplatform_app, which owns nothing; the tables stay the owner’s', async () => {
    const { rows } = await owner.raw(
      `SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, pg_has_role(rolname, ?, 'USAGE') AS member
         FROM pg_roles WHERE rolname = ?`,
      [DB_APP_ROLE, login.username],
    );
    expect(rows).toEqual([{ rolcanlogin: true, rolsuper: false, rolcreaterole: false, rolcreatedb: false, rolreplication: false, rolbypassrls: false, member: true }]);
    const owners = await owner.raw(`SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'`);
    expect(owners.rows).toEqual([{ tableowner: 'postgres' }]);
    expect((await app.raw('SELECT current_user AS u')).rows[0].u).toBe(login.username);
  });

  test('runs the order and lease transitions and the batch counters as the app role', async () => {
    const theme = await app('themes').where({ slug: 'product-sheet' }).first();
    const [client] = await app('clients').insert({ kind: 'b2c', name: 'App role', email: `app-${hex()}@example.test` }).returning('id');
    const [order] = await app('orders').insert({ client_id: client.id, theme_id: theme.id, input: { product: 'Kettle' } }).returning('id');
    expect((await markPaid(app, order.id))?.status).toBe('paid');
    expect((await markQueued(app, order.id))?.status).toBe('queued');
    const lease = { owner: '00000000-0000-4000-8000-000000000001', leaseMs: 60_000 };
    expect((await markGenerating(app, order.id, lease))?.status).toBe('generating');
    expect(await renewLease(app, order.id, lease)).toBe(true);
    expect(await releaseLease(app, order.id, lease.owner)).toBe(true);
    expect((await markGenerating(app, order.id, lease))?.generation_owner).toBe(lease.owner);
    expect((await markReady(app, order.id, `${client.id}/${order.id}.html`, lease.owner))?.status).toBe('ready');
    const locked = await app.transaction((trx) => trx('orders').where({ id: order.id }).forUpdate().first());
    expect(locked.status).toBe('ready');

    const [batch] = await app('batches').insert({ client_id: client.id, theme_id: theme.id, source_key: 'batches/x/source.csv' }).returning('id');
    await app('batches').where({ id: batch.id }).update({ status: 'processing', total_rows: 2 });
    await app('batches').where({ id: batch.id }).increment({ succeeded: 1, failed: 1 });
    expect(await app('batches').where({ id: batch.id }).first()).toMatchObject({ succeeded: 1, failed: 1 });
  });

  test.each([
    ['CREATE TABLE', 'CREATE TABLE intruder (id int)'],
    ['CREATE TABLE in another schema', 'CREATE SCHEMA intruder'],
    ['DROP TABLE orders', 'DROP TABLE orders'],
    ['ALTER TABLE', 'ALTER TABLE orders ADD COLUMN intruder int'],
    ['CREATE INDEX', 'CREATE INDEX intruder ON orders (error)'],
    ['TRUNCATE', 'TRUNCATE orders'],
    ['DELETE (nothing in the code deletes)', 'DELETE FROM orders'],
    ['read the migration bookkeeping', 'SELECT * FROM knex_migrations'],
  ])('is refused: %s', async (_what, sql) => {
    await expect(app.raw(sql)).rejects.toMatchObject({ code: '42501' });
  });

  test('cannot pass its privileges on (a GRANT without grant option grants nothing)', async () => {
    const acl = () => owner.raw(`SELECT relacl::text AS acl FROM pg_class WHERE oid = 'orders'::regclass`);
    const before = (await acl()).rows;
    await app.raw('GRANT SELECT ON orders TO PUBLIC');
    expect((await acl()).rows).toEqual(before);
  });

  test('a table a later migration creates is granted by the default privileges, its sequence too', async () => {
    await owner.raw('CREATE TABLE later_things (id serial PRIMARY KEY, label text NOT NULL)');
    try {
      const [row] = await app('later_things').insert({ label: 'a' }).returning('id');
      await app('later_things').where({ id: row.id }).update({ label: 'b' });
      expect(await app('later_things').select('label')).toEqual([{ label: 'b' }]);
      await expect(app.raw('TRUNCATE later_things')).rejects.toMatchObject({ code: '42501' });
    } finally {
      await owner.raw('DROP TABLE later_things');
    }
  });

  test('running again is a no-op for the schema and sets the password again: a new one replaces the old', async () => {
    expect(await passwordMatches(login)).toBe(true);
    const rotated = { ...login, password: randomBytes(24).toString('base64url') };
    expect(await migrateWithAppLogin(owner, rotated)).toEqual({ applied: [], login: { role: login.username, created: false } });
    expect(await passwordMatches(rotated)).toBe(true);
    expect(await passwordMatches(login)).toBe(false);
    await ensureAppLogin(owner, login);
    expect(await passwordMatches(login)).toBe(true);
  });

  test('the migration is idempotent and leaves an existing role’s login as it is', async () => {
    const before = (await owner.raw('SELECT rolcanlogin FROM pg_roles WHERE rolname = ?', [DB_APP_ROLE])).rows;
    await appRoleMigration.up(owner);
    expect((await owner.raw('SELECT rolcanlogin FROM pg_roles WHERE rolname = ?', [DB_APP_ROLE])).rows).toEqual(before);
    expect((await app('themes').count('* as n'))[0].n).not.toBe('0');
  });

  test('credentials that would take over another role, or are weak, are refused before anything changes', async () => {
    await expect(ensureAppLogin(owner, { username: 'postgres', password: 'x'.repeat(20) })).rejects.toThrow(/must not be the migration owner/);
    const privileged = `app_priv_${hex()}`;
    logins.push(privileged);
    await owner.raw(`CREATE ROLE ${privileged} CREATEDB`);
    await expect(ensureAppLogin(owner, { username: privileged, password: 'x'.repeat(20) })).rejects.toThrow(/privileged role/);
    for (const bad of [{ username: 'Robert"; DROP', password: 'x'.repeat(20) }, { username: 'pg_app', password: 'x'.repeat(20) }, { username: 'app', password: 'short' }, { username: 'app', password: `${'x'.repeat(20)} y` }]) {
      await expect(ensureAppLogin(owner, bad)).rejects.toBeInstanceOf(UsageError);
    }
    expect((await owner.raw('SELECT rolcanlogin FROM pg_roles WHERE rolname = ?', [privileged])).rows).toEqual([{ rolcanlogin: false }]);
  });

  test('the verifier computed here is the one PostgreSQL computes itself for the same password and salt', async () => {
    const role = `app_scram_${hex()}`;
    logins.push(role);
    const password = randomBytes(24).toString('base64url');
    await admin(async (c) => {
      await c.query(`SET password_encryption = 'scram-sha-256'`);
      await c.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
    });
    const own = await storedVerifier(role);
    const [, iterations, salt] = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(own)!;
    expect(scramSha256Verifier(password, Buffer.from(salt, 'base64'), Number(iterations))).toBe(own);
    expect(await storedVerifier(login.username)).not.toContain(login.password);
  });

  test('down revokes the grants in this database and keeps the role', async () => {
    const other = await createTestDatabase('app_role_down');
    const otherOwner = dbAt(other.url);
    const otherApp = dbAt(urlFor(other, login));
    try {
      await migrateLatest(otherOwner);
      expect((await otherApp('themes').count('* as n'))[0].n).toBe('0');
      await appRoleMigration.down(otherOwner);
      await expect(otherApp('themes').count('* as n')).rejects.toMatchObject({ code: '42501' });
      expect((await otherOwner.raw('SELECT 1 FROM pg_roles WHERE rolname = ?', [DB_APP_ROLE])).rows).toHaveLength(1);
    } finally {
      await otherApp.destroy();
      await otherOwner.destroy();
      await other.drop();
    }
  });
});

describe('the whole platform as the application role', () => {
  const stripe = new Stripe(LOCAL_STRIPE_SECRET_KEY);
  let database: TestDatabase;
  let owner: Knex;
  let platform: LocalPlatform;
  const workers: RunningWorker[] = [];
  const login = newLogin();

  beforeAll(async () => {
    database = await createTestDatabase('app_role_platform');
    owner = dbAt(database.url);
    logins.push(login.username);
    await migrateWithAppLogin(owner, login);
    platform = await startLocalPlatform({
      databaseUrl: database.url,
      redisKeyPrefix: `test:app_role:${hex()}:`,
      logLevel: 'error',
      env: { DATABASE_APP_URL: urlFor(database, login) },
    });
  });
  // The workers get the services' config: the same login.
  const worker = { waitTimeSeconds: 1, drainSeconds: 10 };
  const startWorkers = async () => {
    if (workers.length > 0) return;
    workers.push(await startBatchWorker({ config: platform.config, worker, logger: quiet }));
    workers.push(await startDocWorker({ config: platform.config, worker: { ...worker, concurrency: 4 }, logger: quiet }));
  };
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop()));
    await platform?.stop();
    await owner?.destroy();
    await database?.drop();
  });

  const until = async <T>(read: () => Promise<T>, done: (v: T) => boolean, ms = 30_000): Promise<T> => {
    const end = Date.now() + ms;
    for (;;) {
      const v = await read();
      if (done(v) || Date.now() > end) return v;
      await new Promise((r) => setTimeout(r, 200));
    }
  };

  test('every service and worker connects as the login, not as the owner', async () => {
    expect(platform.config.database?.url).toContain(login.username);
    const theme = await platform.runtimes.theme.db.raw('SELECT current_user AS u');
    expect(theme.rows[0].u).toBe(login.username);
  });

  test('B2C: an order is created, paid through the signed webhook, generated by the doc worker and its document served', async () => {
    const b2c = platform.urls['gateway-b2c'];
    const created = await http(b2c, '/b2c/orders', {
      method: 'POST',
      json: { email: 'ada@example.test', name: 'Ada', theme: 'product-sheet', input: { product: 'Solar kettle' } },
      headers: { 'idempotency-key': newIdempotencyKey() },
    });
    expect(created.status).toBe(201);
    const orderId = created.json.order.id;
    const row = await owner('orders').where({ id: orderId }).first();
    const payload = JSON.stringify(
      checkoutCompletedEvent({ id: row.stripe_session_id, metadata: { orderId }, client_reference_id: orderId, amount_total: row.amount_cents, currency: row.currency }),
    );
    const paid = await http(b2c, '/b2c/stripe/webhook', {
      method: 'POST',
      body: payload,
      headers: { 'content-type': 'application/json', 'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload, secret: LOCAL_STRIPE_WEBHOOK_SECRET }) },
    });
    expect(paid.json).toMatchObject({ handled: true, status: 'queued' });
    // Started after the payment: the order service sends the job before its transaction commits,
    // and a worker that reads the order before the commit leaves the message for a later receive
    // (the local queue's visibility timeout is 180 s).
    await startWorkers();
    const view = await until(
      () => http(b2c, `/b2c/orders/${orderId}?token=${created.json.accessToken}`),
      (r) => r.json?.order?.status === 'ready' || r.json?.order?.status === 'failed',
    );
    expect(view.json.order.status).toBe('ready');
    const document = await http(b2c, `/b2c/orders/${orderId}/document?token=${created.json.accessToken}`, { redirect: 'manual' });
    expect(document.status).toBe(303);
  });

  test('B2B: a CSV batch is accepted, split by the batch worker and every row generated', async () => {
    await startWorkers();
    const key = issueApiKey();
    await owner('clients').insert({ kind: 'b2b', name: 'App role B2B', email: `b2b-${hex()}@example.test`, api_key_prefix: key.prefix, api_key_hash: key.hash });
    const b2b = platform.urls['gateway-b2b'];
    const submitted = await http(b2b, '/b2b/batches?theme=product-sheet', {
      method: 'POST',
      body: 'product\nSolar kettle\nWind lamp\n',
      headers: { 'x-api-key': key.apiKey, 'content-type': 'text/csv', 'idempotency-key': newIdempotencyKey() },
    });
    expect(submitted.status).toBe(202);
    const batchId = submitted.json.batch.id;
    const batch = await until(
      () => http(b2b, `/b2b/batches/${batchId}`, { headers: { 'x-api-key': key.apiKey } }),
      (r) => ['completed', 'failed'].includes(r.json?.batch?.status),
    );
    expect(batch.json.batch).toMatchObject({ status: 'completed', succeeded: 2, failed: 0 });
  });
});
