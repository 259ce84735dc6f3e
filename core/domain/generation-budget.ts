/**
 * The figures of core-llm's generation budget (functions/core-llm/budget.ts), here because the
 * config reader refuses at start a quota whose windows could never admit a generation, and
 * core-llm enforces them: one definition for both.
 */

/**
 * core-llm's budget windows (functions/core-llm/budget.ts) are this long: Gemini counts per
 * minute, and a one-minute window would let a whole minute's quota through in its first seconds.
 */
export const BUDGET_WINDOW_MS = 10_000;
const MINUTE_MS = 60_000;
/**
 * Tokens counted for an answer before it is known (Gemini reports the real count with it, and
 * the window is corrected then): a two-page document is about 1,500 tokens.
 */
export const ESTIMATED_ANSWER_TOKENS = 1500;
/** The longest prompt core-llm's POST /generate takes, in characters. */
export const MAX_PROMPT = 20000;

/** Prompt tokens (about 4 characters each) plus the expected answer. */
export const estimateTokens = (promptChars: number): number => Math.ceil(promptChars / 4) + ESTIMATED_ANSWER_TOKENS;

/**
 * The estimate of the longest prompt: a budget whose window (or whose batch part of it) holds
 * fewer tokens refuses such a generation in every window, for ever.
 */
export const LARGEST_ESTIMATE = estimateTokens(MAX_PROMPT);

/** The smallest per-minute figure whose window holds `perWindow` (the inverse of windowLimits' rounding down). */
const perMinuteFor = (perWindow: number): number => Math.ceil((perWindow * MINUTE_MS) / BUDGET_WINDOW_MS);
/** Below these, every window rounds down to no request, or to fewer tokens than the longest prompt. */
export const MIN_REQUESTS_PER_MINUTE = perMinuteFor(1);
export const MIN_TOKENS_PER_MINUTE = perMinuteFor(LARGEST_ESTIMATE);

/**
 * core-llm's generation budget (functions/core-llm/budget.ts): the Gemini quota of the project,
 * the share of it (and of the batch generations in flight) kept for interactive B2C orders, and
 * how many batch generations may wait on the model at once (the doc workers' slots less that share).
 */
export interface GenerationBudgetSettings {
  requestsPerMinute: number;
  tokensPerMinute: number;
  interactiveSharePercent: number;
  batchMaxInFlight: number;
}

export interface WindowLimits {
  windowMs: number;
  requests: number;
  tokens: number;
  interactiveRequests: number;
  interactiveTokens: number;
  batchMaxInFlight: number;
}

/** The per-window figures of a per-minute budget (rounded down: the quota is never exceeded by rounding). */
export function windowLimits(settings: GenerationBudgetSettings, windowMs = BUDGET_WINDOW_MS): WindowLimits {
  const perWindow = (perMinute: number) => Math.floor((perMinute * windowMs) / MINUTE_MS);
  const requests = perWindow(settings.requestsPerMinute);
  const tokens = perWindow(settings.tokensPerMinute);
  const share = settings.interactiveSharePercent / 100;
  return {
    windowMs,
    requests,
    tokens,
    interactiveRequests: Math.ceil(requests * share),
    interactiveTokens: Math.ceil(tokens * share),
    batchMaxInFlight: settings.batchMaxInFlight,
  };
}

/** Batch generations get a window less the interactive share: it must still hold a request and the longest prompt. */
export function batchPartFits(settings: GenerationBudgetSettings): boolean {
  const l = windowLimits(settings);
  return l.requests - l.interactiveRequests >= 1 && l.tokens - l.interactiveTokens >= LARGEST_ESTIMATE;
}
