import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { DUPLICATE_MS } from './interrupt';

/** A command that, once asked to stop, takes 5 s to finish what it has in hand, then exits 0. */
const COMMAND = `
const { onInterrupt } = require(${JSON.stringify(join(__dirname, 'interrupt.ts'))});
onInterrupt((signal) => { console.log('stopping ' + signal); setTimeout(() => { console.log('finished'); process.exit(0); }, 5000); });
console.log('ready');
setInterval(() => {}, 1000);
`;

async function run(signals: { signal: NodeJS.Signals; afterMs: number }[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', COMMAND], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout.on('data', (b: Buffer) => {
    const first = !stdout.includes('ready');
    stdout += b.toString();
    if (first && stdout.includes('ready')) {
      let at = 0;
      for (const { signal, afterMs } of signals) setTimeout(() => child.kill(signal), (at += afterMs));
    }
  });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
  return { code, signal, stdout };
}

describe('onInterrupt: the first signal stops a command cleanly, a second one ends it', () => {
  it('a copy of the first signal within DUPLICATE_MS (npm forwarding Ctrl-C to its child) is not a second one: the command finishes', async () => {
    const r = await run([{ signal: 'SIGINT', afterMs: 0 }, { signal: 'SIGINT', afterMs: 20 }]);
    expect({ code: r.code, signal: r.signal }).toEqual({ code: 0, signal: null });
    expect(r.stdout).toBe('ready\nstopping SIGINT\nfinished\n');
  }, 30_000);

  it('a second signal after DUPLICATE_MS ends the process at once, as without a handler', async () => {
    const r = await run([{ signal: 'SIGTERM', afterMs: 0 }, { signal: 'SIGTERM', afterMs: DUPLICATE_MS + 1000 }]);
    expect({ code: r.code, signal: r.signal }).toEqual({ code: null, signal: 'SIGTERM' });
    expect(r.stdout).toBe('ready\nstopping SIGTERM\n');
  }, 30_000);
});
