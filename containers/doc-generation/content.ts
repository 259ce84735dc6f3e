import * as z from '../../core/zod';
import { AppError } from '../../core/errors';
import { internalApi, TrafficKind } from '../../core/internal-api';
import type { InternalClient } from '../../core/internal-client';
import { RetryLater } from '../shared/consumer';

/**
 * The Markdown of a document, from core-llm's `POST /generate` through the one internal client
 * (Lambda Invoke of the `live` alias in AWS, HTTP locally).
 *
 * core-llm answers 429 with a Retry-After when the generation budget of the order's kind of
 * traffic is used up (functions/core-llm/budget.ts). The job does not wait for it in its slot: it
 * throws `RetryLater`, and the consumer gives the message back with that visibility, so the slot
 * serves the next message (a B2C order among a batch's rows) at once. The budget books a batch's
 * refusals at the pace it can serve them, so a row comes back about once, not once per window.
 */
const GenerateResponse = z.object({ text: z.string().check(z.minLength(1)) });

export interface ContentRequest {
  clientId: string;
  orderId: string;
  prompt: string;
  /** A batch row's, or a B2C order's (interactive). */
  traffic: TrafficKind;
  /** The job's request id (its message's), sent as x-request-id: core-llm logs under the request that caused the order's job. */
  requestId: string;
}

/** A 429 without Retry-After (not core-llm's own answer): the budget's window length. */
const DEFAULT_RETRY_SECONDS = 10;

export async function generateMarkdown(internal: InternalClient, req: ContentRequest): Promise<string> {
  let body: unknown;
  try {
    const api = internalApi(internal, { requestId: req.requestId, orderId: req.orderId });
    body = await api.coreLlm.generate({ clientId: req.clientId, prompt: req.prompt, traffic: req.traffic });
  } catch (err) {
    if (err instanceof AppError && err.status === 429) throw new RetryLater(err.retryAfter ?? DEFAULT_RETRY_SECONDS, `core-llm: ${err.message}`);
    throw err;
  }
  // The type says what core-llm promises; the worker still refuses an answer without text rather than render an empty document.
  const parsed = GenerateResponse.safeParse(body);
  if (!parsed.success) throw new Error('core-llm answered without text');
  return parsed.data.text;
}
