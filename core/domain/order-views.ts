import type { Storage } from '../storage';

/** The order as the order service returns it, and the subset a client may see. */
export interface InternalOrder {
  id: string;
  clientId: string;
  status: string;
  theme: { slug?: string; title?: string; outputFormat?: string; id?: string };
  input: Record<string, string>;
  amountCents: number | null;
  currency: string | null;
  checkoutUrl: string | null;
  documentKey: string | null;
  error: string | null;
  batchId: string | null;
  batchRow: number | null;
  createdAt: string;
  updatedAt: string;
}

export const DOCUMENT_LINK_SECONDS = 900;

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
