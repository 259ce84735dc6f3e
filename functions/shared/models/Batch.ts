import { Model } from 'objection';

export type BatchStatus = 'pending' | 'processing' | 'completed' | 'failed';

export class Batch extends Model {
  static tableName = 'batches';
  id!: string;
  client_id!: string;
  theme_id!: string;
  status!: BatchStatus;
  total_rows!: number;
  succeeded!: number;
  failed!: number;
  source_key!: string;
  manifest_key!: string | null;
  error!: string | null;
  idempotency_key!: string | null;
  created_at!: Date;
  updated_at!: Date;
}
