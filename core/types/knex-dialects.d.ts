declare module 'knex/lib/dialects/postgres' {
  import type { Knex } from 'knex';
  const PgClient: typeof Knex.Client;
  export default PgClient;
}
