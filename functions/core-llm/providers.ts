import type { GoogleGenAI } from '@google/genai';
import { createHash } from 'node:crypto';
import { requireSecret, type AppConfig } from '../../core/config';
import { AppError, badGateway, serviceUnavailable, tooManyRequests, upstreamRefused } from '../../core/errors';
import { DependencyUnavailableError } from '../../core/failures';
import { BUDGET_WINDOW_MS } from '../../core/domain/generation-budget';

/**
 * Where the text comes from: Gemini through @google/genai when a key is configured, otherwise
 * an offline provider that writes deterministic Markdown so the local run needs no account.
 */
export interface ContentProvider {
  name: 'gemini' | 'offline';
  model: string;
  generate(prompt: string, options?: GenerateOptions): Promise<string>;
  /**
   * Throws, without calling the model, the error `generate` is certain to throw now (the key's
   * secret has no value yet): the caller refuses before counting the call against anyone's limit.
   */
  assertReady?(): void;
}

export interface GenerateOptions {
  /** Epoch ms by which `generate` must have answered or given up (no retry starts past it). */
  deadline?: number;
  /** Told the tokens the model counted for the answer (prompt and answer), when it says. */
  onUsage?: (totalTokens: number) => void;
  /** Told as each call to the model is sent: a generation that sent none (no time left for an attempt) cost nothing. */
  onAttempt?: () => void;
}

/** The code of the model refusing a prompt for what it asks (a 422): the same prompt is refused again. */
export const MODEL_REJECTED = 'model_rejected';

/** An attempt with less time than this left is not started: the answer would be cut off anyway. */
export const MIN_ATTEMPT_MS = 1000;

export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 250, maxDelayMs: 4000 };

/**
 * 4xx answers that say nothing about the request: a request timeout (408), and the google.rpc
 * codes Google documents as retryable, CANCELLED (499, Gemini's `backendError` under heavy load)
 * and ABORTED (409). Retried as a 5xx is, and after the last attempt an outage (503), not the
 * prompt refused for good.
 */
function transient4xx(status: number | undefined, err: unknown): boolean {
  if (status === 408 || status === 499) return true;
  return status === 409 && errorBodyOf(err).error?.status === 'ABORTED';
}

const retryable = (status: number | undefined, err: unknown): boolean => status === 429 || (status !== undefined && status >= 500) || transient4xx(status, err);

/** The HTTP status of a failed call (the SDK's ApiError carries it as `status`). */
function statusOf(err: unknown): number | undefined {
  const status = (err as { status?: unknown }).status;
  return typeof status === 'number' ? status : undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface GeminiErrorBody {
  error?: { status?: unknown; message?: unknown; details?: Array<{ '@type'?: unknown; retryDelay?: unknown; reason?: unknown }> };
}

/** The JSON error body the SDK's ApiError carries as its message; empty when it is not JSON. */
function errorBodyOf(err: unknown): GeminiErrorBody {
  try {
    const body: unknown = JSON.parse((err as Error).message);
    return typeof body === 'object' && body !== null ? (body as GeminiErrorBody) : {};
  } catch {
    return {};
  }
}

/**
 * Any other 4xx (not 429, not transient4xx) is Gemini refusing for good, never retried; whose
 * fault decides the answer. The platform's: its key (401, 403, a 400 whose ErrorInfo is API_KEY_INVALID), its model (404) or
 * its project (400 FAILED_PRECONDITION: billing, region): a 503, since the prompt is fine and
 * the order must wait until an operator fixes it. Otherwise the request's (400 INVALID_ARGUMENT,
 * 413…): a 422, so the worker fails the order at once rather than retry what cannot succeed.
 */
function refusedBy(status: number, err: unknown): 'platform' | 'request' {
  if (status === 401 || status === 403 || status === 404) return 'platform';
  const { error } = errorBodyOf(err);
  const keyRefused = error?.details?.some((d) => d?.reason === 'API_KEY_INVALID') || (typeof error?.message === 'string' && /API key/i.test(error.message));
  return keyRefused || error?.status === 'FAILED_PRECONDITION' ? 'platform' : 'request';
}

/**
 * The wait, in whole seconds, that Gemini's quota refusal names (`RetryInfo.retryDelay`, "37.2s",
 * in the JSON error body the SDK's ApiError carries as its message); undefined when it names none.
 */
function retryDelayOf(err: unknown): number | undefined {
  const info = errorBodyOf(err).error?.details?.find((d) => typeof d?.['@type'] === 'string' && d['@type'].endsWith('google.rpc.RetryInfo'));
  const delay = typeof info?.retryDelay === 'string' ? /^(\d+(?:\.\d+)?)s$/.exec(info.retryDelay) : null;
  return delay ? Math.max(1, Math.ceil(Number(delay[1]))) : undefined;
}

/**
 * Finish reasons of an answer withheld for what the prompt asks: the same prompt is withheld again.
 * LANGUAGE is Gemini's filter of a language it does not serve, which the prompt's values are in.
 */
const BLOCKING_FINISH_REASONS = new Set(['SAFETY', 'PROHIBITED_CONTENT', 'BLOCKLIST', 'SPII', 'RECITATION', 'LANGUAGE']);

/**
 * Why Gemini withheld its answer for good, as `blockReason X` (the prompt blocked) or
 * `finishReason X` (the answer blocked, with or without the text it had written so far);
 * undefined when the answer stopped for another cause (MAX_TOKENS, OTHER…), which a later call
 * may not meet.
 */
function blockOf(res: { promptFeedback?: { blockReason?: string }; candidates?: { finishReason?: string }[] }): string | undefined {
  const blockReason = res.promptFeedback?.blockReason;
  if (blockReason && blockReason !== 'BLOCKED_REASON_UNSPECIFIED') return `blockReason ${blockReason}`;
  const finishReason = res.candidates?.[0]?.finishReason;
  return finishReason && BLOCKING_FINISH_REASONS.has(finishReason) ? `finishReason ${finishReason}` : undefined;
}

/** The Retry-After of a quota refusal that names no delay: one window of core-llm's budget (generation-budget.ts). */
export const MODEL_QUOTA_RETRY_SECONDS = BUDGET_WINDOW_MS / 1000;

/**
 * The SDK is loaded on the first generation, not at init: it is the largest module of core-llm
 * (~400 KB), and its first call waits seconds for the model anyway.
 */
export function geminiProvider(config: Pick<AppConfig, 'gemini'>, apiKey: string, retry: RetryPolicy = DEFAULT_RETRY): ContentProvider {
  let client: Promise<GoogleGenAI> | undefined;
  const genai = () =>
    (client ??= import('@google/genai').then(
      ({ GoogleGenAI }) =>
        new GoogleGenAI({
          apiKey,
          httpOptions: {
            ...(config.gemini.baseUrl ? { baseUrl: config.gemini.baseUrl } : {}),
            timeout: config.gemini.timeoutMs,
            // Retries are ours (below): one policy, bounded by the request's deadline (the Lambda timeout).
            retryOptions: { attempts: 1 },
            // The platform fetch, not the SDK's no-timeout undici dispatcher: requests are bounded by
            // `timeout` anyway, and the dispatcher hook is not reachable from every runtime (jest's vm).
            fetch: (input, init) => fetch(input, init),
          },
        }),
    ));
  const model = config.gemini.model;
  return {
    name: 'gemini',
    model,
    generate: async (prompt, options = {}) => {
      const deadline = options.deadline ?? Number.POSITIVE_INFINITY;
      let lastStatus: number | undefined;
      let lastError: unknown;
      let quotaRetrySeconds: number | undefined;
      let outOfTime = false;
      for (let attempt = 1; attempt <= retry.attempts; attempt++) {
        const left = deadline - Date.now();
        if (left < MIN_ATTEMPT_MS) {
          outOfTime = true;
          break;
        }
        try {
          // Each attempt gets GEMINI_TIMEOUT_MS or what is left of the deadline, whichever is less.
          const abortSignal = AbortSignal.timeout(Math.min(config.gemini.timeoutMs, left));
          const { models } = await genai();
          options.onAttempt?.();
          const res = await models.generateContent({ model, contents: prompt, config: { abortSignal } });
          const text = res.text;
          const tokens = res.usageMetadata?.totalTokenCount;
          if (typeof tokens === 'number') options.onUsage?.(tokens);
          const blocked = blockOf(res);
          if (blocked) throw upstreamRefused(MODEL_REJECTED, `the model refuses to answer this prompt (${blocked}); sent again it is refused again`);
          if (!text) throw badGateway('the model returned no text');
          // Only an answer the model finished is a document: one cut at the output token limit is neither answered nor cached (app.ts caches what this returns).
          const finishReason = res.candidates?.[0]?.finishReason;
          if (finishReason !== undefined && finishReason !== 'STOP') {
            throw badGateway(`the model stopped its answer before the end (finishReason ${finishReason}); it is not kept, and the prompt sent again is answered anew`);
          }
          return text;
        } catch (err) {
          if (err instanceof AppError) throw err;
          lastError = err;
          lastStatus = statusOf(err);
          quotaRetrySeconds = lastStatus === 429 ? retryDelayOf(err) : undefined;
          // Called again sooner than the quota said, the model only refuses again: its delay goes to the caller.
          if (quotaRetrySeconds !== undefined && quotaRetrySeconds * 1000 > retry.maxDelayMs) break;
          // No HTTP status: no answer at all (the attempt's timeout, a dropped connection), retried. An
          // answer is classified by its status alone: its message is Gemini's words, which may say "timeout" in a 400.
          if (!(retryable(lastStatus, err) || lastStatus === undefined) || attempt === retry.attempts) break;
          // Full jitter: spreads retries of concurrent calls so they do not hit the quota together;
          // never sooner than a delay the quota named (within the backoff: a longer one broke above).
          const jitter = Math.random() * Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (attempt - 1));
          const pause = Math.max(jitter, (quotaRetrySeconds ?? 0) * 1000);
          if (Date.now() + pause + MIN_ATTEMPT_MS > deadline) {
            outOfTime = true;
            break;
          }
          await sleep(pause);
        }
      }
      if (lastStatus === 429) throw tooManyRequests('the model provider is rate limiting, retry later', quotaRetrySeconds ?? MODEL_QUOTA_RETRY_SECONDS);
      if (outOfTime) throw serviceUnavailable('the model provider did not answer within the time this request has, retry later');
      if (lastStatus !== undefined && lastStatus < 500 && !transient4xx(lastStatus, lastError)) {
        if (refusedBy(lastStatus, lastError) === 'request') {
          throw upstreamRefused(MODEL_REJECTED, `the model provider refuses this request (${lastStatus}); sent again it is refused again`);
        }
        throw new DependencyUnavailableError(
          'service',
          `the model provider refuses the platform's key, model or project (${lastStatus}): check GEMINI_SECRET_ARN and GEMINI_MODEL: ${(lastError as Error).message}`,
          'the model provider is unavailable, retry later',
        );
      }
      throw serviceUnavailable('the model provider is unavailable, retry later');
    },
  };
}

/** Deterministic stand-in content: the same prompt always gives the same document. */
export function offlineProvider(model: string): ContentProvider {
  return {
    name: 'offline',
    model: `offline:${model}`,
    generate: async (prompt, options = {}) => {
      // The offline writer stands in for the model's call: counted as one, as local runs behave as deployed ones.
      options.onAttempt?.();
      const digest = createHash('sha256').update(prompt).digest('hex');
      const lines = prompt.split(/(?<=[.!?])\s+/).filter(Boolean).slice(0, 6);
      return [
        `# Draft document ${digest.slice(0, 8)}`,
        '',
        '_Generated offline: no Gemini key is configured._',
        '',
        '## Brief',
        '',
        ...lines.map((l) => `- ${l}`),
        '',
        '## Content',
        '',
        `This section stands in for the model's answer. Reference ${digest.slice(8, 24)}.`,
        '',
      ].join('\n');
    },
  };
}

/**
 * Gemini when the key is there; the offline writer only when no key is configured at all (the
 * local run). A key whose secret has no value yet (GEMINI_SECRET_ARN given, nothing put) is never
 * the offline writer: generating answers a 503 naming GEMINI_SECRET_ARN until the value is read
 * (the config is read again in place, core/config.ts recheckSecrets), then Gemini.
 */
export function providerFor(config: AppConfig): ContentProvider {
  const key = config.secrets.geminiApiKey;
  if (key) return geminiProvider(config, key);
  if (config.gemini.apiKey.arn === undefined) return offlineProvider(config.gemini.model);
  let gemini: ContentProvider | undefined;
  return {
    name: 'gemini',
    model: config.gemini.model,
    generate: (prompt, options) => {
      gemini ??= geminiProvider(config, requireSecret(config, 'geminiApiKey'));
      return gemini.generate(prompt, options);
    },
    assertReady: () => void requireSecret(config, 'geminiApiKey'),
  };
}
