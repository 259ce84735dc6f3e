import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { requireSecret, settingMissing, type AppConfig } from '../config';

/**
 * B2C orders are read with an access token the server makes: HMAC-SHA256 of the order id under
 * a server secret (ORDER_TOKEN_SECRET / ORDER_TOKEN_SECRET_ARN, at least 32 characters), 256
 * bits whatever the client sends. Only its SHA-256 is stored; the order service can compute it
 * again, so an idempotent replay of the creation returns the same token without the server
 * keeping it. It never leaves through Stripe: the checkout return URLs carry the order id only.
 */
export function orderTokenSecret(config: Pick<AppConfig, 'secrets' | 'missing' | 'orderTokenSecret'>): string {
  // Without it (its secret not put yet, or too short) the order creation answers a 503 naming the setting.
  const secret = requireSecret(config, 'orderTokenSecret');
  if (secret.length < 32) {
    throw settingMissing(config.orderTokenSecret.value === undefined ? 'ORDER_TOKEN_SECRET_ARN' : 'ORDER_TOKEN_SECRET', 'must be at least 32 characters');
  }
  return secret;
}

export const accessTokenFor = (secret: string, orderId: string): string =>
  createHmac('sha256', secret).update(`order-access:v2:${orderId}`).digest('base64url');

/**
 * The token of orders created before server tokens: HMAC under the client's idempotency key.
 * Such orders keep their stored hash; this only lets a replay of their creation return it.
 */
const legacyAccessTokenFor = (idempotencyKey: string, orderId: string): string =>
  createHmac('sha256', idempotencyKey).update(`order-access:${orderId}`).digest('base64url');

/**
 * The token to answer a replayed creation with: the one whose hash the order holds, or
 * undefined when none can be made again (the secret was rotated since).
 */
export function reissueAccessToken(secret: string, idempotencyKey: string, orderId: string, storedHash: string | null): string | undefined {
  return [accessTokenFor(secret, orderId), legacyAccessTokenFor(idempotencyKey, orderId)].find((t) => tokenMatches(t, storedHash));
}

export const hashToken = (token: string): string => createHash('sha256').update(token).digest('hex');

export function tokenMatches(token: string, storedHash: string | null): boolean {
  if (!storedHash) return false;
  const a = Buffer.from(hashToken(token), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * JSON with every object's members in code-point order of their names, at any depth: a client
 * that sends the same body with its members in another order sends the same request.
 */
const canonicalJson = (value: unknown): string =>
  JSON.stringify(value, (_, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/** Fingerprint of a creation request: the same idempotency key with another request is a conflict. */
export const requestHash = (value: unknown): string => sha256(canonicalJson(value));

/**
 * The fingerprints a stored one may be for this request: the canonical one, and the one orders
 * created before it kept (the JSON in the order the client sent it), so their replays still match.
 */
export const requestHashes = (value: unknown): string[] => [requestHash(value), sha256(JSON.stringify(value))];
