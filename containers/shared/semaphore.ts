/** Counts free slots; `acquire` waits in FIFO order when none is free. */
export class Semaphore {
  private waiters: Array<() => void> = [];

  constructor(private free: number) {
    if (!Number.isInteger(free) || free < 1) throw new Error(`semaphore size must be a positive integer, got ${free}`);
  }

  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free -= 1;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.free += 1;
  }

  async with<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}
