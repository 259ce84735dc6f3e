import Router from '@koa/router';
import type Koa from 'koa';
import * as z from '../../core/zod';
import { apiKeyMatches, apiKeyPrefix, issueApiKey } from '../../core/domain/api-keys';
import { notFound, unauthorized } from '../../core/errors';
import { createServiceApp, ServiceState } from '../shared/http';
import type { Client } from '../../core/models';
import { findClient } from '../../core/models';
import type { ServiceRuntime } from '../shared/service-runtime';
import { plainText } from '../../core/domain/text';
import { readJsonBody, uuidParam } from '../shared/validation';
import { AuthenticateRequest, ClientResponse, ClientView, requestSchema } from '../../core/internal-api';

/** Internal: B2B client accounts and API key authentication. */
const CreateClient = z.object({
  name: z.string().check(z.trim(), z.minLength(1), z.maxLength(200), plainText),
  email: z.string().check(z.trim(), z.email(), z.maxLength(320)),
});
const Authenticate = requestSchema<AuthenticateRequest>()(z.object({ apiKey: z.string().check(z.minLength(1), z.maxLength(200)) }));

const view = (c: Client): ClientView => ({ id: c.id, kind: c.kind, name: c.name, email: c.email, createdAt: c.created_at });

export function createApp(runtime: ServiceRuntime<'db'>): Koa<ServiceState> {
  const router = new Router<ServiceState>();

  router.post('/clients', async (ctx) => {
    const body = await readJsonBody(ctx, { schema: CreateClient });
    const key = issueApiKey();
    const [client]: Client[] = await runtime.db('clients')
      .insert({ kind: 'b2b', name: body.name, email: body.email, api_key_prefix: key.prefix, api_key_hash: key.hash })
      .returning('*');
    ctx.status = 201;
    // The only time the key is ever shown.
    ctx.body = { client: view(client), apiKey: key.apiKey };
  });

  router.post('/clients/authenticate', async (ctx) => {
    const { apiKey } = await readJsonBody(ctx, { schema: Authenticate });
    const prefix = apiKeyPrefix(apiKey);
    const client: Client | undefined = prefix ? await runtime.db('clients').where({ api_key_prefix: prefix, kind: 'b2b' }).first() : undefined;
    if (!client || !client.api_key_hash || !apiKeyMatches(apiKey, client.api_key_hash)) throw unauthorized();
    ctx.body = { client: view(client) } satisfies ClientResponse;
  });

  router.get('/clients/:id', async (ctx) => {
    const client = await findClient(runtime.db, uuidParam(ctx, 'id'));
    if (!client) throw notFound('client not found');
    ctx.body = { client: view(client) } satisfies ClientResponse;
  });

  return createServiceApp('client', runtime.logger, router);
}
