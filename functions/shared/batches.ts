import * as z from './zod';

/**
 * The batch source a B2B gateway stores in the assets bucket (`BatchSource`, JSON) whatever the
 * client sent (JSON or CSV): rows are already validated against the theme's fields, so the
 * b2b-batch worker only turns row i into the order (batch_id, batch_row = i).
 */
export const MAX_BATCH_ROWS = 5000;

export const BatchSource = z.object({
  v: z.literal(1),
  batchId: z.uuid(),
  clientId: z.uuid(),
  themeId: z.uuid(),
  rows: z.array(z.record(z.string(), z.string())).check(z.minLength(1), z.maxLength(MAX_BATCH_ROWS)),
});
export type BatchSource = z.infer<typeof BatchSource>;

export const batchSourceKey = (clientId: string, batchId: string): string => `batches/${clientId}/${batchId}/source.json`;
export const batchManifestKey = (clientId: string, batchId: string): string => `batches/${clientId}/${batchId}/manifest.json`;
