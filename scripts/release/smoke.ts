/**
 * Post-deploy smoke test: GET each URL until it answers 200 with `{"status":"ok"}` or the
 * attempts run out. Retries cover the seconds a fresh stage or a moved alias takes to settle.
 */
export interface SmokeOptions {
  attempts?: number;
  delayMs?: number;
  timeoutMs?: number;
}

export interface SmokeResult {
  url: string;
  ok: boolean;
  attempts: number;
  status?: number;
  error?: string;
}

async function probe(url: string, timeoutMs: number): Promise<{ ok: boolean; status?: number; error?: string }> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers: { accept: 'application/json' } });
    const text = await response.text();
    if (response.status !== 200) return { ok: false, status: response.status, error: `HTTP ${response.status}` };
    let body: { status?: unknown };
    try {
      body = JSON.parse(text);
    } catch {
      return { ok: false, status: 200, error: 'body is not JSON' };
    }
    return body.status === 'ok' ? { ok: true, status: 200 } : { ok: false, status: 200, error: `status is ${JSON.stringify(body.status)}` };
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
}

export async function smokeTest(url: string, options: SmokeOptions = {}): Promise<SmokeResult> {
  const attempts = options.attempts ?? 10;
  const delayMs = options.delayMs ?? 3000;
  const timeoutMs = options.timeoutMs ?? 5000;
  let last: { ok: boolean; status?: number; error?: string } = { ok: false };
  for (let attempt = 1; attempt <= attempts; attempt++) {
    last = await probe(url, timeoutMs);
    if (last.ok) return { url, ok: true, attempts: attempt, status: last.status };
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
    throw new Error(`--url must be an absolute URL, got "${base}"`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new Error(`--url must be http(s), got "${base}"`);
  return `${base.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}
