import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * B2B API keys: `dpk_<prefix>_<secret>` with 256 bits of secret. Only the prefix (to find the
 * row) and a SHA-256 of the whole key are stored; a slow hash is unnecessary for a
 * high-entropy key, and the comparison is constant-time.
 */
const KEY = /^dpk_([a-f0-9]{12})_([A-Za-z0-9_-]{43})$/;

export interface IssuedKey {
  apiKey: string;
  prefix: string;
  hash: string;
}

export const hashApiKey = (apiKey: string): string => createHash('sha256').update(apiKey).digest('hex');

export function issueApiKey(): IssuedKey {
  const prefix = randomBytes(6).toString('hex');
  const apiKey = `dpk_${prefix}_${randomBytes(32).toString('base64url')}`;
  return { apiKey, prefix, hash: hashApiKey(apiKey) };
}

/** The prefix of a well-formed key, or undefined. */
export const apiKeyPrefix = (apiKey: string): string | undefined => KEY.exec(apiKey)?.[1];

export function apiKeyMatches(apiKey: string, storedHash: string): boolean {
  const a = Buffer.from(hashApiKey(apiKey), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
