import Router from '@koa/router';
import type Koa from 'koa';
import { createHash, randomUUID } from 'node:crypto';
import * as z from '../../core/zod';
import { AppError, tooManyRequests, upstreamRefused } from '../../core/errors';
import { CORE_LLM_TIMEOUT_SECONDS } from '../../core/contract';
import { createServiceApp, lambdaDeadline, ServiceState } from '../shared/http';
import type { ServiceRuntime } from '../shared/service-runtime';
import { readJsonBody } from '../shared/validation';
import { ContentProvider, MODEL_REJECTED, providerFor } from './providers';
import { joinFlight } from './single-flight';
import { Cached, createLlmStore } from './store';
import { GenerateRequest, GenerateResponse, requestSchema, TrafficKind } from '../../core/internal-api';
import { estimateTokens, MAX_PROMPT, windowLimits } from '../../core/domain/generation-budget';
import { plainText } from '../../core/domain/text';

/**
 * Internal: Markdown from Gemini, cached in Redis by prompt hash, within the generation budget of
 * the Gemini quota by kind of traffic (budget.ts) and, for interactive traffic, rate limited per
 * client (without Redis: no cache, and both counted per execution environment; store.ts).
 * Identical prompts asked together are generated once (single-flight.ts), a prompt the model
 * refuses for what it asks is refused from the cache for a while (REFUSAL_TTL_SECONDS), and one
 * its quota refuses is refused from the cache until the wait the quota named.
 * The model's retries are bounded by the request's deadline (below), never by luck.
 */
const Generate = requestSchema<GenerateRequest>()(
  z.object({
    clientId: z.uuid(),
    // Text as every other service takes it: a NUL or an unpaired surrogate is the caller's mistake, not a model error retried.
    prompt: z.string().check(z.trim(), z.minLength(1), z.maxLength(MAX_PROMPT), plainText),
    traffic: z.optional(z.enum(['interactive', 'batch'])),
  }),
);

/**
 * Time kept back from the invocation's remaining time for what follows the model (caching the
 * text, answering) and for Lambda itself: the answer leaves before the function is killed.
 */
export const RESPONSE_MARGIN_MS = 2000;
/**
 * The budget of a request outside Lambda (local runs, tests): core-llm's Lambda timeout less the
 * margin, so local runs behave as deployed ones.
 */
export const LOCAL_BUDGET_MS = CORE_LLM_TIMEOUT_SECONDS * 1000 - RESPONSE_MARGIN_MS;

/**
 * How long the model's refusal of a prompt (422 model_rejected: blocked, or refused for good) is
 * answered from the cache, at most LLM_CACHE_TTL_SECONDS: identical prompts asked meanwhile
 * (duplicate rows of a batch, a client asking again) would only be refused again, each paying a
 * call and a count. Briefly, not for the text's 7 days: Gemini's filters are not strictly
 * deterministic and change with the model. A failure of the moment (5xx, timeout, a cut answer)
 * is never kept.
 */
export const REFUSAL_TTL_SECONDS = 300;

export interface CoreLlmOptions {
  /** Overrides LOCAL_BUDGET_MS (a Lambda invocation uses its remaining time instead). */
  localBudgetMs?: number;
}

export function createApp(
  runtime: ServiceRuntime<'redis'>,
  provider: ContentProvider = providerFor(runtime.config),
  options: CoreLlmOptions = {},
): Koa<ServiceState> {
  const router = new Router<ServiceState>();
  const { rateLimitPerMinute, cacheTtlSeconds } = runtime.config.llm;
  const localBudgetMs = options.localBudgetMs ?? LOCAL_BUDGET_MS;
  const store = createLlmStore(() => runtime.redis, runtime.logger, windowLimits(runtime.config.llm.budget));

  router.post('/generate', async (ctx) => {
    // By when this request must answer: the Lambda invocation's end when there is one.
    const deadline = lambdaDeadline(ctx, RESPONSE_MARGIN_MS) ?? Date.now() + localBudgetMs;
    const { clientId, prompt, traffic = 'interactive' } = await readJsonBody(ctx, { schema: Generate, limit: 64 * 1024 });
    const hash = createHash('sha256').update(`${provider.model}\n${prompt}`).digest('hex');
    const answer = (text: string, cached: boolean) => {
      ctx.body = { text, cached, model: provider.model, provider: provider.name, promptHash: hash } satisfies GenerateResponse;
    };
    const answerCached = (hit: Cached) => {
      if ('refused' in hit) throw upstreamRefused(MODEL_REJECTED, hit.refused);
      if ('throttled' in hit) throw tooManyRequests(hit.throttled, Math.max(1, Math.ceil((hit.retryAt - Date.now()) / 1000)));
      answer(hit.text, true);
    };
    const cached = await store.get(hash);
    if (cached !== null) return answerCached(cached);
    // A generation certain to fail (no key yet) is refused before it takes the client's rate limit or the budget.
    provider.assertReady?.();
    const flight = await joinFlight(store, hash, deadline);
    // Another caller generated this prompt meanwhile, or was refused it (by the model or its quota): a cache hit, counted as one is (nowhere).
    if (flight.answer !== null) return answerCached(flight.answer);
    try {
      answer(await generate(clientId, prompt, traffic, deadline, hash), false);
    } finally {
      await flight.land();
    }
  });

  /**
   * The model call behind a miss, counted against the client's rate limit and the budget before
   * it is sent (so that concurrent calls cannot all pass them), and given back when it is not
   * sent after all; its text is cached, and so are, briefly, the model's refusal of the prompt and
   * its quota's (sent again before the quota's wait ends, it is refused again).
   */
  async function generate(clientId: string, prompt: string, traffic: TrafficKind, deadline: number, hash: string): Promise<string> {
    let rateWindow: number | undefined;
    if (traffic === 'interactive') {
      // Fixed one-minute window per client; only calls that reach the model count. Batch rows are paced by the budget's fair share instead.
      rateWindow = Math.floor(Date.now() / 60000);
      const used = await store.count(clientId, rateWindow);
      if (used > rateLimitPerMinute) {
        // Not made either: left counted, concurrent calls at the limit would use up the calls of those the budget then refuses.
        await store.uncount(clientId, rateWindow);
        throw tooManyRequests(`rate limit of ${rateLimitPerMinute} generations per minute reached for this client`, 60 - Math.floor((Date.now() / 1000) % 60));
      }
    }
    const ticket = randomUUID();
    const estimatedTokens = estimateTokens(prompt.length);
    const now = Date.now();
    const admission = await store.admit({ kind: traffic, clientId, ticket, estimatedTokens, now, holdMs: Math.max(1000, deadline - now), random: Math.random() });
    if (!admission.admitted) {
      // Counted above, but it does not reach the model: a client waiting out the budget keeps its calls.
      if (rateWindow !== undefined) await store.uncount(clientId, rateWindow);
      const seconds = Math.max(1, Math.ceil(admission.retryAfterMs / 1000));
      throw tooManyRequests(`the generation budget of ${traffic} traffic is used up for now; retry in ${seconds} s`, seconds);
    }
    let tokens: number | undefined;
    let latencyMs: number | undefined;
    let sent = false;
    let text: string;
    try {
      text = await provider.generate(prompt, { deadline, onUsage: (n) => (tokens = n), onAttempt: () => (sent = true) });
      latencyMs = Date.now() - now;
    } catch (err) {
      // Before the lease is given back: the followers waiting on it find the refusal, not the lease.
      if (err instanceof AppError && err.code === MODEL_REJECTED) await store.refuse(hash, err.message, Math.min(REFUSAL_TTL_SECONDS, cacheTtlSeconds));
      // Only the model's 429 comes from here (the client's limit and the budget refuse above, for this caller alone), and it always says when.
      if (err instanceof AppError && err.status === 429 && err.retryAfter !== undefined) {
        await store.throttle(hash, err.message, Math.min(err.retryAfter, cacheTtlSeconds) * 1000);
      }
      throw err;
    } finally {
      // No attempt sent (the deadline too close for one): the client is charged nothing.
      if (!sent && rateWindow !== undefined) await store.uncount(clientId, rateWindow);
      const tokenDelta = !sent ? -estimatedTokens : tokens === undefined ? 0 : tokens - estimatedTokens;
      await store.settle({ kind: traffic, clientId, ticket, window: admission.window, sent, tokenDelta, latencyMs });
    }
    await store.set(hash, text, cacheTtlSeconds);
    return text;
  }

  return createServiceApp('core-llm', runtime.logger, router);
}
