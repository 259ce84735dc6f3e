/**
 * `promise`, or the rejection `late()` once `ms` have passed, the timer cleared as soon as either
 * settles: the one time limit for a step that takes no AbortSignal (Playwright's page steps, the
 * Stripe SDK, a call bounded by the request's deadline). The step itself goes on unobserved.
 */
export function withinTime<T>(promise: Promise<T>, ms: number, late: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(late()), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}
