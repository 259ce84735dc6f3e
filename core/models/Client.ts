export type ClientKind = 'b2c' | 'b2b';

/** A row of `clients` as pg returns it (its keys are in `api_keys`, ApiKey.ts). */
export interface Client {
  id: string;
  kind: ClientKind;
  name: string;
  email: string;
  created_at: Date;
}
