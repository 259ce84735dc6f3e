export type OrderStatus = 'pending' | 'paid' | 'queued' | 'generating' | 'ready' | 'failed';

/** A row of `orders` as pg returns it. */
export interface Order {
  id: string;
  client_id: string;
  theme_id: string;
  status: OrderStatus;
  input: Record<string, string>;
  document_key: string | null;
  error: string | null;
  batch_id: string | null;
  batch_row: number | null;
  idempotency_key: string | null;
  request_hash: string | null;
  /** The id of the request that created it (the correlation id of its story); null before 20261201_006. Never changes. */
  request_id: string | null;
  access_token_hash: string | null;
  stripe_session_id: string | null;
  checkout_url: string | null;
  amount_cents: number | null;
  currency: string | null;
  created_at: Date;
  updated_at: Date;
}
