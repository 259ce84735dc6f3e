import * as z from '../../core/zod';
import { AppError } from '../../core/errors';
import { internalApi } from '../../core/internal-api';
import type { InternalClient } from '../../core/internal-client';
import { DrainRequested } from '../shared/consumer';

/**
 * The Markdown of a document, from core-llm's `POST /generate` through the one internal client
 * (Lambda Invoke of the `live` alias in AWS, HTTP locally).
 *
 * core-llm rate-limits per client (429). Waiting here, with the message's heartbeat running,
 * costs a slot but no SQS receive; letting the message come back would burn one of its
 * `maxReceiveCount` receives per refusal and send a large batch's tail to the DLQ.
 *
 * A drain (SIGTERM) ends the wait at once with `DrainRequested`, never with the 429: the consumer
 * releases the message (visibility 0) for another task, no further call is made, and the handler
 * does not count it as a failure (not even on the message's last attempt).
 */
const GenerateResponse = z.object({ text: z.string().check(z.minLength(1)) });

export interface ContentRequest {
  clientId: string;
  orderId: string;
  prompt: string;
  /** The job's request id (its message's), sent as x-request-id: core-llm logs under the request that caused the order's job. */
  requestId: string;
}

export interface RateLimitWait {
  /** Stop waiting once this aborts (the task is draining): `DrainRequested` is thrown and the message is released. */
  signal: AbortSignal;
  maxWaitMs: number;
  firstDelayMs?: number;
}

const isRateLimited = (err: unknown): boolean => err instanceof AppError && err.status === 429;

function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}

export async function generateMarkdown(internal: InternalClient, req: ContentRequest, wait: RateLimitWait): Promise<string> {
  const giveUpAt = Date.now() + wait.maxWaitMs;
  let delay = wait.firstDelayMs ?? 2000;
  for (;;) {
    try {
      const api = internalApi(internal, { requestId: req.requestId, orderId: req.orderId });
      const body = await api.coreLlm.generate({ clientId: req.clientId, prompt: req.prompt });
      // The type says what core-llm promises; the worker still refuses an answer without text rather than render an empty document.
      const parsed = GenerateResponse.safeParse(body);
      if (!parsed.success) throw new Error('core-llm answered without text');
      return parsed.data.text;
    } catch (err) {
      if (!isRateLimited(err)) throw err;
      if (wait.signal.aborted) throw new DrainRequested();
      if (Date.now() + delay > giveUpAt) throw err;
      await pause(delay * (0.75 + Math.random() / 2), wait.signal);
      // Woken by the drain: hand the message back rather than spend one more call on a task that is stopping.
      if (wait.signal.aborted) throw new DrainRequested();
      delay = Math.min(delay * 2, 30_000);
    }
  }
}
