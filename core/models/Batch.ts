export type BatchStatus = 'pending' | 'processing' | 'completed' | 'failed';

/** A row of `batches` as pg returns it. */
export interface Batch {
  id: string;
  client_id: string;
  theme_id: string;
  status: BatchStatus;
  total_rows: number;
  succeeded: number;
  failed: number;
  source_key: string;
  manifest_key: string | null;
  error: string | null;
  idempotency_key: string | null;
  /** sha256 of the creating request (`batchRequestHash`); null for batches created before it was kept. */
  request_hash: string | null;
  /** Rows the creating request held; null for batches created before it was kept. */
  submitted_rows: number | null;
  created_at: Date;
  updated_at: Date;
}
