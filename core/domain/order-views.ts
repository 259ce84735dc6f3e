import type { InternalOrder } from '../internal-api';
import type { Storage } from '../storage';

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

/** The public order, with a presigned link to its document once it is ready. */
export async function withDocumentLink(storage: Storage, reportsBucket: string, order: InternalOrder) {
  if (order.status !== 'ready' || !order.documentKey) return publicOrder(order);
  const name = order.documentKey.split('/').pop();
  const url = await storage.presignGet(reportsBucket, order.documentKey, DOCUMENT_LINK_SECONDS, name);
  return { ...publicOrder(order), document: { url, expiresInSeconds: DOCUMENT_LINK_SECONDS } };
}
