import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { secretState, type SecretState } from '../preflight/secrets';
import { UsageError } from '../../core/cli';
import { ENV, SECRET_STEMS } from '../../core/contract';

/**
 * Post-deploy smoke test: GET each URL until it answers 200 with `{"status":"ok"}` or the
 * attempts run out. Retries cover the seconds a fresh stage or a moved alias takes to settle.
 *
 * `{"status":"degraded","missing":[…]}` (functions/shared/http.ts) passes too, as `degraded`: the
 * service started, but the secrets named there have no value yet (the first deploy, before anyone
 * put them). The CLI says which command puts each; the routes that need one answer 503 until then.
 */
export interface SmokeOptions {
  attempts?: number;
  delayMs?: number;
  timeoutMs?: number;
  /**
   * `health` (default): 200 with `{"status":"ok"}` (or degraded, naming its missing settings).
   * `refused`: the service's own 401 for a request without credentials (`{"error":{"code":"unauthorized"}}`,
   * core/errors.ts), which only its code answers: how a service with no public health route
   * (gateway-b2b: `/health` is gateway-b2c's) shows that its new version starts and serves.
   */
  expect?: 'health' | 'refused';
}

export interface SmokeResult {
  url: string;
  ok: boolean;
  attempts: number;
  status?: number;
  error?: string;
  /** Started without these settings (their secrets have no value yet): ok, with a warning. */
  missing?: string[];
}

export type Probe = { ok: boolean; status?: number; error?: string; missing?: string[] };

const isNameList = (v: unknown): v is string[] => Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === 'string' && /^[A-Z][A-Z0-9_]*$/.test(x));

/**
 * What a service's `GET /health` answer says (functions/shared/http.ts), whichever way it was
 * reached: through the edge here, by Lambda Invoke of an internal service's alias in
 * internal-health.ts.
 */
export function healthVerdict(status: number, body: unknown): Probe {
  if (status !== 200) return { ok: false, status, error: `HTTP ${status}` };
  if (typeof body !== 'object' || body === null) return { ok: false, status, error: 'body is not JSON' };
  const health = body as { status?: unknown; missing?: unknown };
  if (health.status === 'ok') return { ok: true, status };
  // Degraded with the settings it misses named: started, waiting for secret values (not retried).
  if (health.status === 'degraded' && isNameList(health.missing)) return { ok: true, status, missing: health.missing };
  return { ok: false, status, error: `status is ${JSON.stringify(health.status)}` };
}

async function probe(url: string, timeoutMs: number, expect: NonNullable<SmokeOptions['expect']>): Promise<Probe> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
    const text = await response.text();
    if (expect === 'refused') {
      if (response.status !== 401) return { ok: false, status: response.status, error: `HTTP ${response.status}, not the service's 401 to a request without credentials` };
      let refused: { error?: { code?: unknown } } | undefined;
      try {
        refused = JSON.parse(text);
      } catch {
        refused = undefined;
      }
      // API Gateway's or CloudFront's own 401s carry no such body: only the service's code writes it.
      return refused?.error?.code === 'unauthorized' ? { ok: true, status: 401 } : { ok: false, status: 401, error: 'a 401 without the service\'s {"error":{"code":"unauthorized"}} body' };
    }
    if (response.status !== 200) return { ok: false, status: response.status, error: `HTTP ${response.status}` };
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      return { ok: false, status: 200, error: 'body is not JSON' };
    }
    return healthVerdict(200, body);
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
}

export async function smokeTest(url: string, options: SmokeOptions = {}): Promise<SmokeResult> {
  const attempts = options.attempts ?? 10;
  const delayMs = options.delayMs ?? 3000;
  const timeoutMs = options.timeoutMs ?? 5000;
  let last: Probe = { ok: false };
  for (let attempt = 1; attempt <= attempts; attempt++) {
    last = await probe(url, timeoutMs, options.expect ?? 'health');
    if (last.ok) return { url, ok: true, attempts: attempt, status: last.status, ...(last.missing ? { missing: last.missing } : {}) };
    if (attempt < attempts) await new Promise((resolve) => setTimeout(resolve, delayMs));
  }
  return { url, ok: false, attempts, status: last.status, error: last.error };
}

/** `https://x.execute-api…/live` + `/health` without doubled or missing slashes. */
export function joinUrl(base: string, path: string): string {
  let parsed: URL;
  try {
    parsed = new URL(base);
  } catch {
    throw new UsageError('--url', `must be an absolute URL, got "${base}"`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new UsageError('--url', `must be http(s), got "${base}"`);
  return `${base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

/**
 * The secret behind each setting a service may report missing: the variable naming its ARN
 * (stacks/compute.ts) → the name stem of the secret the data stack creates empty
 * (`docplatform-<env>-<stem>`, stacks/data.ts). test/release/smoke.test.ts holds it against the
 * synthesised stacks.
 */
export const SECRET_STEM_OF_SETTING: Record<string, string> = {
  [ENV.dbSecretArn]: SECRET_STEMS.databaseApp,
  [ENV.geminiSecretArn]: SECRET_STEMS.gemini,
  [ENV.stripeSecretArn]: SECRET_STEMS.stripeSecretKey,
  [ENV.stripeWebhookSecretArn]: SECRET_STEMS.stripeWebhookSecret,
  [ENV.orderTokenSecretArn]: SECRET_STEMS.orderToken,
};

/** The state of each secret (preflight's secretState: DescribeSecret alone, as the deploy role may). */
export async function secretStates(client: SecretsManagerClient, names: string[]): Promise<Array<{ name: string; state: SecretState['state'] }>> {
  return Promise.all(names.map(async (name) => ({ name, state: (await secretState(client, name)).state })));
}
