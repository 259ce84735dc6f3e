import Router from '@koa/router';
import type Koa from 'koa';
import * as z from '../../core/zod';
import {
  addApiKey,
  authenticateApiKey,
  KeyPrefix,
  listApiKeys,
  MAX_WORKING_KEYS,
  OLD_KEY_OVERLAP_DEFAULT_MS,
  revokeApiKey,
  rotateApiKey,
  RotateKeyBody,
  touchApiKey,
} from '../../core/domain/api-keys';
import { conflict, notFound, unauthorized } from '../../core/errors';
import { createServiceApp, ServiceState } from '../shared/http';
import type { Client } from '../../core/models';
import { findClient } from '../../core/models';
import type { ServiceRuntime } from '../shared/service-runtime';
import { plainText } from '../../core/domain/text';
import { parseWith, readJsonBody, uuidParam } from '../shared/validation';
import {
  ApiKeysResponse,
  AuthenticateRequest,
  ClientResponse,
  ClientView,
  requestSchema,
  RevokeKeyResponse,
  RotateKeyRequest,
  RotateKeyResponse,
} from '../../core/internal-api';

/** Internal: B2B client accounts, their API keys and authentication by key. */
const CreateClient = z.object({
  name: z.string().check(z.trim(), z.minLength(1), z.maxLength(200), plainText),
  email: z.string().check(z.trim(), z.email(), z.maxLength(320)),
});
const Authenticate = requestSchema<AuthenticateRequest>()(z.object({ apiKey: z.string().check(z.minLength(1), z.maxLength(200)) }));
const RotateKey = requestSchema<RotateKeyRequest>()(RotateKeyBody);

const view = (c: Client): ClientView => ({ id: c.id, kind: c.kind, name: c.name, email: c.email, createdAt: c.created_at });

export function createApp(runtime: ServiceRuntime<'db'>): Koa<ServiceState> {
  const router = new Router<ServiceState>();

  router.post('/clients', async (ctx) => {
    const body = await readJsonBody(ctx, { schema: CreateClient });
    const { client, apiKey } = await runtime.db.transaction(async (trx) => {
      const [row]: Client[] = await trx('clients').insert({ kind: 'b2b', name: body.name, email: body.email }).returning('*');
      return { client: row, apiKey: (await addApiKey(trx, row.id)).apiKey };
    });
    ctx.status = 201;
    // The only time the key is ever shown.
    ctx.body = { client: view(client), apiKey };
  });

  router.post('/clients/authenticate', async (ctx) => {
    const { apiKey } = await readJsonBody(ctx, { schema: Authenticate });
    const found = await authenticateApiKey(runtime.db, apiKey);
    if (!found) throw unauthorized();
    // Bookkeeping for ops (is the old key of a rotation still used?): its failure does not refuse a working key.
    await touchApiKey(runtime.db, found.key).catch((err: unknown) => ctx.state.logger.warn('api key last use not recorded', { err, keyPrefix: found.key.prefix }));
    ctx.body = { client: view(found.client) } satisfies ClientResponse;
  });

  router.get('/clients/:id', async (ctx) => {
    const client = await findClient(runtime.db, uuidParam(ctx, 'id'));
    if (!client) throw notFound('client not found');
    ctx.body = { client: view(client) } satisfies ClientResponse;
  });

  router.get('/clients/:id/keys', async (ctx) => {
    const keys = await listApiKeys(runtime.db, uuidParam(ctx, 'id'));
    if (!keys) throw notFound('client not found');
    ctx.body = { keys } satisfies ApiKeysResponse;
  });

  router.post('/clients/:id/keys', async (ctx) => {
    const id = uuidParam(ctx, 'id');
    const body = await readJsonBody(ctx, { schema: RotateKey });
    const overlapMs = body.oldKeysExpireInSeconds === undefined ? OLD_KEY_OVERLAP_DEFAULT_MS : body.oldKeysExpireInSeconds * 1000;
    const rotation = await rotateApiKey(runtime.db, id, overlapMs);
    if (rotation === 'no-such-client') throw notFound('client not found');
    if (rotation === 'too-many-keys') {
      throw conflict(`the client already has ${MAX_WORKING_KEYS} working keys: revoke one, or let an old one expire, before issuing another`);
    }
    ctx.status = 201;
    ctx.body = rotation satisfies RotateKeyResponse;
  });

  router.post('/clients/:id/keys/:prefix/revoke', async (ctx) => {
    const id = uuidParam(ctx, 'id');
    const prefix = parseWith(KeyPrefix, ctx.params.prefix, 'path.prefix');
    const revocation = await revokeApiKey(runtime.db, prefix, id);
    if (!revocation) throw notFound('the client has no key with this prefix');
    ctx.body = { key: revocation.key, alreadyRevoked: revocation.alreadyRevoked } satisfies RevokeKeyResponse;
  });

  return createServiceApp('client', runtime.logger, router);
}
