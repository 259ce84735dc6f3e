import { cachedValue } from './ttl-cache';

/** The gateway's in-memory theme list cache: shared loads, no kept failures, expiry from load time. */
const deferred = <T>() => {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
};

test('concurrent misses share one load, made with the first caller’s arguments; the value is kept for the TTL', async () => {
  let clock = 1000;
  const calls: string[] = [];
  const pending = deferred<string>();
  const get = cachedValue(30_000, (id: string) => (calls.push(id), pending.promise), () => clock);
  const [a, b] = [get('req-1'), get('req-2')];
  pending.resolve('themes');
  expect(await Promise.all([a, b])).toEqual(['themes', 'themes']);
  clock += 29_999;
  expect(await get('req-3')).toBe('themes');
  expect(calls).toEqual(['req-1']);
  clock += 1;
  await get('req-4');
  expect(calls).toEqual(['req-1', 'req-4']);
});

test('a failed load is not kept: the next call loads again', async () => {
  let n = 0;
  const get = cachedValue(30_000, async () => {
    n += 1;
    if (n === 1) throw new Error('theme service unreachable');
    return n;
  });
  await expect(get()).rejects.toThrow('theme service unreachable');
  expect(await get()).toBe(2);
  expect(await get()).toBe(2);
});

test('a TTL of 0 keeps nothing', async () => {
  let n = 0;
  const get = cachedValue(0, async () => ++n);
  expect([await get(), await get(), await get()]).toEqual([1, 2, 3]);
});
