import type { Knex } from 'knex';
import { createDb } from '../../core/db';
import { RETRY_AFTER_SECONDS } from '../../core/errors';
import { classifyError } from '../../core/failures';
import { http, startTestPlatform, TestPlatform } from '../support/functions-platform';

/**
 * A statement the database ends or refuses for the moment, not for what it asks, is a 503 with
 * Retry-After, not a 500: its session terminated (the data move's cutover, an RDS reboot or
 * failover, ops ending an idle session), its statement cancelled (statement timeout, ops'
 * pg_cancel_backend), a deadlock, a serialization failure, a lock timeout. The errors are the
 * real PostgreSQL's, through the order service for the first two.
 */
let p: TestPlatform;

beforeAll(async () => {
  p = await startTestPlatform('db_interrupted');
});
afterAll(() => p?.teardown());

const sessionsWaiting = async (): Promise<number[]> =>
  (await p.db.raw(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)).rows.map((r: { pid: number }) => r.pid);

async function pendingOrder(sessionId: string) {
  const theme = await p.db('themes').where({ slug: 'cover-letter' }).first();
  const [client] = await p.db('clients').insert({ kind: 'b2c', name: 'Ada', email: `${sessionId}@example.test` }).returning('id');
  const [order] = await p.db('orders')
    .insert({ client_id: client.id, theme_id: theme.id, status: 'pending', input: {}, stripe_session_id: sessionId, amount_cents: theme.price_cents, currency: 'eur' })
    .returning(['id', 'amount_cents']);
  return order as { id: string; amount_cents: number };
}

describe("the order service's statement ended while it waits for the order's row lock", () => {
  test.each([
    ['its session terminated (pg_terminate_backend)', 'pg_terminate_backend'],
    ['its statement cancelled (pg_cancel_backend, as a statement timeout does)', 'pg_cancel_backend'],
  ])('%s: a 503 with Retry-After, and the payment goes through once asked again', async (_, end) => {
    const sessionId = `cs_test_${end}`;
    const order = await pendingOrder(sessionId);
    const paid = () => http(p.urls.order, `/orders/${order.id}/paid`, { method: 'POST', json: { sessionId, amountTotal: order.amount_cents, currency: 'eur' } });
    const holder = await p.db.transaction();
    try {
      await holder('orders').where({ id: order.id }).forUpdate();
      const answer = paid();
      let waiting: number[] = [];
      for (let i = 0; i < 100 && waiting.length === 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
        waiting = await sessionsWaiting();
      }
      expect(waiting).toHaveLength(1);
      await p.db.raw(`SELECT ${end}(?)`, [waiting[0]]);
      const res = await answer;
      expect({ status: res.status, code: res.json.error?.code, retryAfter: res.headers.get('retry-after') }).toEqual({
        status: 503,
        code: 'service_unavailable',
        retryAfter: String(RETRY_AFTER_SECONDS),
      });
    } finally {
      await holder.rollback();
    }
    const again = await paid();
    expect({ status: again.status, jobSent: again.json.jobSent, orderStatus: again.json.order?.status }).toEqual({ status: 200, jobSent: true, orderStatus: 'queued' });
  });
});

describe('conflicts PostgreSQL resolves by ending one statement', () => {
  let a: Knex;
  let b: Knex;
  beforeAll(async () => {
    a = createDb({ database: { url: p.database.url, port: 5432, poolMax: 1 }, secrets: {} });
    b = createDb({ database: { url: p.database.url, port: 5432, poolMax: 1 }, secrets: {} });
    await a.raw('CREATE TABLE conflict_rows (id int PRIMARY KEY, n int NOT NULL)');
    await a.raw('INSERT INTO conflict_rows VALUES (1, 0), (2, 0)');
  });
  afterAll(async () => {
    await a?.destroy();
    await b?.destroy();
  });

  const failureOf = async (work: () => Promise<unknown>): Promise<unknown> => {
    const outcomes = await Promise.allSettled([work()]);
    return outcomes[0].status === 'rejected' ? outcomes[0].reason : undefined;
  };

  test('a deadlock (40P01): a 503', async () => {
    const ta = await a.transaction();
    const tb = await b.transaction();
    await ta('conflict_rows').where({ id: 1 }).update({ n: 1 });
    await tb('conflict_rows').where({ id: 2 }).update({ n: 1 });
    const first = ta('conflict_rows').where({ id: 2 }).update({ n: 2 });
    await new Promise((r) => setTimeout(r, 200));
    const settled = await Promise.allSettled([first, tb('conflict_rows').where({ id: 1 }).update({ n: 2 })]);
    const err = settled.find((s) => s.status === 'rejected') as PromiseRejectedResult;
    await Promise.allSettled([ta.rollback(), tb.rollback()]);
    expect((err.reason as { code?: string }).code).toBe('40P01');
    expect(classifyError(err.reason).status).toBe(503);
  });

  test('a serialization failure (40001): a 503', async () => {
    const ta = await a.transaction({ isolationLevel: 'repeatable read' });
    const tb = await b.transaction({ isolationLevel: 'repeatable read' });
    await ta('conflict_rows').where({ id: 1 }).first();
    await tb('conflict_rows').where({ id: 1 }).update({ n: 3 });
    await tb.commit();
    const err = await failureOf(() => ta('conflict_rows').where({ id: 1 }).update({ n: 4 }));
    await ta.rollback().catch(() => undefined);
    expect((err as { code?: string }).code).toBe('40001');
    expect(classifyError(err).status).toBe(503);
  });

  test('a lock timeout (55P03): a 503', async () => {
    const ta = await a.transaction();
    const tb = await b.transaction();
    await ta('conflict_rows').where({ id: 1 }).forUpdate();
    await tb.raw(`SET LOCAL lock_timeout = '100ms'`);
    const err = await failureOf(() => tb('conflict_rows').where({ id: 1 }).forUpdate());
    await Promise.allSettled([ta.rollback(), tb.rollback()]);
    expect((err as { code?: string }).code).toBe('55P03');
    expect(classifyError(err).status).toBe(503);
  });
});
