import type { Knex } from 'knex';
import * as coreTables from './20261126_001_core_tables';
import * as orderGenerationLease from './20261201_002_order_generation_lease';
import * as batchRequestFingerprint from './20261201_003_batch_request_fingerprint';
import * as orderRequeues from './20261201_004_order_requeues';
import * as appRole from './20261201_005_app_role';
import * as orderRequestId from './20261201_006_order_request_id';
import * as batchProcessingIndex from './20261202_007_batch_processing_index';
import * as apiKeys from './20261202_008_api_keys';
import * as apiKeysLegacyReplace from './20261202_009_api_keys_legacy_replace';

/**
 * The schema migrations, listed statically so they bundle (Lambda, worker images) and run
 * from code without a filesystem lookup. Append new migrations; never edit a released one.
 */
export interface SchemaMigration extends Knex.Migration {
  name: string;
}

export const schemaMigrations: SchemaMigration[] = [
  { name: '20261126_001_core_tables', ...coreTables },
  { name: '20261201_002_order_generation_lease', ...orderGenerationLease },
  { name: '20261201_003_batch_request_fingerprint', ...batchRequestFingerprint },
  { name: '20261201_004_order_requeues', ...orderRequeues },
  { name: '20261201_005_app_role', ...appRole },
  { name: '20261201_006_order_request_id', ...orderRequestId },
  { name: '20261202_007_batch_processing_index', ...batchProcessingIndex },
  { name: '20261202_008_api_keys', ...apiKeys },
  { name: '20261202_009_api_keys_legacy_replace', ...apiKeysLegacyReplace },
];
