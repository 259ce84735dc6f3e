/**
 * npm run bench:storage [-- --rounds 3 --small 2000 --large 20 --large-mb 8 --jobs 16]
 *
 * The same objects moved by `storage:move` (the real CLI as `npm run storage:move` runs it: its
 * bundle with plain node, built once here untimed; with its verification and its state in
 * PostgreSQL) and by `rclone copy --checksum`, between the same two local endpoints (buckets of
 * one fauxqs emulator), in a rotated order per round; medians of the rounds, in objects/s and
 * MB/s, for many small objects and for a few large ones, with the load average. rclone runs twice:
 * at our concurrency (`--transfers`/`--checkers` = `--jobs`) and at its own defaults (`--transfers
 * 4 --checkers 8`). Target `assets` (keys kept as they are) so every tool writes the same keys.
 * rclone is Debian's `rclone` package, installed by `scripts/install-system-deps.sh --for-bench`.
 *
 * Every tool sends each object in one PUT (large objects are 8 MiB; storage:move --part-size-mb 16,
 * rclone's upload cutoff 200 MiB): fauxqs 1.9 caps a single PUT's body near 10 MB, and rejects
 * the CompleteMultipartUpload of Debian's rclone 1.60 (InvalidPart), so multipart is not compared.
 * The source objects are written with one PUT each (putObject), as the old platform wrote its
 * documents: their ETags are MD5s, which both tools compare with the target's.
 * No tool is given a CA bundle (the endpoints are plain http; see timed()).
 * Beside each run's CPU, the emulator's own (its process's user + system time over the run): it
 * computes the MD5 of every byte stored, whichever tool sends them, and bounds the large set.
 * Prints a table and one JSON line of the figures.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { DeleteObjectsCommand } from '@aws-sdk/client-s3';
import { integerOption, parseOptions, runCli } from '../../core/cli';
import { createLogger, stderrSink } from '../../core/logger';
import { median, printFigures } from '../figures';
import { startLocalEmulator } from '../../scripts/local/emulator';
import { createTestDatabase } from '../../test/support/postgres';
import { AWS_ENV, content, listKeys, putObject, query, s3 } from '../../test/support/storage-move-harness';

const USAGE = `usage: npm run bench:storage [-- --rounds N --small N --large N --large-mb N --jobs N]
  --rounds N     rounds, each moving both sets with every tool, 1 to 100 (default 3)
  --small N      objects of 1-8 KB in the small set, 1 to 1000000 (default 2000)
  --large N      objects in the large set, 1 to 10000 (default 20)
  --large-mb N   MiB of each large object, 1 to 16 (default 8)
  --jobs N       storage:move --jobs, rclone --transfers/--checkers, 1 to 64 (default 16)`;

const log = createLogger({ component: 'bench-storage' }, 'info', stderrSink);
const RUN_CLI = join(__dirname, '../../build/run-cli.cjs');

/** rclone comes from Debian through the project's installer (its --for-bench set), like pgcopydb. */
function ensureRclone(): string {
  execFileSync('bash', [join(__dirname, '../../scripts/install-system-deps.sh'), '--for-bench'], { stdio: ['ignore', 'inherit', 'inherit'] });
  return spawnSync('rclone', ['version'], { encoding: 'utf8' }).stdout.split('\n')[0];
}

/**
 * CPU seconds (user + system) of this process's reaped children (Linux /proc/self/stat cutime +
 * cstime, in clock ticks of 1/100 s): a run's delta is the CPU the tool itself used, which on a
 * shared machine says more than its wall time (a tool with one busy thread gets a smaller share
 * of a loaded CPU than one with many). The emulator is a child too, but is reaped only at the end.
 */
function childCpuSeconds(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100;
}

/** The emulator: the child of this process running fauxqs (scripts/local/emulator.ts). */
function emulatorPid(): number {
  for (const task of readdirSync('/proc/self/task'))
    for (const pid of readFileSync(`/proc/self/task/${task}/children`, 'utf8').split(' ').filter(Boolean))
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('startFauxqs')) return Number(pid);
  throw new Error('the emulator process was not found among this process\'s children');
}

/** CPU seconds (user + system, clock ticks of 1/100 s) a live process has used. */
function processCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface Timed {
  seconds: number;
  cpuSeconds: number;
  emulatorCpuSeconds: number;
}

let emulator = 0;

function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<Timed> {
  const started = process.hrtime.bigint();
  const cpu = childCpuSeconds();
  const emulatorCpu = processCpuSeconds(emulator);
  // The endpoints are plain http, so no tool needs a CA bundle, and each runs as on a machine that
  // sets none: rclone 1.60 (Debian) fails on AWS_CA_BUNDLE with its own HTTP transport, and Node
  // parses every certificate of NODE_EXTRA_CA_CERTS before any JavaScript runs (this machine points
  // it at the system's 144: 44 ms of CPU on each `node -e 0`, 69 ms against 25 without), a cost of
  // the machine's setup that rclone, which reads certificates only for TLS, never meets.
  const { AWS_CA_BUNDLE: _ca, NODE_EXTRA_CA_CERTS: _extra, ...inherited } = process.env;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...inherited, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b) => (out += b));
    child.stderr.on('data', (b) => (out += b));
    child.on('close', (code) =>
      code === 0
        ? resolve({ seconds: Number(process.hrtime.bigint() - started) / 1e9, cpuSeconds: childCpuSeconds() - cpu, emulatorCpuSeconds: processCpuSeconds(emulator) - emulatorCpu })
        : reject(new Error(`${cmd} exited ${code}: ${out.slice(-2000)}`)),
    );
  });
}

async function main(argv: string[]): Promise<number> {
  const { values } = parseOptions({
    args: argv,
    options: {
      rounds: { type: 'string' },
      small: { type: 'string' },
      large: { type: 'string' },
      'large-mb': { type: 'string' },
      jobs: { type: 'string' },
    },
  });
  const rounds = integerOption('--rounds', values.rounds, { min: 1, max: 100 }, 3);
  const small = integerOption('--small', values.small, { min: 1, max: 1_000_000 }, 2000);
  const large = integerOption('--large', values.large, { min: 1, max: 10_000 }, 20);
  // At most storage:move's --part-size-mb 16 below, so that every tool sends each object in one PUT.
  const largeMb = integerOption('--large-mb', values['large-mb'], { min: 1, max: 16 }, 8);
  // storage:move's own range of --jobs.
  const jobs = integerOption('--jobs', values.jobs, { min: 1, max: 64 }, 16);
  const rcloneVersion = ensureRclone();
  const em = await startLocalEmulator({ buckets: ['bench-src', 'bench-move', 'bench-rclone'] });
  emulator = emulatorPid();
  const db = await createTestDatabase('bench_storage');
  const c = s3(em.endpoint);
  const sets = {
    small: Array.from({ length: small }, (_, i) => ({ key: `small/${i % 20}/obj ${i}.bin`, size: 1024 + ((i * 7919) % (7 * 1024)) })),
    large: Array.from({ length: large }, (_, i) => ({ key: `large/obj ${i}.bin`, size: largeMb * 1024 * 1024 })),
  };
  try {
    for (const objs of Object.values(sets))
      for (let i = 0; i < objs.length; i += 50) await Promise.all(objs.slice(i, i + 50).map((o, j) => putObject(c, 'bench-src', o.key, content(i + j, o.size))));
    // Two remotes (the same endpoint): within one remote rclone would copy server-side (CopyObject),
    // which moves no bytes through it; across remotes it streams, as between Scaleway and AWS.
    const rcloneEnv: Record<string, string> = {};
    for (const r of ['SRC', 'DST'])
      Object.assign(rcloneEnv, {
        [`RCLONE_CONFIG_${r}_TYPE`]: 's3',
        [`RCLONE_CONFIG_${r}_PROVIDER`]: 'Other',
        [`RCLONE_CONFIG_${r}_ENDPOINT`]: em.endpoint,
        [`RCLONE_CONFIG_${r}_ACCESS_KEY_ID`]: 'test',
        [`RCLONE_CONFIG_${r}_SECRET_ACCESS_KEY`]: 'test',
        [`RCLONE_CONFIG_${r}_REGION`]: 'eu-west-3',
        [`RCLONE_CONFIG_${r}_FORCE_PATH_STYLE`]: 'true',
      });
    const empty = async (bucket: string) => {
      const keys = await listKeys(c, bucket);
      for (let i = 0; i < keys.length; i += 1000)
        await c.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys.slice(i, i + 1000).map((Key) => ({ Key })) } }));
    };
    const rclone = (extra: string[]) => async (set: string) => {
      await empty('bench-rclone');
      return timed('rclone', ['copy', '--checksum', ...extra, '--s3-no-check-bucket', `SRC:bench-src/${set}`, `DST:bench-rclone/${set}`], rcloneEnv);
    };
    // Built (or found fresh) once, untimed: the timed runs load the bundle as npm run storage:move does.
    execFileSync(process.execPath, [RUN_CLI, 'storage-move', '--help'], { stdio: 'ignore' });
    const tools = {
      'storage:move': async (set: string) => {
        await query(db.url, 'DROP SCHEMA IF EXISTS _storage_move CASCADE');
        await empty('bench-move');
        return timed(process.execPath, [RUN_CLI, 'storage-move', '--source', `s3://bench-src/${set}/`, '--source-endpoint', em.endpoint, '--target', 'assets', '--env', 'local',
          '--target-bucket', 'bench-move', '--target-prefix', `${set}/`, '--target-endpoint', em.endpoint, '--database-url', db.url, '--jobs', String(jobs), '--part-size-mb', '16'], AWS_ENV);
      },
      [`rclone copy --checksum --transfers ${jobs}`]: rclone(['--transfers', String(jobs), '--checkers', String(jobs)]),
      'rclone copy --checksum (defaults)': rclone([]),
    };
    type Tool = keyof typeof tools;
    const names = Object.keys(tools) as Tool[];
    const runs: Record<string, Record<string, Timed[]>> = {};
    const loads: number[] = [loadavg()[0]];
    for (let r = 0; r < rounds; r++)
      for (const set of Object.keys(sets)) {
        const order = [...names.slice(r % names.length), ...names.slice(0, r % names.length)];
        for (const tool of order) {
          const t = await tools[tool](set);
          ((runs[set] ??= {})[tool] ??= []).push(t);
          loads.push(loadavg()[0]);
          console.error(`round ${r + 1} ${set} ${tool}: ${t.seconds.toFixed(2)} s, CPU ${t.cpuSeconds.toFixed(2)} s, emulator CPU ${t.emulatorCpuSeconds.toFixed(2)} s (load ${loadavg()[0].toFixed(2)})`);
        }
      }
    // Every tool wrote every object, byte for byte the same keys.
    const moved = (await listKeys(c, 'bench-move')).length;
    const rcl = (await listKeys(c, 'bench-rclone')).length;
    console.log(`\nbench:storage ${new Date().toISOString()}: ${rounds} rounds, tools in a rotated order, storage:move --jobs ${jobs}, ${rcloneVersion}, fauxqs → fauxqs on 127.0.0.1`);
    console.log(`load average (1 min) during the run: ${Math.min(...loads).toFixed(2)}–${Math.max(...loads).toFixed(2)} (${loadavg().map((l) => l.toFixed(2)).join(' ')} at the end); last round left ${moved} / ${rcl} objects\n`);
    console.log('| set | tool | median s (rounds) | objects/s | MB/s | storage:move speed ÷ this tool\'s | CPU s, median (user+sys) | emulator CPU s, median |');
    console.log('|---|---|---|---|---|---|---|---|');
    type Figures = { medianSeconds: number; rounds: number[]; objectsPerSecond: number; mbPerSecond: number; ratio: number; cpuSeconds: number; emulatorCpuSeconds: number };
    const figures: Record<string, Record<string, Figures>> = {};
    for (const [set, objs] of Object.entries(sets)) {
      const mb = objs.reduce((a, o) => a + o.size, 0) / 1e6;
      const ours = median(runs[set]['storage:move'].map((t) => t.seconds));
      for (const [tool, ts] of Object.entries(runs[set])) {
        const m = median(ts.map((t) => t.seconds));
        const cpu = median(ts.map((t) => t.cpuSeconds));
        const emulatorCpu = median(ts.map((t) => t.emulatorCpuSeconds));
        (figures[set] ??= {})[tool] = {
          medianSeconds: +m.toFixed(3),
          rounds: ts.map((t) => +t.seconds.toFixed(3)),
          objectsPerSecond: +(objs.length / m).toFixed(1),
          mbPerSecond: +(mb / m).toFixed(1),
          ratio: +(m / ours).toFixed(2),
          cpuSeconds: +cpu.toFixed(2),
          emulatorCpuSeconds: +emulatorCpu.toFixed(2),
        };
        console.log(
          `| ${set}: ${objs.length} × ${set === 'small' ? '1–8 KB' : `${largeMb} MiB`} (${mb.toFixed(1)} MB) | ${tool} | ${m.toFixed(2)} (${ts.map((t) => t.seconds.toFixed(2)).join(', ')}) | ${(objs.length / m).toFixed(1)} | ${(mb / m).toFixed(1)} | ${tool === 'storage:move' ? '' : `${(m / ours).toFixed(2)}×`} | ${cpu.toFixed(2)} | ${emulatorCpu.toFixed(2)} |`,
        );
      }
    }
    printFigures(
      'storage',
      {
        rounds,
        jobs,
        rclone: rcloneVersion,
        sets: Object.fromEntries(Object.entries(sets).map(([k, objs]) => [k, { objects: objs.length, mb: objs.reduce((a, o) => a + o.size, 0) / 1e6 }])),
        figures,
        loadAverageDuringRun: { min: Math.min(...loads), max: Math.max(...loads) },
      },
      3,
    );
    return 0;
  } finally {
    c.destroy();
    await Promise.all([em.stop(), db.drop()]);
  }
}

runCli(() => main(process.argv.slice(2)), { log, usage: USAGE });
