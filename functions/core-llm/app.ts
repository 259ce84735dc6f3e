import Router from '@koa/router';
import type Koa from 'koa';
import { createHash } from 'node:crypto';
import * as z from '../shared/zod';
import { tooManyRequests } from '../shared/errors';
import { createServiceApp, ServiceState } from '../shared/http';
import type { ServiceRuntime } from '../shared/service-runtime';
import { readJson } from '../shared/validation';
import { ContentProvider, providerFor } from './providers';

/** Internal: Markdown from Gemini, cached in Redis by prompt hash and rate limited per client. */
export const MAX_PROMPT = 20000;
const Generate = z.object({
  clientId: z.uuid(),
  prompt: z.string().check(z.trim(), z.minLength(1), z.maxLength(MAX_PROMPT)),
});

export function createApp(runtime: ServiceRuntime<'redis'>, provider: ContentProvider = providerFor(runtime.config)): Koa<ServiceState> {
  const router = new Router<ServiceState>();
  const { rateLimitPerMinute, cacheTtlSeconds } = runtime.config.llm;

  router.post('/generate', async (ctx) => {
    const { clientId, prompt } = await readJson(ctx, Generate, 64 * 1024);
    const hash = createHash('sha256').update(`${provider.model}\n${prompt}`).digest('hex');
    const cacheKey = `llm:cache:${hash}`;
    const cached = await runtime.redis.get(cacheKey);
    if (cached !== null) {
      ctx.body = { text: cached, cached: true, model: provider.model, provider: provider.name, promptHash: hash };
      return;
    }
    // Fixed one-minute window per client; only calls that reach the model count.
    const window = Math.floor(Date.now() / 60000);
    const rateKey = `llm:rate:${clientId}:${window}`;
    const [[, used]] = (await runtime.redis.multi().incr(rateKey).expire(rateKey, 120).exec()) as [[Error | null, number]];
    if (used > rateLimitPerMinute) {
      ctx.set('retry-after', String(60 - Math.floor((Date.now() / 1000) % 60)));
      throw tooManyRequests(`rate limit of ${rateLimitPerMinute} generations per minute reached for this client`);
    }
    const text = await provider.generate(prompt);
    await runtime.redis.set(cacheKey, text, 'EX', cacheTtlSeconds);
    ctx.body = { text, cached: false, model: provider.model, provider: provider.name, promptHash: hash };
  });

  return createServiceApp('core-llm', runtime.logger, router);
}
