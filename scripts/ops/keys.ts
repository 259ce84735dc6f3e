import type { Knex } from 'knex';
import { UsageError } from '../../core/cli';
import { ApiKeyView, listApiKeys, MAX_WORKING_KEYS, revokeApiKey, rotateApiKey } from '../../core/domain/api-keys';
import type { Logger } from '../../core/logger';

/**
 * A B2B client's API keys, for a leak or a planned rotation (docs/operations.md). Straight on the
 * database, as the other ops commands act, with the rules the client service applies
 * (core/domain/api-keys.ts): the client service is internal, reached only by Lambda Invoke from
 * the gateways, and a route there would be a second way in to the same three statements.
 *
 * The new key of a rotation is in the report on stdout, once; the log lines name its prefix only
 * (and the logger would redact a key anyway).
 */
export interface KeysReport {
  clientId: string;
  keys: ApiKeyView[];
}

export interface RotateReport {
  clientId: string;
  /** Shown this once: it is stored as a hash. */
  apiKey: string;
  key: ApiKeyView;
  oldKeys: ApiKeyView[];
}

export interface RevokeReport {
  clientId: string;
  key: ApiKeyView;
  alreadyRevoked: boolean;
}

const noClient = (clientId: string) => new UsageError('--client', `no B2B client has the id ${clientId}`);

export async function listKeys(db: Knex, clientId: string): Promise<KeysReport> {
  const keys = await listApiKeys(db, clientId);
  if (!keys) throw noClient(clientId);
  return { clientId, keys };
}

export async function rotateKey(db: Knex, clientId: string, oldKeysExpireInMs: number, log: Logger): Promise<RotateReport> {
  const rotation = await rotateApiKey(db, clientId, oldKeysExpireInMs);
  if (rotation === 'no-such-client') throw noClient(clientId);
  if (rotation === 'too-many-keys') {
    throw new Error(`client ${clientId} already has ${MAX_WORKING_KEYS} working keys: revoke one (keys revoke --prefix) before issuing another`);
  }
  log.info('api key issued', { clientId, keyPrefix: rotation.key.prefix, oldKeys: rotation.oldKeys.map((k) => ({ keyPrefix: k.prefix, expiresAt: k.expiresAt })) });
  return { clientId, ...rotation };
}

export async function revokeKey(db: Knex, prefix: string, log: Logger): Promise<RevokeReport> {
  const revocation = await revokeApiKey(db, prefix);
  if (!revocation) throw new UsageError('--prefix', `no API key has the prefix ${prefix}`);
  log.info(revocation.alreadyRevoked ? 'api key already revoked' : 'api key revoked', { clientId: revocation.clientId, keyPrefix: prefix, revokedAt: revocation.key.revokedAt });
  return revocation;
}
