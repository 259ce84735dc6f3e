import { listen, StandInServer } from '../../../scripts/local/stand-ins/http';

/**
 * A local stand-in for the Gemini generateContent REST API, for the real @google/genai SDK
 * pointed at it with `httpOptions.baseUrl`. Answers are derived from the prompt; failures can be
 * scripted to exercise retries (429/5xx) and timeouts.
 */
export interface GeminiStandIn extends StandInServer {
  calls: { model: string; prompt: string; apiKey?: string }[];
  /** The next n calls answer `status` (or hang for `delayMs` before answering). */
  failNext(status: number, times?: number): void;
  delayNext(delayMs: number, times?: number): void;
}

export async function startGeminiStandIn(options: { apiKey?: string } = {}): Promise<GeminiStandIn> {
  const calls: GeminiStandIn['calls'] = [];
  const script: { status?: number; delayMs?: number }[] = [];
  const server = await listen(async (req, body) => {
    const match = /^\/v1beta\/models\/([^/:]+):generateContent$/.exec(new URL(req.url ?? '/', 'http://x').pathname);
    if (req.method !== 'POST' || !match) return { status: 404, json: { error: { code: 404, message: 'not found', status: 'NOT_FOUND' } } };
    const apiKey = req.headers['x-goog-api-key'] as string | undefined;
    const parsed = JSON.parse(body.toString('utf8')) as { contents?: { parts?: { text?: string }[] }[] };
    const prompt = (parsed.contents ?? []).flatMap((c) => c.parts ?? []).map((p) => p.text ?? '').join('\n');
    calls.push({ model: match[1], prompt, apiKey });
    const step = script.shift();
    if (step?.delayMs) await new Promise((r) => setTimeout(r, step.delayMs));
    if (options.apiKey && apiKey !== options.apiKey) {
      return { status: 400, json: { error: { code: 400, message: 'API key not valid', status: 'INVALID_ARGUMENT' } } };
    }
    if (step?.status) {
      return { status: step.status, json: { error: { code: step.status, message: 'stand-in failure', status: step.status === 429 ? 'RESOURCE_EXHAUSTED' : 'UNAVAILABLE' } } };
    }
    return {
      status: 200,
      json: {
        candidates: [{ content: { role: 'model', parts: [{ text: `# Stand-in answer\n\nModel ${match[1]} was asked:\n\n> ${prompt.slice(0, 200)}\n` }] }, finishReason: 'STOP', index: 0 }],
        usageMetadata: { promptTokenCount: 10, candidatesTokenCount: 20, totalTokenCount: 30 },
        modelVersion: match[1],
      },
    };
  });
  return {
    ...server,
    calls,
    failNext: (status, times = 1) => {
      for (let i = 0; i < times; i++) script.push({ status });
    },
    delayNext: (delayMs, times = 1) => {
      for (let i = 0; i < times; i++) script.push({ delayMs });
    },
  };
}
