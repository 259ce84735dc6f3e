import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/**
 * B2C orders are read with an access token. It is derived from the client's idempotency key
 * (a secret of at least 128 bits the client holds) and the order id, so a retried creation
 * returns the same token without the server keeping it; only its SHA-256 is stored.
 */
export const accessTokenFor = (idempotencyKey: string, orderId: string): string =>
  createHmac('sha256', idempotencyKey).update(`order-access:${orderId}`).digest('base64url');

export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

export function tokenMatches(token: string, storedHash: string | null): boolean {
  if (!storedHash) return false;
  const a = Buffer.from(hashToken(token), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Fingerprint of a creation request: the same idempotency key with another request is a conflict. */
export const requestHash = (value: unknown): string => createHash('sha256').update(JSON.stringify(value)).digest('hex');
