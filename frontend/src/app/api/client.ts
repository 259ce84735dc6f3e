import createClient from 'openapi-fetch';
import type { components, paths } from './schema';

/**
 * The API client, typed by the paths of docs/api/openapi.json (`npm run generate:api` writes
 * ./schema.ts from it). The base is relative: the app and the API share one origin, the edge
 * sending /api/* to the API Gateway without the prefix (CloudFront in AWS, the local edge of
 * `npm run dev`), so no CORS and no per-environment URL in the build.
 */
export const API_BASE = '/api';

export const api = createClient<paths>({ baseUrl: API_BASE });

export type Schemas = components['schemas'];

/** The API's error body `{ error: { code, message, fields? } }` as one line for the user: its message, then each field's. */
export function errorMessage(body: unknown, status?: number): string {
  const error = (body as { error?: { message?: unknown; fields?: { field: string; message: string }[] } } | undefined)?.error;
  if (!error || typeof error.message !== 'string') return `The API answered ${status ?? 'nothing usable'}.`;
  const fields = (error.fields ?? []).map((f) => `${f.field}: ${f.message}`);
  return fields.length ? `${error.message} (${fields.join('; ')})` : error.message;
}

/**
 * Whether an error answer may pass by itself, so a status loop reads again rather than stopping:
 * API Gateway's throttling (429) and an origin that did not answer (CloudFront's 502, 503, 504)
 * say nothing about the order or the batch.
 */
export const isTransient = (status: number): boolean => status === 429 || status >= 500;

/** A random idempotency key (the API wants 22–200 characters of A–Z a–z 0–9 _ -). */
export const idempotencyKey = (): string => crypto.randomUUID();
