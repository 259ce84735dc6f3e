import { Client } from 'pg';
import { http, newIdempotencyKey, startTestPlatform, TestPlatform } from '../support/functions-platform';
import { until } from '../support/workers-harness';

/**
 * Two first requests racing under one Idempotency-Key, on the order service and the real
 * PostgreSQL: both find no order under the key, and meet at the B2C client's row, which a third
 * session holds locked until both wait on it. The one that inserts the order first is the
 * order; the other answers 200 with it when it is the same request, 409 when it is another, and
 * then writes nothing: neither the client's name (the upsert of the B2C client by email) nor a
 * client of its own for another email.
 */
let p: TestPlatform;

beforeAll(async () => {
  // In AWS the two requests are two execution environments; here one process, so a pool that lets them meet.
  p = await startTestPlatform('fn_idem_race', { DB_POOL_MAX: '4' });
}, 60_000);
afterAll(() => p?.teardown());

const create = (idempotencyKey: string, email: string, name: string) =>
  http(p.urls.order, '/orders/b2c', { method: 'POST', json: { idempotencyKey, email, name, theme: 'product-sheet', input: { product: 'Raced kettle' } } });

/** Until `n` sessions wait on a lock (asked outside the holder's transaction, whose view of pg_stat_activity stays as it first read it). */
const lockWaiters = (n: number) =>
  until(
    async () => ((await p.db.raw(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)).rows[0].n as number) >= n,
    10_000,
    `${n} requests waiting on a lock`,
  );

/** Runs the requests while a third session holds `email`'s client row, released once `waiting` sessions wait for it. */
async function racingAt(email: string, waiting: number, requests: () => Array<ReturnType<typeof create>>) {
  const holder = new Client({ connectionString: p.database.url });
  await holder.connect();
  try {
    await holder.query('BEGIN');
    await holder.query(`SELECT 1 FROM clients WHERE lower(email) = lower($1) AND kind = 'b2c' FOR UPDATE`, [email]);
    const answers = Promise.all(requests());
    await lockWaiters(waiting);
    await holder.query('COMMIT');
    return await answers;
  } finally {
    await holder.end();
  }
}

test('the same request twice: one order, created once, the other answer is that order', async () => {
  const email = 'same-race@example.test';
  await p.db('clients').insert({ kind: 'b2c', name: 'Same', email });
  const key = newIdempotencyKey();
  const answers = await racingAt(email, 2, () => [create(key, email, 'Same'), create(key, email, 'Same')]);
  expect(answers.map((a) => a.status).sort()).toEqual([200, 201]);
  expect(new Set(answers.map((a) => a.json.order.id)).size).toBe(1);
  expect(await p.db('orders').where({ idempotency_key: key }).count()).toEqual([{ count: '1' }]);
});

test("another request under the same key: a 409 that leaves the winner's client as it was", async () => {
  const email = 'other-race@example.test';
  await p.db('clients').insert({ kind: 'b2c', name: 'Before', email });
  const key = newIdempotencyKey();
  const answers = await racingAt(email, 2, () => [create(key, email, 'First name'), create(key, email, 'Second name')]);
  expect(answers.map((a) => a.status).sort()).toEqual([201, 409]);
  const won = answers.find((a) => a.status === 201)!;
  // Whichever won, its name is the client's: the refused request's upsert, which ran after it, is undone.
  const wonName = won === answers[0] ? 'First name' : 'Second name';
  const order = await p.db('orders').where({ idempotency_key: key }).first();
  expect(order.id).toBe(won.json.order.id);
  expect((await p.db('clients').where({ id: order.client_id }).first()).name).toBe(wonName);
  expect(await p.db('clients').whereRaw('lower(email) = ?', [email]).count()).toEqual([{ count: '1' }]);
});

test('another request under the same key with another email: the 409 leaves no client of its own behind', async () => {
  const stray = 'stray-race@example.test';
  const key = newIdempotencyKey();
  // A third session is inserting the stray email's client: the stray request, past its lookup of
  // the key, waits on it while the other request makes the order; then that insert is rolled back.
  const holder = new Client({ connectionString: p.database.url });
  await holder.connect();
  try {
    await holder.query('BEGIN');
    await holder.query(`INSERT INTO clients (kind, name, email) VALUES ('b2c', 'Holder', $1)`, [stray]);
    const refused = create(key, stray, 'Stray');
    await lockWaiters(1);
    const won = await create(key, 'winner-race@example.test', 'Winner');
    expect(won.status).toBe(201);
    await holder.query('ROLLBACK');
    expect((await refused).status).toBe(409);
  } finally {
    await holder.end();
  }
  expect(await p.db('clients').whereRaw('lower(email) = ?', [stray]).count()).toEqual([{ count: '0' }]);
});
