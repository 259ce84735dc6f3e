/**
 * One value kept in memory for `ttlMs` after it loaded. A miss loads it with the arguments of
 * the call that missed (e.g. its request id); concurrent misses share that one load, a failed
 * load is not kept (the next call retries), and `ttlMs = 0` keeps nothing.
 */
export function cachedValue<T, A extends unknown[]>(
  ttlMs: number,
  load: (...args: A) => Promise<T>,
  now: () => number = Date.now,
): (...args: A) => Promise<T> {
  let entry: { value: Promise<T>; expires: number } | undefined;
  return (...args) => {
    if (entry && now() < entry.expires) return entry.value;
    const current = { value: load(...args), expires: Infinity };
    entry = current;
    current.value.then(
      () => (current.expires = now() + ttlMs),
      () => {
        if (entry === current) entry = undefined;
      },
    );
    return current.value;
  };
}
