import type { Cached, LlmStore } from './store';

/**
 * One generation at a time per prompt, across execution environments: identical prompts that
 * arrive together (duplicate rows of a B2B batch on concurrent doc workers, a retried job racing
 * its first delivery) would otherwise each miss the cache and each pay a model call, a count of
 * the client's rate limit and of the generation budget.
 *
 * The first caller takes the prompt's lease in Redis (`llm:lease:<hash>`, SET NX PX) and renews
 * it while it generates; the others poll the cache for its answer. The lease is short so that a
 * leader that died (its Lambda killed, its environment frozen) holds nobody up for long: unrenewed,
 * it runs out within LEASE_MS and the next caller to try takes it. A leader the model refuses for
 * the prompt, or its quota refuses until a given time, caches the refusal before it gives the
 * lease back (app.ts): the followers are answered that refusal, as they would be its text, since
 * the same prompt is refused again (the quota's, until its wait ends: each follower is told what
 * is left of it). A leader that fails otherwise (a model error or timeout, which the next call may
 * not meet, a refusal by the client's limit or the budget, which may not be the follower's) gives the lease
 * back at once, and a follower takes over. A follower
 * waits at most FOLLOWER_WAIT_SHARE of the time its own request has left, then generates itself,
 * with the rest; without Redis there is no lease and everyone generates (a cache is an
 * optimisation: losing it costs money, not availability).
 */
export const LEASE_MS = 5000;
const RENEW_EVERY_MS = LEASE_MS / 3;
/** How often a follower looks for the leader's answer: a GET, and a SET NX should the lease be free. */
export const POLL_MS = 200;
/** Half of a follower's remaining time may go to waiting; the other half stays for its own generation. */
export const FOLLOWER_WAIT_SHARE = 0.5;

export interface Flight {
  /** What another caller got meanwhile (a cache hit: its text or the model's refusal), or null: this caller generates. */
  answer: Cached | null;
  /** Once the answer is cached or the generation failed: stops the renewals and gives the lease back, if this caller held it. */
  land(): Promise<void>;
}

const noop = async () => undefined;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Called after a cache miss: returns with the leader's answer, or once this caller should generate. */
export async function joinFlight(store: LlmStore, promptHash: string, deadline: number): Promise<Flight> {
  const waitUntil = Date.now() + Math.max(0, deadline - Date.now()) * FOLLOWER_WAIT_SHARE;
  for (;;) {
    const lease = await store.lease(promptHash, LEASE_MS);
    if (lease.state === 'unavailable') return { answer: null, land: noop };
    if (lease.state === 'taken') {
      // The previous leader may have cached its answer and left between this caller's read and its lease.
      const answer = await store.get(promptHash);
      if (answer === null) return lead(store, promptHash, lease.token);
      await store.release(promptHash, lease.token);
      return { answer, land: noop };
    }
    if (Date.now() + POLL_MS > waitUntil) return { answer: null, land: noop };
    await sleep(POLL_MS);
    const answer = await store.get(promptHash);
    if (answer !== null) return { answer, land: noop };
  }
}

function lead(store: LlmStore, promptHash: string, token: string): Flight {
  // The store never rejects (a failed command degrades it), so a renewal needs no handler; one sent
  // just before the release reaches Redis first on the same connection.
  const timer = setInterval(() => void store.renew(promptHash, token, LEASE_MS), RENEW_EVERY_MS);
  timer.unref();
  return {
    answer: null,
    land: async () => {
      clearInterval(timer);
      await store.release(promptHash, token);
    },
  };
}
