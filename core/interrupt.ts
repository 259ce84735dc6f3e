/**
 * The one way a long command (a DLQ redrive, storage:move, db:move's cutover) is stopped cleanly:
 * the first SIGINT (Ctrl-C) or SIGTERM (ECS stopping the task, SIGKILL 120 s later) calls `onStop`
 * and the command finishes what it has in hand; a second signal ends the process: as usual, or by
 * `onSecond` when the command has exit hooks to run (`npm run dev` stops its embedded PostgreSQL).
 *
 * A copy of the first signal arriving within DUPLICATE_MS is not a second one: Ctrl-C under
 * `npm run` signals the whole process group and npm forwards the signal to its child as well, so
 * the command gets SIGINT twice within milliseconds, and took the copy for a second Ctrl-C: killed
 * in the middle of what the first one asked it to finish.
 */
export const DUPLICATE_MS = 1_000;

export interface Interrupt {
  /** The signal that asked the command to stop, once one has. */
  readonly signal?: NodeJS.Signals;
  /** Stops listening (the command is over): a signal then ends the process as usual. */
  off(): void;
}

export function onInterrupt(onStop: (signal: NodeJS.Signals) => void, onSecond?: (signal: NodeJS.Signals) => void): Interrupt {
  let signal: NodeJS.Signals | undefined;
  let at = 0;
  let window: NodeJS.Timeout | undefined;
  const off = () => {
    clearTimeout(window);
    process.off('SIGINT', on);
    process.off('SIGTERM', on);
  };
  function on(received: NodeJS.Signals) {
    if (!signal) {
      signal = received;
      at = Date.now();
      if (!onSecond) {
        window = setTimeout(off, DUPLICATE_MS);
        window.unref();
      }
      onStop(received);
    } else if (onSecond && Date.now() - at >= DUPLICATE_MS) {
      off();
      onSecond(received);
    }
  }
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  return {
    get signal() {
      return signal;
    },
    off,
  };
}
