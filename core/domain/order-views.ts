import type { InternalOrder } from '../internal-api';
import { AppError } from '../errors';
import type { Logger } from '../logger';
import { presignIfStored, Storage } from '../storage';

/** How long the document link of an order status answer stays valid. */
export const DOCUMENT_LINK_SECONDS = 900;

/** The subset of the order service's order (`InternalOrder`, core/internal-api.ts) a client may see. */
export const publicOrder = (o: InternalOrder) => ({
  id: o.id,
  status: o.status,
  theme: o.theme,
  input: o.input,
  amountCents: o.amountCents,
  currency: o.currency,
  error: o.error,
  ...(o.batchId ? { batchId: o.batchId, batchRow: o.batchRow } : {}),
  createdAt: o.createdAt,
  updatedAt: o.updatedAt,
});

/** The `error` of a ready order whose document S3 no longer holds (its status answer has no link then). */
export const DOCUMENT_GONE = 'the document is no longer stored; contact support with the order id';

/**
 * A link to a ready order's document, or null when S3 does not hold it (deleted out of band, or
 * never uploaded although the row says ready). The order row is left `ready`: the gateway cannot
 * tell a missing key from a denied read (S3 answers both 403 to a caller that may not list), and
 * the reports bucket keeps a deleted object's version for 30 days, so restoring it makes the same
 * row serve it again.
 */
export async function documentLink(storage: Storage, reportsBucket: string, order: InternalOrder, expiresInSeconds: number, logger: Logger): Promise<string | null> {
  const key = order.documentKey!;
  const url = await presignIfStored(storage, reportsBucket, key, expiresInSeconds, key.split('/').pop()!);
  if (!url) logger.error('document missing from storage', { orderId: order.id, documentKey: key });
  return url;
}

/** The document route's answer for a ready order whose document S3 does not hold: retrying will not bring it back. */
export const documentGone = (order: InternalOrder): AppError =>
  new AppError(410, 'document_gone', `the document of order ${order.id} is no longer stored; contact support with the order id`);

/** The public order, with a presigned link to its document once it is ready (none, and DOCUMENT_GONE, when S3 does not hold it). */
export async function withDocumentLink(storage: Storage, reportsBucket: string, order: InternalOrder, logger: Logger) {
  if (order.status !== 'ready' || !order.documentKey) return publicOrder(order);
  const url = await documentLink(storage, reportsBucket, order, DOCUMENT_LINK_SECONDS, logger);
  if (!url) return { ...publicOrder(order), error: DOCUMENT_GONE };
  return { ...publicOrder(order), document: { url, expiresInSeconds: DOCUMENT_LINK_SECONDS } };
}
