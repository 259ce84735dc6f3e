import { createHash } from 'node:crypto';
import { BATCH_FILES, BATCH_KEY_PREFIX, MAX_BATCH_ROWS } from '../contract';
import type { GenerationBudgetSettings } from './generation-budget';
import * as z from '../zod';

export { MAX_BATCH_ROWS };

/**
 * The batch source gateway-b2b stores in the assets bucket (`BatchSource`, JSON) whatever the
 * client sent (JSON or CSV): rows are already validated against the theme's fields. The
 * b2b-batch worker turns row i into the order (batch_id, batch_row = i), checking each row again
 * (`rowIssue`, containers/b2b-batch/handler.ts) so a source stored before a rule, or written by
 * anything else, costs its bad rows only.
 */
export const BatchSource = z.object({
  v: z.literal(1),
  batchId: z.uuid(),
  clientId: z.uuid(),
  themeId: z.uuid(),
  rows: z.array(z.record(z.string(), z.string())).check(z.minLength(1), z.maxLength(MAX_BATCH_ROWS)),
});
export type BatchSource = z.infer<typeof BatchSource>;

/** The longest DelaySeconds SQS takes on a message. */
export const MAX_DELAY_SECONDS = 900;

/**
 * When a batch row's doc job enters the batch-doc-jobs queue, in seconds after its batch was read:
 * rows are released no faster than the batch part of the Gemini quota (core-llm could not start
 * them sooner, functions/core-llm/budget.ts), so the workers do not spend receives on rows core-llm
 * would refuse (B2C orders wait in doc-jobs, which the workers serve first, whatever this pace).
 * At prod's 900 requests a minute (1,000 less 10%), 15 rows a second: MAX_BATCH_ROWS are all
 * released within 334 s, well inside SQS's 900 s.
 */
export function releaseDelaySeconds(row: number, budget: Pick<GenerationBudgetSettings, 'requestsPerMinute' | 'interactiveSharePercent'>): number {
  const perSecond = Math.max(1, (budget.requestsPerMinute * (100 - budget.interactiveSharePercent)) / 100 / 60);
  return Math.min(MAX_DELAY_SECONDS, Math.floor(row / perSecond));
}

const batchObjectKey = (clientId: string, batchId: string, file: string): string => `${BATCH_KEY_PREFIX}${clientId}/${batchId}/${file}`;

export const batchSourceKey = (clientId: string, batchId: string): string => batchObjectKey(clientId, batchId, BATCH_FILES.source);
export const rejectedRowsKey = (clientId: string, batchId: string): string => batchObjectKey(clientId, batchId, BATCH_FILES.rejectedRows);
/**
 * One key per completion (its own random id), not one per batch: a completion that stalls while an
 * `orders retry` runs and another completion writes a newer manifest would, at one key, overwrite it
 * when its put lands at last. The batch's `manifest_key`, set by the completion whose counts still
 * hold (a guarded UPDATE), names the manifest; a stale one lands beside it.
 */
export const batchManifestKey = (clientId: string, batchId: string, completion: string): string => batchObjectKey(clientId, batchId, BATCH_FILES.manifest(completion));

/**
 * The fingerprint of a batch request: what the client sent and how it is read (`json` or
 * `csv`, from the content type), the CSV's `?theme=` (a JSON body names its theme itself), and
 * the body bytes. Under one `Idempotency-Key` the same fingerprint is a replay of the batch, any
 * other is a different request (409).
 */
export function batchRequestHash(kind: 'json' | 'csv', csvTheme: string | undefined, body: Buffer): string {
  return createHash('sha256').update(`b2b-batch/v1\n${kind}\n${csvTheme ?? ''}\n`).update(body).digest('hex');
}

/**
 * The batch id of a request made with an `Idempotency-Key`: derived from the client, the key and
 * the fingerprint (a UUID of version 8, RFC 9562's custom layout), so every attempt of one request
 * writes its source to the same object and concurrent attempts insert the same row, whatever order
 * they run in; nothing a retry writes is left behind.
 */
export function idempotentBatchId(clientId: string, idempotencyKey: string, requestHash: string): string {
  const b = createHash('sha256').update(`b2b-batch-id/v1\n${clientId}\n${idempotencyKey}\n${requestHash}`).digest();
  b[6] = (b[6] & 0x0f) | 0x80;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = b.subarray(0, 16).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
