/**
 * At most `free` holders at once. Waiters are served in order, urgent ones first: the doc worker's
 * render slots let a B2C order's render go before batch rows already waiting for a page, which
 * the queue order alone cannot do once the rows are in hand.
 */
export class Semaphore {
  private readonly waiters: Array<() => void> = [];
  private readonly urgentWaiters: Array<() => void> = [];

  constructor(private free: number) {
    if (!Number.isInteger(free) || free < 1) throw new Error(`semaphore size must be a positive integer, got ${free}`);
  }

  async acquire(urgent = false): Promise<void> {
    if (this.free > 0) {
      this.free -= 1;
      return;
    }
    await new Promise<void>((resolve) => (urgent ? this.urgentWaiters : this.waiters).push(resolve));
  }

  release(): void {
    const next = this.urgentWaiters.shift() ?? this.waiters.shift();
    if (next) next();
    else this.free += 1;
  }

  async with<T>(fn: () => Promise<T>, urgent = false): Promise<T> {
    await this.acquire(urgent);
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}
