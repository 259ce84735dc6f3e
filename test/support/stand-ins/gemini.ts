import type { IncomingMessage } from 'node:http';
import { listen, StandInServer } from '../../../scripts/local/stand-ins/http';

/**
 * A local stand-in for the Gemini generateContent REST API, for the real @google/genai SDK
 * pointed at it with `httpOptions.baseUrl`. Answers are derived from the prompt; failures can be
 * scripted to exercise retries (429/5xx) and timeouts. For the batch bench it can also take as
 * long as the model (`latencyMs` on every call) and hold a project quota as Gemini does
 * (`requestsPerMinute` over the last 60 s: beyond it, 429 RESOURCE_EXHAUSTED, counted in `refused`).
 * A delayed answer ends with its caller: one that gave up, or the stand-in closed, leaves no
 * timer running to keep the process alive after the tests.
 */
export interface GeminiStandInOptions {
  apiKey?: string;
  latencyMs?: number;
  requestsPerMinute?: number;
}

export interface GeminiStandIn extends StandInServer {
  calls: { model: string; prompt: string; apiKey?: string }[];
  /** Calls answered 429 because the quota was used up. */
  readonly refused: number;
  /**
   * The next n calls answer `status`, after `delayMs` when given; `retryDelay` ("38s") adds
   * Gemini's RetryInfo to the error.
   */
  failNext(status: number, times?: number, retryDelay?: string, delayMs?: number): void;
  /** The next n calls hang for `delayMs` before answering. */
  delayNext(delayMs: number, times?: number): void;
  /**
   * The next call answers 200 with no text, as Gemini does when it withholds it: `finishReason` on
   * the candidate, `blockReason` on the prompt; after `delayMs`, when given.
   */
  answerEmptyNext(why: { finishReason?: string; blockReason?: string }, delayMs?: number): void;
  /** The next call answers 200 with the start of its text only, stopped by `finishReason` (MAX_TOKENS: the output token limit); after `delayMs`, when given. */
  answerCutNext(finishReason: string, delayMs?: number): void;
  /** The next n calls answer `status` with this message in Gemini's error body (a 400 that speaks of a timeout). */
  failNextWithMessage(status: number, message: string, times?: number): void;
  /** Forgets the calls, and the answers scripted for calls that did not come (a test's delays its caller gave up on before using them all). */
  reset(): void;
}

/** Waits `ms`, or less once the caller is gone (it gave up, or the stand-in closed the connection). */
function wait(req: IncomingMessage, ms: number): Promise<void> {
  const { socket } = req;
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      // The SDK keeps its connections alive from call to call: no listener is left on one.
      socket.off('close', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    socket.once('close', done);
  });
}

/** The google.rpc status Gemini names with each HTTP status it answers. */
const STATUS_NAMES: Record<number, string> = { 400: 'INVALID_ARGUMENT', 403: 'PERMISSION_DENIED', 404: 'NOT_FOUND', 409: 'ABORTED', 429: 'RESOURCE_EXHAUSTED', 499: 'CANCELLED', 500: 'INTERNAL', 504: 'DEADLINE_EXCEEDED' };

export async function startGeminiStandIn(options: GeminiStandInOptions = {}): Promise<GeminiStandIn> {
  const calls: GeminiStandIn['calls'] = [];
  const script: { status?: number; message?: string; delayMs?: number; retryDelay?: string; empty?: { finishReason?: string; blockReason?: string }; cut?: string }[] = [];
  const lastMinute: number[] = [];
  let refused = 0;
  const overQuota = (): boolean => {
    if (options.requestsPerMinute === undefined) return false;
    const now = Date.now();
    while (lastMinute.length > 0 && lastMinute[0] <= now - 60_000) lastMinute.shift();
    if (lastMinute.length >= options.requestsPerMinute) return true;
    lastMinute.push(now);
    return false;
  };
  const server = await listen(async (req, body) => {
    const match = /^\/v1beta\/models\/([^/:]+):generateContent$/.exec(new URL(req.url ?? '/', 'http://x').pathname);
    if (req.method !== 'POST' || !match) return { status: 404, json: { error: { code: 404, message: 'not found', status: 'NOT_FOUND' } } };
    const apiKey = req.headers['x-goog-api-key'] as string | undefined;
    const parsed = JSON.parse(body.toString('utf8')) as { contents?: { parts?: { text?: string }[] }[] };
    const prompt = (parsed.contents ?? []).flatMap((c) => c.parts ?? []).map((p) => p.text ?? '').join('\n');
    calls.push({ model: match[1], prompt, apiKey });
    if (overQuota()) {
      refused += 1;
      return { status: 429, json: { error: { code: 429, message: 'Resource has been exhausted (e.g. check quota).', status: 'RESOURCE_EXHAUSTED' } } };
    }
    if (options.latencyMs) await wait(req, options.latencyMs);
    const step = script.shift();
    if (step?.delayMs) await wait(req, step.delayMs);
    if (options.apiKey && apiKey !== options.apiKey) {
      return { status: 400, json: { error: { code: 400, message: 'API key not valid', status: 'INVALID_ARGUMENT' } } };
    }
    if (step?.status) {
      const details = step.retryDelay ? { details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: step.retryDelay }] } : {};
      return { status: step.status, json: { error: { code: step.status, message: step.message ?? 'stand-in failure', status: STATUS_NAMES[step.status] ?? 'UNAVAILABLE', ...details } } };
    }
    if (step?.empty) {
      const usageMetadata = { promptTokenCount: 10, totalTokenCount: 10 };
      const { finishReason, blockReason } = step.empty;
      return {
        status: 200,
        json: blockReason
          ? { promptFeedback: { blockReason }, usageMetadata, modelVersion: match[1] }
          : { candidates: [{ finishReason, index: 0 }], usageMetadata, modelVersion: match[1] },
      };
    }
    const text = `# Stand-in answer\n\nModel ${match[1]} was asked:\n\n> ${prompt.slice(0, 200)}\n`;
    return {
      status: 200,
      json: {
        candidates: [{ content: { role: 'model', parts: [{ text: step?.cut ? text.slice(0, 20) : text }] }, finishReason: step?.cut ?? 'STOP', index: 0 }],
        usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 20, totalTokenCount: 30 },
        modelVersion: match[1],
      },
    };
  });
  return {
    ...server,
    calls,
    get refused() {
      return refused;
    },
    failNext: (status, times = 1, retryDelay, delayMs) => {
      for (let i = 0; i < times; i++) script.push({ status, retryDelay, delayMs });
    },
    delayNext: (delayMs, times = 1) => {
      for (let i = 0; i < times; i++) script.push({ delayMs });
    },
    answerEmptyNext: (empty, delayMs) => {
      script.push({ empty, delayMs });
    },
    answerCutNext: (cut, delayMs) => {
      script.push({ cut, delayMs });
    },
    failNextWithMessage: (status, message, times = 1) => {
      for (let i = 0; i < times; i++) script.push({ status, message });
    },
    reset: () => {
      calls.length = 0;
      script.length = 0;
    },
  };
}
