import { UsageError } from '../../core/cli';
import { answers } from './postgres';

export interface LocalListener {
  /** The variable that moves it, as the message names it. */
  variable: string;
  /** 0 is any free port, never taken. */
  port: number;
}

/**
 * Checked before anything starts: a second `npm run dev` in another terminal would otherwise get
 * as far as the first listener it cannot open, after it had used (and, with --fresh, dropped)
 * the running one's database. Whatever answers on 127.0.0.1 also holds a 0.0.0.0 listen there.
 */
export async function assertPortsFree(listeners: LocalListener[]): Promise<void> {
  const fixed = listeners.filter((l) => l.port !== 0);
  const taken = (await Promise.all(fixed.map(async (l) => ((await answers('127.0.0.1', l.port)) ? l : undefined)))).filter((l) => l !== undefined);
  if (taken.length === 0) return;
  const named = taken.map((l) => `${l.port} (${l.variable})`).join(', ');
  throw new UsageError(
    taken[0].variable,
    `${taken.length === 1 ? 'port' : 'ports'} ${named} ${taken.length === 1 ? 'is' : 'are'} taken on 127.0.0.1: npm run dev is already running ` +
      '(stop it with Ctrl-C in its terminal) or another program listens there; set the variable to another port, 0 for any free one',
  );
}
