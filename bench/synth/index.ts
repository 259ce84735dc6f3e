import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runCli } from '../../core/cli';
import { createLogger, stderrSink } from '../../core/logger';
import { countArgument } from '../count-argument';
import { median, printFigures } from '../figures';

/**
 * Wall time and peak memory of a full synth of every stack (`tsx main.ts`, what `cdktf synth`
 * runs), median of RUNS runs. Peak memory is the largest resident set of the process tree,
 * and CPU time read from GNU time when present (peak from the child's rusage otherwise).
 * Usage: npm run bench:synth [-- runs] (or `-- --runs N`)
 */

const ROOT = path.resolve(__dirname, '../..');
/** Log lines go to stderr: stdout carries the runs and the result line. */
const log = createLogger({ component: 'bench-synth' }, 'info', stderrSink);
const USAGE = `usage: npm run bench:synth [-- runs | -- --runs N]
  runs, --runs N   full synths to take the median of, 1 to 100 (default 3)`;
const TARGET = { seconds: 20, megabytes: 600 };
const GNU_TIME = '/usr/bin/time';

function once(): { seconds: number; cpuSeconds: number; megabytes: number; stacks: number } {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-synth-'));
  const command = [process.execPath, require.resolve('tsx/cli'), 'main.ts'];
  const useGnuTime = fs.existsSync(GNU_TIME);
  const started = process.hrtime.bigint();
  const result = useGnuTime
    ? spawnSync(GNU_TIME, ['-f', '%M %U %S', ...command], { cwd: ROOT, env: { ...process.env, CDKTF_OUTDIR: outdir }, encoding: 'utf8' })
    : spawnSync(command[0], command.slice(1), { cwd: ROOT, env: { ...process.env, CDKTF_OUTDIR: outdir }, encoding: 'utf8' });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.status !== 0) throw new Error(`synth failed:\n${result.stderr}`);
  const [kilobytes, user, system] = useGnuTime
    ? result.stderr.trim().split('\n').pop()!.split(' ').map(Number)
    : [process.resourceUsage().maxRSS, Number.NaN, Number.NaN];
  const stacks = Object.keys(JSON.parse(fs.readFileSync(path.join(outdir, 'manifest.json'), 'utf8')).stacks).length;
  fs.rmSync(outdir, { recursive: true, force: true });
  return { seconds, cpuSeconds: user + system, megabytes: kilobytes / 1024, stacks };
}

function main(argv: string[]): number {
  const runs = countArgument(argv, 'runs', { min: 1, max: 100 }, 3);
  const samples = Array.from({ length: runs }, (_, i) => {
    const sample = once();
    process.stdout.write(`run ${i + 1}/${runs}: ${sample.seconds.toFixed(2)} s wall, ${sample.cpuSeconds.toFixed(2)} s CPU, ${sample.megabytes.toFixed(0)} MB peak, ${sample.stacks} stacks\n`);
    return sample;
  });
  const seconds = median(samples.map((s) => s.seconds));
  const megabytes = median(samples.map((s) => s.megabytes));
  printFigures('synth', {
    runs,
    stacks: samples[0].stacks,
    medianSeconds: seconds,
    // CPU time does not grow with other processes' load the way wall time does on a shared box.
    medianCpuSeconds: median(samples.map((s) => s.cpuSeconds)),
    medianPeakMb: Math.round(megabytes),
    target: TARGET,
    withinTarget: seconds < TARGET.seconds && megabytes < TARGET.megabytes,
  });
  return 0;
}

runCli(() => main(process.argv.slice(2)), { log, usage: USAGE });
