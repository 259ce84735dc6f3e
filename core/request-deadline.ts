import { AsyncLocalStorage } from 'node:async_hooks';
import { withinTime } from './time-limit';

/**
 * The time by which the request in progress must have answered (epoch ms), carried through its
 * async calls: what waits on a dependency (the database resuming from a pause, core/db.ts) waits
 * no longer than the request may, and answers a 503 in time rather than being cut off by the
 * Lambda timeout. Outside a request (workers, CLIs) there is none.
 */
const storage = new AsyncLocalStorage<number>();

export function withRequestDeadline<T>(deadline: number, fn: () => Promise<T>): Promise<T> {
  return storage.run(deadline, fn);
}

export function requestDeadline(): number | undefined {
  return storage.getStore();
}

/**
 * A wait of `ms`, or less inside a request that must answer sooner (at least 1 ms): what a call
 * with its own bound gives its AbortSignal. Outside a request, `ms`.
 */
export function withinRequestDeadline(ms: number): number {
  const deadline = requestDeadline();
  return deadline === undefined ? ms : Math.max(1, Math.min(ms, deadline - Date.now()));
}

/**
 * `promise`, or the rejection `late()` once the request in progress must answer: for a call
 * whose own bound (its SDK's attempts) outlasts the Lambda and that takes no AbortSignal, which
 * would otherwise be killed mid-wait and answered by API Gateway's bare 502. Outside a request:
 * `promise` itself.
 */
export function beforeRequestDeadline<T>(promise: Promise<T>, late: () => Error): Promise<T> {
  const deadline = requestDeadline();
  return deadline === undefined ? promise : withinTime(promise, Math.max(0, deadline - Date.now()), late);
}
