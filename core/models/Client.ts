export type ClientKind = 'b2c' | 'b2b';

/** A row of `clients` as pg returns it. */
export interface Client {
  id: string;
  kind: ClientKind;
  name: string;
  email: string;
  api_key_prefix: string | null;
  api_key_hash: string | null;
  created_at: Date;
}
