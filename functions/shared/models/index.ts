/**
 * Objection models of the four tables. They are not bound to a global knex: pass the knex or
 * transaction to each query (`Order.query(trx)`), so tests and workers can hold several databases.
 */
export { Client } from './Client';
export type { ClientKind } from './Client';
export { Theme } from './Theme';
export type { OutputFormat } from './Theme';
export { Order } from './Order';
export type { OrderStatus } from './Order';
export { Batch } from './Batch';
export type { BatchStatus } from './Batch';
