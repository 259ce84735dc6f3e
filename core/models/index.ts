import type { Knex } from 'knex';
import type { Batch } from './Batch';
import type { Client } from './Client';
import type { Order } from './Order';
import type { Theme } from './Theme';

/**
 * The rows of the tables and the lookups services and workers share, in plain knex: no ORM
 * in the Lambda bundles (objection and its ajv/lodash/db-errors cost ~440 KB and its load time
 * on every cold start, for features these tables do not use). Pass the knex or transaction to
 * each call, so tests and workers can hold several databases.
 */
export type { Client, ClientKind } from './Client';
export type { Theme, OutputFormat } from './Theme';
export type { Order, OrderStatus } from './Order';
export type { Batch, BatchStatus } from './Batch';
export type { ApiKey } from './ApiKey';

export type Db = Knex | Knex.Transaction;

const byId =
  <Row>(table: string) =>
  (db: Db, id: string): Promise<Row | undefined> =>
    db(table).where({ id }).first();

export const findClient = byId<Client>('clients');
export const findTheme = byId<Theme>('themes');
export const findOrder = byId<Order>('orders');
export const findBatch = byId<Batch>('batches');
