/**
 * Benchmark of the data move, against the tools an operator would pick instead, on one source:
 * pgbench scale N (default 50) plus the wide-table fixture (`wideTables`: jsonb, bytea, long text,
 * arrays, an enum, a generated column, a table without primary key, a foreign key across schemas).
 *  - `db:move` copy mode INCLUDING its verification (`--jobs 2`), `pgcopydb clone --table-jobs 2
 *    --index-jobs 2` (Debian's package, installed by `scripts/install-system-deps.sh --for-bench`;
 *    it verifies nothing, and VACUUM ANALYZEs every table inside its run, which db:move does not:
 *    autovacuum analyzes the target on RDS; the ANALYZE share is timed apart, see `analyzeSeconds`),
 *    `pg_dump -Fd -j2` + `pg_restore -j2` with pg_dump's default gzip, and the same with `-Z0`, as
 *    an operator short of CPU would run it; each round running the four in a rotated order (the
 *    machine is shared: medians and ratios come from the same run);
 *  - replicate mode: cutover downtime (writes blocked → verified and switched) with pgbench writing
 *    on the source until the cutover ends its sessions (`--skip-cutover` leaves it out).
 * db:move runs as `npm run db:move` and the migration image run it: `build/run-cli.cjs data-move`,
 * its esbuild bundle with plain node (built once here, untimed, as the image build does). Prints a
 * table of the times, one of the CPU-seconds each tool cost (its own processes, bash's `times`, and
 * the servers' backends, from /proc: the server is this machine's), and one JSON line of the
 * figures. Every database, dump and cluster it creates is removed at the end.
 *
 *   npm run bench:migration [-- --scale 50 --wide-rows 100000 --rounds 3 --skip-cutover]
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleCli } from '../../build/clis';
import { integerOption, parseOptions, runCli } from '../../core/cli';
import { createLogger, stderrSink } from '../../core/logger';
import { runCliProcess } from '../../test/support/cli-process';
import { events, pgbenchInit, query, startLogicalCluster, wideTables } from '../../test/support/data-move-harness';
import { createTestDatabase, type TestDatabase } from '../../test/support/postgres';
import { loadAverage, median, printFigures } from '../figures';

const USAGE = `usage: npm run bench:migration [-- --scale N --wide-rows N --rounds N --skip-cutover]
  --scale N       pgbench scale of the source, 1 to 10000 (default 50)
  --wide-rows N   articles of the wide tables (5 views each), 1 to 10000000 (default 100000)
  --rounds N      rounds of the four tools, 1 to 100 (default 3)
  --skip-cutover  leave out replicate mode's cutover downtime`;

const log = createLogger({ component: 'bench-migration' }, 'info', stderrSink);

interface Options {
  scale: number;
  wideRows: number;
  rounds: number;
  skipCutover: boolean;
}

function options(argv: string[]): Options {
  const { values } = parseOptions({
    args: argv,
    options: {
      scale: { type: 'string' },
      'wide-rows': { type: 'string' },
      rounds: { type: 'string' },
      'skip-cutover': { type: 'boolean', default: false },
    },
  });
  return {
    scale: integerOption('--scale', values.scale, { min: 1, max: 10_000 }, 50),
    wideRows: integerOption('--wide-rows', values['wide-rows'], { min: 1, max: 10_000_000 }, 100_000),
    rounds: integerOption('--rounds', values.rounds, { min: 1, max: 100 }, 3),
    skipCutover: values['skip-cutover'],
  };
}
const JOBS = '2';

const seconds = (from: number) => (Date.now() - from) / 1000;
const load = () => loadAverage()[0];

/** pgcopydb comes from Debian, through the project's installer of system packages. */
function ensurePgcopydb(): string {
  const installer = spawnSync('bash', [join(__dirname, '../../scripts/install-system-deps.sh'), '--for-bench'], { stdio: 'inherit' });
  if (installer.status !== 0) throw new Error('pgcopydb is missing and scripts/install-system-deps.sh --for-bench could not install it (above)');
  return spawnSync('pgcopydb', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0].trim();
}

/** Seconds from the CLI's start to each phase's end, from its log lines. */
interface Phases {
  preData: number;
  data: number;
  indexes: number;
  postData: number;
  total: number;
  /** The index build that ended last (a table's, or a foreign key's) and how long it took. */
  lastIndex: string;
  lastIndexSeconds: number;
}

function phases(stderr: string, t0: number): Phases {
  const log = events(stderr);
  const at = (pred: (e: (typeof log)[number]) => boolean) => {
    const hits = log.filter(pred);
    return hits.length ? +((Date.parse(hits[hits.length - 1].time) - t0) / 1000).toFixed(2) : 0;
  };
  const builds = log.filter((e) => e.msg === 'indexes_built');
  return {
    preData: at((e) => e.msg === 'schema_created' && e.section === 'pre-data'),
    data: at((e) => e.msg === 'table_copied'),
    indexes: at((e) => e.msg === 'indexes_built'),
    postData: at((e) => e.msg === 'schema_created' && e.section === 'post-data'),
    total: at((e) => e.msg === 'copy_finished'),
    lastIndex: String(builds[builds.length - 1]?.table ?? ''),
    lastIndexSeconds: Number(builds[builds.length - 1]?.seconds ?? 0),
  };
}

/** CPU-seconds (user + system) a tool used: its own processes, and the servers' backends for the source and the target database. */
interface Cpu {
  client: number;
  source: number;
  target: number;
}

interface Run {
  seconds: number;
  load: number;
  cpu: Cpu;
  phases?: Phases;
  /** pgcopydb only: `vacuumdb --analyze-only -j2` of its target, timed after its run. */
  analyzeSeconds?: number;
}

const CLOCK_TICKS = 100;

/**
 * CPU-seconds of the PostgreSQL processes serving each database while `work` runs, sampled from
 * /proc every 10 ms (the bench's server runs on this machine): a backend's title names its
 * database, a parallel worker's its leader. On the shared machine wall times move with the others'
 * work; CPU-seconds barely do, and on two cores they set the floor of the wall time.
 */
async function serverCpu<T>(databases: string[], work: () => Promise<T>): Promise<{ result: T; seconds: number[] }> {
  const used = new Map<number, { db: number; seconds: number }>();
  const before = new Map<number, number>();
  /**
   * Processes that are not PostgreSQL's, never read again (a sample must cost little beside the
   * tools). A backend starts as a fork of the postmaster, titled as the postmaster until it sets
   * its own title: any title naming postgres is read again.
   */
  const foreign = new Set<number>();
  const sample = (first: boolean) => {
    for (const entry of readdirSync('/proc')) {
      const pid = Number(entry);
      if (!Number.isInteger(pid) || foreign.has(pid)) continue;
      let title: string;
      let stat: string;
      try {
        title = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
        if (!title.startsWith('postgres: ')) {
          if (!title.includes('postgres')) foreign.add(pid);
          continue;
        }
        stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      } catch {
        continue;
      }
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const seconds = (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
      if (first) {
        before.set(pid, seconds);
        continue;
      }
      const leader = /parallel worker for PID (\d+)/.exec(title);
      const db = leader ? used.get(Number(leader[1]))?.db : databases.findIndex((d) => title.includes(` ${d} `));
      if (db !== undefined && db >= 0) used.set(pid, { db, seconds: seconds - (before.get(pid) ?? 0) });
    }
  };
  sample(true);
  const timer = setInterval(() => sample(false), 10);
  try {
    const result = await work();
    sample(false);
    const seconds = databases.map((_, i) => [...used.values()].filter((u) => u.db === i).reduce((sum, u) => sum + u.seconds, 0));
    return { result, seconds };
  } finally {
    clearInterval(timer);
  }
}

/** Runs a command to its end through bash, whose `times` gives the CPU-seconds of the command and every process it waited for. */
function runMeasured(command: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string; cpu: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', '"$@"; code=$?; times >&3; exit $code', 'bench', command, ...args], { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    const out = { stdout: '', stderr: '', times: '' };
    child.stdout!.on('data', (b: Buffer) => (out.stdout += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (out.stderr += b.toString()));
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (b: Buffer) => (out.times += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      // The second line of `times`: user and system time of the shell's children, as 1m2.345s.
      const [user, system] = (out.times.split('\n')[1] ?? '').split(' ').map((t) => {
        const m = /^(\d+)m([\d.]+)s$/.exec(t);
        return m ? Number(m[1]) * 60 + Number(m[2]) : NaN;
      });
      resolve({ code, stdout: out.stdout, stderr: out.stderr, cpu: user + system });
    });
  });
}

type Tool = 'db:move' | 'pgcopydb' | 'pg_dump+pg_restore' | 'pg_dump -Z0+pg_restore';
const TOOLS: Tool[] = ['db:move', 'pgcopydb', 'pg_dump+pg_restore', 'pg_dump -Z0+pg_restore'];
const COMMANDS: Record<Tool, string> = {
  'db:move': `db:move --jobs ${JOBS} (copy + verification)`,
  pgcopydb: `pgcopydb clone --table-jobs ${JOBS} --index-jobs ${JOBS}`,
  'pg_dump+pg_restore': `pg_dump -Fd -j${JOBS} + pg_restore -j${JOBS}`,
  'pg_dump -Z0+pg_restore': `pg_dump -Fd -j${JOBS} -Z0 + pg_restore -j${JOBS}`,
};

/**
 * pgcopydb 0.10 VACUUM ANALYZEs every table inside its run, with no option to skip it, and neither
 * its summary nor its log times it (one start line per table, to the second): the ANALYZE part is
 * measured by running it again on the target, after the run, as many at once as pgcopydb runs.
 */
async function analyzeSeconds(target: TestDatabase): Promise<number> {
  const t0 = Date.now();
  const res = await runMeasured('vacuumdb', ['--analyze-only', '--quiet', `--jobs=${JOBS}`, '--dbname', target.url]);
  if (res.code !== 0) throw new Error(`vacuumdb --analyze-only failed (${res.code}): ${res.stderr}`);
  return seconds(t0);
}

async function timeTool(tool: Tool, source: TestDatabase, cli: string): Promise<Run> {
  const target = await createTestDatabase('bench_mig_target');
  const dir = mkdtempSync(join(tmpdir(), 'bench-mig-'));
  // Untimed: the dirty pages and WAL left by the source's generation or the previous tool are
  // written out first, so that no tool pays for the one before it.
  await query(target.url, 'CHECKPOINT');
  const started = load();
  const commands: [string, string[]][] =
    tool === 'db:move'
      ? [[process.execPath, [cli, 'data-move', '--source', source.url, '--target', target.url, '--jobs', JOBS]]]
      : tool === 'pgcopydb'
        ? [['pgcopydb', ['clone', '--source', source.url, '--target', target.url, '--table-jobs', JOBS, '--index-jobs', JOBS, '--dir', join(dir, 'pgcopydb')]]]
        : [
            ['pg_dump', ['-Fd', `-j${JOBS}`, ...(tool === 'pg_dump -Z0+pg_restore' ? ['-Z0'] : []), '-f', join(dir, 'dump'), source.url]],
            ['pg_restore', [`-j${JOBS}`, '-d', target.url, join(dir, 'dump')]],
          ];
  try {
    const t0 = Date.now();
    const { result, seconds: servers } = await serverCpu([source.name, target.name], async () => {
      let client = 0;
      let stderr = '';
      for (const [command, args] of commands) {
        const res = await runMeasured(command, args);
        if (res.code !== 0) throw new Error(`${tool} failed (${res.code}): ${res.stderr}\n${res.stdout}`);
        client += res.cpu;
        stderr += res.stderr;
      }
      return { wall: seconds(t0), client, stderr };
    });
    const cpu = { client: result.client, source: servers[0], target: servers[1] };
    return {
      seconds: result.wall,
      load: started,
      cpu,
      phases: tool === 'db:move' ? phases(result.stderr, t0) : undefined,
      analyzeSeconds: tool === 'pgcopydb' ? await analyzeSeconds(target) : undefined,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await target.drop();
  }
}

interface CopyFigures {
  sourceMb: number;
  rows: number;
  medians: Record<Tool, number>;
  /** Median CPU-seconds per tool, and their total's median. */
  cpu: Record<Tool, Cpu & { total: number }>;
  runs: Record<Tool, Run[]>;
  ratios: { pgcopydb: number; dumpRestore: number; dumpRestoreZ0: number };
  /** The same ratios within each round: the load drifts less within a round than across the run. */
  roundRatios: { pgcopydb: number[]; dumpRestore: number[]; dumpRestoreZ0: number[] };
  /** The ANALYZE inside pgcopydb's runs: median seconds, and its median share of the run in percent. */
  pgcopydbAnalyze: { medianSeconds: number; percentOfRun: number };
  load: { min: number; max: number };
}

async function copyBench(cli: string, { scale, wideRows, rounds }: Options): Promise<CopyFigures> {
  const source = await createTestDatabase('bench_mig_src');
  try {
    const t0 = Date.now();
    await pgbenchInit(source.url, scale);
    await query(source.url, wideTables(wideRows));
    await query(source.url, 'VACUUM ANALYZE');
    const [size] = await query<{ mb: number; rows: number }>(
      source.url,
      `SELECT round(pg_database_size(current_database()) / 1e6)::int AS mb,
        ((SELECT count(*) FROM pgbench_accounts) + (SELECT count(*) FROM wide.article) + (SELECT count(*) FROM article_view))::int AS rows`,
    );
    console.log(`source: pgbench scale ${scale} + wide tables (${wideRows} articles, ${wideRows * 5} views), ${size.mb} MB on disk (generated in ${seconds(t0).toFixed(0)} s)`);
    const runs = Object.fromEntries(TOOLS.map((t) => [t, [] as Run[]])) as Record<Tool, Run[]>;
    for (let i = 0; i < rounds; i++) {
      for (let k = 0; k < TOOLS.length; k++) {
        const tool = TOOLS[(i + k) % TOOLS.length];
        const r = await timeTool(tool, source, cli);
        runs[tool].push(r);
        const detail = r.phases
          ? ` (pre-data ${r.phases.preData} s, last table ${r.phases.data} s, last index ${r.phases.indexes} s (${r.phases.lastIndex}, ${r.phases.lastIndexSeconds} s), post-data ${r.phases.postData} s, verified ${r.phases.total} s)`
          : '';
        const cpu = `CPU-s client ${r.cpu.client.toFixed(2)}, source ${r.cpu.source.toFixed(2)}, target ${r.cpu.target.toFixed(2)}`;
        const analyze = r.analyzeSeconds === undefined ? '' : `, its ANALYZE again afterwards ${r.analyzeSeconds.toFixed(2)} s`;
        console.error(`  round ${i + 1} ${tool}: ${r.seconds.toFixed(1)} s, load ${r.load}, ${cpu}${detail}${analyze}`);
      }
    }
    const medians = Object.fromEntries(TOOLS.map((t) => [t, +median(runs[t].map((r) => r.seconds)).toFixed(2)])) as Record<Tool, number>;
    const cpu = Object.fromEntries(
      TOOLS.map((t) => {
        const of = (pick: (c: Cpu) => number) => +median(runs[t].map((r) => pick(r.cpu))).toFixed(2);
        return [t, { client: of((c) => c.client), source: of((c) => c.source), target: of((c) => c.target), total: of((c) => c.client + c.source + c.target) }];
      }),
    ) as CopyFigures['cpu'];
    const loads = [...TOOLS.flatMap((t) => runs[t].map((r) => r.load)), load()];
    const within = (tool: Tool) => runs[tool].map((r, i) => +(r.seconds / runs['db:move'][i].seconds).toFixed(2));
    return {
      sourceMb: size.mb,
      rows: size.rows,
      medians,
      cpu,
      runs,
      ratios: {
        pgcopydb: +(medians.pgcopydb / medians['db:move']).toFixed(2),
        dumpRestore: +(medians['pg_dump+pg_restore'] / medians['db:move']).toFixed(2),
        dumpRestoreZ0: +(medians['pg_dump -Z0+pg_restore'] / medians['db:move']).toFixed(2),
      },
      roundRatios: { pgcopydb: within('pgcopydb'), dumpRestore: within('pg_dump+pg_restore'), dumpRestoreZ0: within('pg_dump -Z0+pg_restore') },
      pgcopydbAnalyze: {
        medianSeconds: +median(runs.pgcopydb.map((r) => r.analyzeSeconds!)).toFixed(2),
        percentOfRun: +median(runs.pgcopydb.map((r) => (100 * r.analyzeSeconds!) / r.seconds)).toFixed(1),
      },
      load: { min: Math.min(...loads), max: Math.max(...loads) },
    };
  } finally {
    await source.drop();
  }
}

interface CutoverFigures {
  downtimeSeconds: number;
  catchUpSeconds: number;
  initialSyncSeconds: number;
  transactions: number;
}

async function cutoverBench(cli: string, scale: number): Promise<CutoverFigures> {
  const cluster = await startLogicalCluster('bench-secret');
  let target: TestDatabase | undefined;
  let writer: ReturnType<typeof spawn> | undefined;
  try {
    await query(cluster.url('postgres'), 'CREATE DATABASE app');
    const sourceUrl = cluster.url('app');
    await pgbenchInit(sourceUrl, scale);
    await query(sourceUrl, 'ALTER TABLE pgbench_history REPLICA IDENTITY FULL');
    target = await createTestDatabase('bench_mig_repl');
    const t0 = Date.now();
    const started = await runCliProcess(cli, ['data-move', '--mode', 'replicate', '--source', sourceUrl, '--target', target.url]);
    if (started.code !== 0) throw new Error(`replicate failed: ${started.stderr}`);
    const initialSyncSeconds = +seconds(t0).toFixed(1);
    // Application-like load (pgbench TPC-B-like, 2 clients) until the cutover ends the sessions.
    writer = spawn('pgbench', ['-n', '-c', '2', '-T', '600', sourceUrl], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 5000));
    const status = await runCliProcess(cli, ['data-move', 'status', '--source', sourceUrl, '--target', target.url]);
    console.error(`  replication status under load: ${status.stdout.trim()}`);
    const cut = await runCliProcess(cli, ['data-move', 'cutover', '--source', sourceUrl, '--target', target.url]);
    if (cut.code !== 0) throw new Error(`cutover failed: ${cut.stderr}\n${cut.stdout}`);
    const done = events(cut.stderr).find((e) => e.msg === 'cutover_finished') as unknown as { downtimeSeconds: number; catchUpSeconds: number };
    const [tx] = await query<{ n: number }>(sourceUrl, 'SELECT count(*)::int AS n FROM pgbench_history');
    return { downtimeSeconds: +done.downtimeSeconds.toFixed(2), catchUpSeconds: +done.catchUpSeconds.toFixed(2), initialSyncSeconds, transactions: tx.n };
  } finally {
    writer?.kill('SIGKILL');
    if (target) {
      await query(target.url, `SELECT 1 FROM pg_subscription WHERE subname = 'data_move'`)
        .then(async (rows) => {
          if (rows.length) await query(target!.url, 'ALTER SUBSCRIPTION data_move DISABLE; ALTER SUBSCRIPTION data_move SET (slot_name = NONE); DROP SUBSCRIPTION data_move');
        })
        .catch(() => undefined);
      await target.drop();
    }
    await cluster.stop();
  }
}

function printCopy(f: CopyFigures, pgcopydbVersion: string, rounds: number): void {
  console.log(`\nbench:migration ${new Date().toISOString()}: ${rounds} rounds, each running the four tools in a rotated order, --jobs ${JOBS}, ${pgcopydbVersion}`);
  console.log(`source ${f.sourceMb} MB on disk, ${f.rows} rows; load average (1 min) during the run ${f.load.min}–${f.load.max} (shared machine)\n`);
  console.log('| tool | median s (rounds) | MB/s of database | db:move is faster by |');
  console.log('|---|---|---|---|');
  for (const tool of TOOLS) {
    const m = f.medians[tool];
    const ratio = tool === 'db:move' ? '—' : `${(m / f.medians['db:move']).toFixed(2)}×`;
    console.log(`| ${COMMANDS[tool]} | ${m.toFixed(1)} (${f.runs[tool].map((r) => r.seconds.toFixed(1)).join(', ')}) | ${(f.sourceMb / m).toFixed(1)} | ${ratio} |`);
  }
  console.log(`\n| tool | CPU-s median: client | source server | target server | total | total / ${cpus().length} cores |`);
  console.log('|---|---|---|---|---|---|');
  for (const tool of TOOLS) {
    const c = f.cpu[tool];
    console.log(`| ${tool} | ${c.client.toFixed(2)} | ${c.source.toFixed(2)} | ${c.target.toFixed(2)} | ${c.total.toFixed(2)} | ${(c.total / cpus().length).toFixed(2)} s |`);
  }
  const a = f.pgcopydbAnalyze;
  console.log(
    `\npgcopydb's time includes a VACUUM ANALYZE of every table (it cannot be skipped), db:move runs no ANALYZE (autovacuum does it on RDS): ` +
      `its ANALYZE alone, run again on its target after each run (vacuumdb --analyze-only -j${JOBS}), took a median ${a.medianSeconds.toFixed(2)} s, ` +
      `${a.percentOfRun.toFixed(0)} % of its run (overlapping its other steps there; its VACUUM part is not measured)`,
  );
  console.log(
    `\ntargets: pgcopydb time / db:move time >= 1.0× (got ${f.ratios.pgcopydb}×), pg_dump+pg_restore / db:move >= 1.3× ` +
      `(got ${f.ratios.dumpRestore}× with pg_dump's default gzip, ${f.ratios.dumpRestoreZ0}× with -Z0)`,
  );
  const round = (rs: number[]) => rs.map((r) => `${r}×`).join(', ');
  console.log(`within each round: pgcopydb ${round(f.roundRatios.pgcopydb)}; pg_dump+pg_restore ${round(f.roundRatios.dumpRestore)}; with -Z0 ${round(f.roundRatios.dumpRestoreZ0)}`);
}

async function main(argv: string[]): Promise<number> {
  const o = options(argv);
  const pgcopydbVersion = ensurePgcopydb();
  await bundleCli('data-move');
  const cli = join(__dirname, '../../build/run-cli.cjs');
  const copy = await copyBench(cli, o);
  printCopy(copy, pgcopydbVersion, o.rounds);
  const cutover = o.skipCutover ? undefined : await cutoverBench(cli, o.scale);
  if (cutover) {
    console.log(
      `\nreplicate cutover downtime (source writes blocked until verified and replication dropped): ${cutover.downtimeSeconds} s ` +
        `(catch-up ${cutover.catchUpSeconds} s; ${cutover.transactions} pgbench transactions replicated; initial sync ${cutover.initialSyncSeconds} s; target < 30 s)`,
    );
  }
  printFigures('migration', {
    scale: o.scale,
    wideRows: o.wideRows,
    rounds: o.rounds,
    jobs: Number(JOBS),
    sourceMb: copy.sourceMb,
    rows: copy.rows,
    medianSeconds: copy.medians,
    roundSeconds: Object.fromEntries(TOOLS.map((t) => [t, copy.runs[t].map((r) => +r.seconds.toFixed(2))])),
    cpuSeconds: copy.cpu,
    mbPerSecond: Object.fromEntries(TOOLS.map((t) => [t, +(copy.sourceMb / copy.medians[t]).toFixed(1)])),
    ratios: copy.ratios,
    roundRatios: copy.roundRatios,
    dbMovePhases: copy.runs['db:move'].map((r) => r.phases),
    pgcopydbAnalyze: { ...copy.pgcopydbAnalyze, roundSeconds: copy.runs.pgcopydb.map((r) => r.analyzeSeconds) },
    loadDuringRun: copy.load,
    pgcopydb: pgcopydbVersion,
    cutover: cutover ?? null,
  });
  return 0;
}

runCli(() => main(process.argv.slice(2)), { log, usage: USAGE });
