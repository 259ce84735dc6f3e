import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Knex } from 'knex';
import type { ApiKey, Client, Db } from '../models';
import * as z from '../zod';

/**
 * B2B API keys: `dpk_<prefix>_<secret>` with 256 bits of secret. Only the prefix (to find the
 * row) and a SHA-256 of the whole key are stored; a slow hash is unnecessary for a
 * high-entropy key, and the comparison is constant-time.
 *
 * A client holds several keys (`api_keys`): a key works until it is revoked (`revoked_at`, at
 * once) or its `expires_at` passes. Rotating issues a new key and gives the client's other
 * working keys an expiry (at most OLD_KEY_OVERLAP_MAX_MS away), so a partner switches without
 * downtime; the client service and the ops CLI share these rules.
 */
const KEY = /^dpk_([a-f0-9]{12})_([A-Za-z0-9_-]{43})$/;

/** How long the old keys of a rotation keep working unless told otherwise. */
export const OLD_KEY_OVERLAP_DEFAULT_MS = 7 * 86_400_000;
export const OLD_KEY_OVERLAP_MAX_MS = 30 * 86_400_000;
/** Working keys a client may hold: a rotation past it is refused, so a leaked key cannot mint keys without bound. */
export const MAX_WORKING_KEYS = 5;
/** `last_used_at` is rewritten at most this often per key: no write on every request. */
export const API_KEY_LAST_USED_EVERY_MS = 5 * 60_000;

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

/** The shape of a prefix as `keys revoke --prefix` and the partner API take it. */
export const API_KEY_PREFIX_PATTERN = /^[a-f0-9]{12}$/;
export const KeyPrefix = z.string().check(z.regex(API_KEY_PREFIX_PATTERN, 'must be a key prefix: 12 lower-case hex characters (dpk_<prefix>_…)'));

/** The body of a rotation, as gateway-b2b takes it from a partner and the client service from the gateway. */
export const RotateKeyBody = z.strictObject({
  oldKeysExpireInSeconds: z.optional(z.int().check(z.minimum(0), z.maximum(OLD_KEY_OVERLAP_MAX_MS / 1000))),
});

export function apiKeyMatches(apiKey: string, storedHash: string): boolean {
  const a = Buffer.from(hashApiKey(apiKey), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

export type ApiKeyState = 'active' | 'expiring' | 'expired' | 'revoked';

/** A key as ops and its partner see it: never its hash. */
export interface ApiKeyView {
  prefix: string;
  state: ApiKeyState;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
  /** Within API_KEY_LAST_USED_EVERY_MS; null if never used since the key table exists. */
  lastUsedAt: string | null;
}

export function apiKeyState(key: ApiKey, now: Date): ApiKeyState {
  if (key.revoked_at) return 'revoked';
  if (!key.expires_at) return 'active';
  return key.expires_at > now ? 'expiring' : 'expired';
}

export const apiKeyView = (key: ApiKey, now: Date): ApiKeyView => ({
  prefix: key.prefix,
  state: apiKeyState(key, now),
  createdAt: key.created_at.toISOString(),
  expiresAt: key.expires_at?.toISOString() ?? null,
  revokedAt: key.revoked_at?.toISOString() ?? null,
  lastUsedAt: key.last_used_at?.toISOString() ?? null,
});

const working = (q: Knex.QueryBuilder): Knex.QueryBuilder =>
  q.whereNull('api_keys.revoked_at').andWhere((w) => w.whereNull('api_keys.expires_at').orWhereRaw('api_keys.expires_at > now()'));

/** The database's clock: expiry is compared there, so every caller uses the same time. */
const dbNow = async (db: Db): Promise<Date> => (await db.raw('SELECT now() AS now')).rows[0].now as Date;

export interface Authenticated {
  client: Client;
  key: ApiKey;
}

/** The B2B client of a working key, or undefined (unknown, malformed, wrong, revoked or expired: the caller cannot tell which). */
export async function authenticateApiKey(db: Db, apiKey: string): Promise<Authenticated | undefined> {
  const prefix = apiKeyPrefix(apiKey);
  if (!prefix) return undefined;
  const key: ApiKey | undefined = await working(db('api_keys').select('api_keys.*').join('clients', 'clients.id', 'api_keys.client_id').where({ 'api_keys.prefix': prefix, 'clients.kind': 'b2b' })).first();
  if (!key || !apiKeyMatches(apiKey, key.hash)) return undefined;
  const client: Client = await db('clients').where({ id: key.client_id }).first();
  return { client, key };
}

/** Records that the key was used, unless it was recorded less than API_KEY_LAST_USED_EVERY_MS ago (one write per key per period). */
export async function touchApiKey(db: Db, key: ApiKey): Promise<void> {
  if (key.last_used_at && Date.now() - key.last_used_at.getTime() < API_KEY_LAST_USED_EVERY_MS) return;
  await db('api_keys')
    .where({ id: key.id })
    .andWhere((w) => w.whereNull('last_used_at').orWhere('last_used_at', '<', db.raw('now() - make_interval(secs => ?)', [API_KEY_LAST_USED_EVERY_MS / 1000])))
    .update({ last_used_at: db.fn.now() });
}

/**
 * A new key for the client (in the caller's transaction), also put on its `clients` columns, which
 * the release before 20261202_008 reads: after a rollback the client's newest key works there
 * (as `down` leaves it), not the key a rotation has since expired, and a client created since
 * has one.
 */
export async function addApiKey(db: Db, clientId: string): Promise<{ apiKey: string; key: ApiKey }> {
  const issued = issueApiKey();
  const [key]: ApiKey[] = await db('api_keys').insert({ client_id: clientId, prefix: issued.prefix, hash: issued.hash }).returning('*');
  await db('clients').where({ id: clientId }).update({ api_key_prefix: issued.prefix, api_key_hash: issued.hash });
  return { apiKey: issued.apiKey, key };
}

export interface Rotation {
  /** Shown once, to whoever asked: never stored, never logged. */
  apiKey: string;
  key: ApiKeyView;
  /** The client's other working keys, with the expiry they now have. */
  oldKeys: ApiKeyView[];
}

export type RotationRefusal = 'no-such-client' | 'too-many-keys';

/**
 * A new key for the client; its other working keys expire in `oldKeysExpireInMs` (0: at once), or
 * keep an earlier expiry they already had. The client row is locked, so two rotations at once
 * cannot both pass the MAX_WORKING_KEYS count.
 */
export async function rotateApiKey(db: Knex, clientId: string, oldKeysExpireInMs: number): Promise<Rotation | RotationRefusal> {
  if (!Number.isInteger(oldKeysExpireInMs) || oldKeysExpireInMs < 0 || oldKeysExpireInMs > OLD_KEY_OVERLAP_MAX_MS) {
    throw new RangeError(`oldKeysExpireInMs must be an integer from 0 to ${OLD_KEY_OVERLAP_MAX_MS}`);
  }
  return db.transaction(async (trx) => {
    const client = await trx('clients').where({ id: clientId, kind: 'b2b' }).forUpdate().first();
    if (!client) return 'no-such-client';
    const [{ n }] = await working(trx('api_keys').where({ client_id: clientId })).count<{ n: string }[]>('* as n');
    if (Number(n) >= MAX_WORKING_KEYS) return 'too-many-keys';
    const oldKeys: ApiKey[] = await working(trx('api_keys').where({ client_id: clientId }))
      .update({ expires_at: trx.raw(`LEAST(COALESCE(expires_at, 'infinity'), now() + make_interval(secs => ?))`, [oldKeysExpireInMs / 1000]) })
      .returning('*');
    const { apiKey, key } = await addApiKey(trx, clientId);
    const now = await dbNow(trx);
    return { apiKey, key: apiKeyView(key, now), oldKeys: oldKeys.sort((a, b) => a.created_at.getTime() - b.created_at.getTime()).map((k) => apiKeyView(k, now)) };
  });
}

export interface Revocation {
  clientId: string;
  key: ApiKeyView;
  /** It was revoked before this call (revokedAt is that first time). */
  alreadyRevoked: boolean;
}

/**
 * Revokes the key at once (the next request with it is refused: nothing caches an
 * authentication). `clientId` restricts it to that client's keys (a partner revoking its own).
 * Also takes the key off the `clients` columns of the release before 20261202_008, so a
 * rollback to that release does not accept it again; the client's newest key that still works
 * (if any) goes there instead. A rotation of the same client in progress
 * finishes first (both lock the client row before its keys).
 */
export async function revokeApiKey(db: Knex, prefix: string, clientId?: string): Promise<Revocation | undefined> {
  return db.transaction(async (trx) => {
    const scope = (q: Knex.QueryBuilder) => (clientId ? q.where({ prefix, client_id: clientId }) : q.where({ prefix }));
    // The client's row before the key's, the order a rotation takes them in: holding the key
    // while waiting for the row a rotation holds (to clear it there) would deadlock with it.
    const owner: Pick<ApiKey, 'client_id'> | undefined = await scope(trx('api_keys')).first('client_id');
    if (!owner) return undefined;
    await trx('clients').where({ id: owner.client_id }).forUpdate().first('id');
    const [revoked]: ApiKey[] = await scope(trx('api_keys')).whereNull('revoked_at').update({ revoked_at: trx.fn.now() }).returning('*');
    const key: ApiKey = revoked ?? (await scope(trx('api_keys')).first());
    // The client's newest key that still works takes its place there, as a rotation puts its new
    // one: a rollback accepts the key the client goes on using, and `down` would put it there too.
    const next: Pick<ApiKey, 'prefix' | 'hash'> | undefined = await working(trx('api_keys').where({ client_id: key.client_id }))
      .orderBy('created_at', 'desc')
      .first('prefix', 'hash');
    await trx('clients').where({ api_key_prefix: prefix }).update({ api_key_prefix: next?.prefix ?? null, api_key_hash: next?.hash ?? null });
    return { clientId: key.client_id, key: apiKeyView(key, await dbNow(trx)), alreadyRevoked: !revoked };
  });
}

/** The client's keys, newest first; undefined when no B2B client has this id. */
export async function listApiKeys(db: Db, clientId: string): Promise<ApiKeyView[] | undefined> {
  const client = await db('clients').where({ id: clientId, kind: 'b2b' }).first('id');
  if (!client) return undefined;
  const keys: ApiKey[] = await db('api_keys').where({ client_id: clientId }).orderBy('created_at', 'desc').orderBy('id');
  const now = await dbNow(db);
  return keys.map((k) => apiKeyView(k, now));
}
