import type { Knex } from 'knex';
import { DB_APP_ROLE } from '../../core/contract';
import { createDb } from '../../core/db';
import { REQUEST_ID_PATTERN } from '../../core/internal-api';
import { migrateLatest, seed } from '../../migrations/migrate';
import * as orderRequestId from '../../migrations/schema/20261201_006_order_request_id';
import { createTestDatabase, TestDatabase } from '../support/postgres';

/**
 * `orders.request_id` (20261201_006): the creating request's id, in the format every hop accepts
 * (REQUEST_ID_PATTERN), written by the app role at INSERT and never changed after, by it or by
 * the owner; orders older than the column keep NULL, and `down` leaves the table as it was.
 */
let database: TestDatabase;
let owner: Knex;
let themeId: string;
let clientId: string;

beforeAll(async () => {
  database = await createTestDatabase('order_request_id');
  owner = createDb({ database: { url: database.url, port: 5432, poolMax: 2 }, secrets: {} });
  expect(await migrateLatest(owner)).toContain('20261201_006_order_request_id');
  await seed(owner);
  themeId = (await owner('themes').where({ slug: 'product-sheet' }).first()).id;
  [{ id: clientId }] = await owner('clients').insert({ kind: 'b2c', name: 'Request id', email: 'request-id@example.test' }).returning('id');
});
afterAll(async () => {
  await owner?.destroy();
  await database?.drop();
});

/** As the services run: the application role, DML only. */
const asApp = <T>(work: (trx: Knex.Transaction) => Promise<T>): Promise<T> =>
  owner.transaction(async (trx) => {
    await trx.raw(`SET LOCAL ROLE ${DB_APP_ROLE}`);
    return work(trx);
  });

const insertOrder = (trx: Knex, requestId: string | null) =>
  trx('orders').insert({ client_id: clientId, theme_id: themeId, input: { product: 'Kettle' }, request_id: requestId }).returning(['id', 'request_id']);

const pgError = (work: Promise<unknown>) =>
  work.then(
    () => undefined,
    (err: { code?: string; constraint?: string; message: string }) => ({ code: err.code, constraint: err.constraint, message: err.message }),
  );

test('the app role stores an id of the accepted format, up to 128 characters, or none', async () => {
  for (const id of ['req-1', 'trace:1.67a_x', 'a'.repeat(128), '0f8e6b2c-7d1a-4c3e-9b5f-2a6d8c4e1f00']) {
    expect(REQUEST_ID_PATTERN.test(id)).toBe(true);
    const [row] = await asApp((trx) => insertOrder(trx, id));
    expect(row.request_id).toBe(id);
  }
  const [none] = await asApp((trx) => insertOrder(trx, null));
  expect(none.request_id).toBeNull();
});

test('an id the gateway would refuse is refused by the table too', async () => {
  for (const id of ['', 'a'.repeat(129), 'two words', 'semi;colon', 'é']) {
    expect(REQUEST_ID_PATTERN.test(id)).toBe(false);
    expect(await pgError(asApp((trx) => insertOrder(trx, id)))).toMatchObject({ code: '23514', constraint: 'orders_request_id_check' });
  }
});

test('it never changes once the order exists, whoever asks; the rest of the row still moves', async () => {
  const [order] = await asApp((trx) => insertOrder(trx, 'req-created'));
  const [old] = await asApp((trx) => insertOrder(trx, null));
  await asApp((trx) => trx('orders').where({ id: order.id }).update({ status: 'paid', request_id: 'req-created', updated_at: trx.fn.now() }));
  expect(await owner('orders').where({ id: order.id }).first('status', 'request_id')).toEqual({ status: 'paid', request_id: 'req-created' });

  const refused = { code: '23514', message: expect.stringContaining(`orders.request_id of order ${order.id} cannot change`) };
  expect(await pgError(asApp((trx) => trx('orders').where({ id: order.id }).update({ request_id: 'req-webhook' })))).toMatchObject(refused);
  expect(await pgError(owner('orders').where({ id: order.id }).update({ request_id: null }))).toMatchObject(refused);
  // An order older than the column is not given one afterwards: its creating request is unknown.
  expect(await pgError(asApp((trx) => trx('orders').where({ id: old.id }).update({ request_id: 'req-later' })))).toMatchObject({ code: '23514' });
  expect(await owner('orders').whereIn('id', [order.id, old.id]).orderBy('request_id').pluck('request_id')).toEqual(['req-created', null]);
});

test('down drops the column, its check, index and trigger; up again leaves the existing orders NULL', async () => {
  const before = Number((await owner('orders').count<{ n: string }[]>('* as n'))[0].n);
  await orderRequestId.down(owner);
  expect(await owner.schema.hasColumn('orders', 'request_id')).toBe(false);
  const leftovers = await owner.raw(
    `SELECT (SELECT count(*) FROM pg_trigger WHERE tgname = 'orders_request_id_immutable')
          + (SELECT count(*) FROM pg_proc WHERE proname = 'orders_request_id_immutable')
          + (SELECT count(*) FROM pg_class WHERE relname = 'orders_request_id')
          + (SELECT count(*) FROM pg_constraint WHERE conname = 'orders_request_id_check') AS n`,
  );
  expect(Number(leftovers.rows[0].n)).toBe(0);
  await orderRequestId.up(owner);
  expect(await owner('orders').whereNotNull('request_id').count<{ n: string }[]>('* as n')).toEqual([{ n: '0' }]);
  expect(Number((await owner('orders').count<{ n: string }[]>('* as n'))[0].n)).toBe(before);
  const [row] = await asApp((trx) => insertOrder(trx, 'req-after-up'));
  expect(row.request_id).toBe('req-after-up');
});
