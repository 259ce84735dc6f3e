import { Semaphore } from '../../containers/shared/semaphore';

/** The render slots' semaphore: a bound on holders, waiters in order, urgent ones (B2C renders) first. */
const tick = () => new Promise((r) => setImmediate(r));

test('never more holders than slots; a release hands the slot to the next waiter', async () => {
  const s = new Semaphore(2);
  let holding = 0;
  let most = 0;
  await Promise.all(
    Array.from({ length: 6 }, () =>
      s.with(async () => {
        holding += 1;
        most = Math.max(most, holding);
        await tick();
        holding -= 1;
      }),
    ),
  );
  expect(most).toBe(2);
});

test('urgent waiters go before the others, each kind in its own arrival order', async () => {
  const s = new Semaphore(1);
  await s.acquire();
  const order: string[] = [];
  const wait = (name: string, urgent: boolean) => s.acquire(urgent).then(() => order.push(name));
  const all = [wait('batch-1', false), wait('batch-2', false), wait('b2c-1', true), wait('batch-3', false), wait('b2c-2', true)];
  for (let i = 0; i < 5; i++) {
    s.release();
    await tick();
  }
  await Promise.all(all);
  expect(order).toEqual(['b2c-1', 'b2c-2', 'batch-1', 'batch-2', 'batch-3']);
});

test('a slot freed with nobody waiting is free for the next acquire', async () => {
  const s = new Semaphore(1);
  await s.with(async () => undefined);
  await expect(Promise.race([s.acquire().then(() => 'acquired'), tick().then(() => 'waiting')])).resolves.toBe('acquired');
});

test('a size that is not a positive integer is refused', () => {
  expect(() => new Semaphore(0)).toThrow(/positive integer/);
  expect(() => new Semaphore(1.5)).toThrow(/positive integer/);
});
