import { DestroyRef } from '@angular/core';

/**
 * The pause after a page's first status read; each next one doubles, up to POLL_MAX_MS. Reads
 * come at 0, 1, 3, 7, 12 s…: an order ready about 10 s after the buyer is back from Checkout
 * (the webhook, then an 8 s generation) costs five reads where a 1 s pace cost ten, and is shown
 * at most 5 s late. scripts/capacity/assumptions.ts counts these reads per order.
 */
const POLL_FIRST_MS = 1000;
const POLL_MAX_MS = 5000;

export interface PollStep<T> {
  /** One status read; the signal aborts it when the loop stops. */
  read: (signal: AbortSignal) => Promise<T>;
  /** Applies a read's answer, unless the loop stopped while it was on its way; true when the loop is done: the status is final, or the API refused the read for good. */
  apply: (answer: T) => boolean;
  /** The read failed (the API could not be reached): the loop reads again at its next pause. */
  unreachable: () => void;
}

/**
 * The one status loop of a page: starting it again stops the loop before, and the page's
 * destruction stops it, a read in flight included (aborted, its answer dropped, no read after it),
 * so a page left or a batch sent again never leaves a loop running behind it.
 */
export class Poller {
  private stopCurrent: (() => void) | undefined;
  private destroyed = false;

  constructor(destroyRef: DestroyRef) {
    destroyRef.onDestroy(() => {
      this.destroyed = true;
      this.stop();
    });
  }

  /** Starts the loop, unless the page is gone already (a batch's upload answered after the page was left). */
  start<T>(step: PollStep<T>): void {
    this.stop();
    if (this.destroyed) return;
    const controller = new AbortController();
    const { signal } = controller;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let pause = POLL_FIRST_MS;
    this.stopCurrent = () => {
      controller.abort();
      clearTimeout(timer);
    };
    const next = async (): Promise<void> => {
      try {
        const answer = await step.read(signal);
        if (signal.aborted || step.apply(answer)) return;
      } catch {
        if (signal.aborted) return;
        step.unreachable();
      }
      timer = setTimeout(() => void next(), pause);
      pause = Math.min(pause * 2, POLL_MAX_MS);
    };
    void next();
  }

  stop(): void {
    this.stopCurrent?.();
    this.stopCurrent = undefined;
  }
}
