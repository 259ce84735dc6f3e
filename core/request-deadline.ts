import { AsyncLocalStorage } from 'node:async_hooks';

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
