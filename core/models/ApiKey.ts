/** A row of `api_keys` as pg returns it (migrations/schema/20261202_008_api_keys.ts). */
export interface ApiKey {
  id: string;
  client_id: string;
  prefix: string;
  /** SHA-256 of the whole key, hex: the key itself is never stored. */
  hash: string;
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
}
