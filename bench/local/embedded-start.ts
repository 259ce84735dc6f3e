import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { integerOption, parseOptions, runCli } from '../../core/cli';
import { createLogger, stderrSink } from '../../core/logger';
import { freePort, startDev } from '../../test/support/local-dev';
import { formatLoad, loadAverage, median, printFigures } from '../figures';

/**
 * `npm run bench:local [-- --rounds 3]`: how long `npm run dev` takes from its start to its first
 * answer (`GET /b2c/themes` → 200 on gateway-b2c) when nothing answers at DATABASE_URL, so it
 * runs on the embedded PostgreSQL 16:
 *  - cold: an empty data folder (initdb, then migrations and seeds on the new cluster);
 *  - warm: the folder the cold start left (the server starts on its data; migrations find nothing to do).
 * Each round is one cold start then one warm start over the same folder, on free ports; the load
 * average is printed before and after, as the machine may be shared.
 */
const USAGE = `usage: npm run bench:local [-- --rounds N]
  --rounds N   rounds of one cold and one warm start, 1 to 100 (default 3)`;

const log = createLogger({ component: 'bench-local' }, 'info', stderrSink);

async function timeStart(env: Record<string, string>): Promise<{ firstAnswerMs: number; bannerMs: number }> {
  const gatewayPort = await freePort();
  const t0 = Date.now();
  const starting = startDev({ ...env, PORT_GATEWAY_B2C: String(gatewayPort) });
  let firstAnswerMs = 0;
  for (;;) {
    try {
      const res = await fetch(`http://127.0.0.1:${gatewayPort}/b2c/themes`, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) {
        firstAnswerMs = Date.now() - t0;
        break;
      }
    } catch {
      // Not listening yet.
    }
    if (Date.now() - t0 > 120_000) throw new Error('no answer within 120 s');
    await new Promise((r) => setTimeout(r, 20));
  }
  const run = await starting;
  const code = await run.stop();
  if (code !== 0) throw new Error(`npm run dev exited ${code}:\n${run.output()}`);
  return { firstAnswerMs, bannerMs: run.startedInMs };
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseOptions({ args: argv, options: { rounds: { type: 'string' } } });
  const rounds = integerOption('--rounds', values.rounds, { min: 1, max: 100 }, 3);
  console.log(`npm run dev on the embedded PostgreSQL: start → first answer (${rounds} rounds; node ${process.version}, ${cpus().length} cores)`);
  const loadBefore = loadAverage();
  console.log(`load average before: ${formatLoad()}`);
  const cold: number[] = [];
  const warm: number[] = [];
  for (let i = 1; i <= rounds; i++) {
    const dir = mkdtempSync(join(tmpdir(), 'bench-embedded-pg-'));
    // As root the server runs as the postgres user, which must get through this folder.
    chmodSync(dir, 0o755);
    const env = { DATABASE_URL: `postgres://postgres@127.0.0.1:${await freePort()}/docplatform`, LOCAL_STATE_DIR: join(dir, 'local'), LOG_LEVEL: 'warn' };
    try {
      const c = await timeStart(env);
      const w = await timeStart(env);
      cold.push(c.firstAnswerMs);
      warm.push(w.firstAnswerMs);
      console.log(`  round ${i}: cold ${c.firstAnswerMs} ms (banner ${c.bannerMs} ms), warm ${w.firstAnswerMs} ms (banner ${w.bannerMs} ms)`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  console.log(`cold (empty data folder): median ${median(cold)} ms, min ${Math.min(...cold)}, max ${Math.max(...cold)}`);
  console.log(`warm (data kept):         median ${median(warm)} ms, min ${Math.min(...warm)}, max ${Math.max(...warm)}`);
  console.log(`load average after: ${formatLoad()}`);
  printFigures('local', { rounds, loadAverageBefore: loadBefore, coldFirstAnswerMs: { median: median(cold), min: Math.min(...cold), max: Math.max(...cold) }, warmFirstAnswerMs: { median: median(warm), min: Math.min(...warm), max: Math.max(...warm) } });
  return 0;
}

runCli(() => main(process.argv.slice(2)), { log, usage: USAGE });
