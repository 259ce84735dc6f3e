/**
 * Benchmark of the data move on pgbench scale N (default 50, about 750 MB):
 *  - `db:move` copy mode INCLUDING verification, against `pg_dump -Fd -j2` + `pg_restore -j2` of the
 *    same source, interleaved A/B/A/B in one run (the machine is shared: medians and the ratio come
 *    from the same run);
 *  - replicate mode: cutover downtime (writes blocked → verified and switched) with pgbench writing
 *    on the source until the cutover ends its sessions.
 * Every database, dump and cluster it creates is removed at the end.
 *
 *   npm run bench:migration [-- --scale 50 --rounds 3]
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { createTestDatabase, type TestDatabase } from '../../test/support/postgres';
import { events, pgbenchInit, query, runCli, startLogicalCluster } from '../../test/support/data-move-harness';

const run = promisify(execFile);
const { values } = parseArgs({ options: { scale: { type: 'string', default: '50' }, rounds: { type: 'string', default: '3' } } });
const scale = Number(values.scale);
const rounds = Number(values.rounds);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const seconds = (from: number) => (Date.now() - from) / 1000;

async function timeCopy(sourceUrl: string): Promise<{ seconds: number; rows: number; megabytes: number; verifySeconds: number }> {
  const target = await createTestDatabase('bench_mig_copy');
  try {
    const t0 = Date.now();
    const res = await runCli(['--source', sourceUrl, '--target', target.url, '--jobs', '2']);
    const wall = seconds(t0);
    if (res.code !== 0) throw new Error(`db:move failed (${res.code}): ${res.stderr}\n${res.stdout}`);
    const done = events(res.stderr).find((e) => e.msg === 'copy_finished') as unknown as { rows: number; megabytes: number; verifySeconds: number };
    return { seconds: wall, rows: done.rows, megabytes: done.megabytes, verifySeconds: done.verifySeconds };
  } finally {
    await target.drop();
  }
}

async function timeDumpRestore(sourceUrl: string): Promise<{ seconds: number; dumpSeconds: number }> {
  const target = await createTestDatabase('bench_mig_restore');
  const dir = mkdtempSync(join(tmpdir(), 'bench-mig-dump-'));
  try {
    const t0 = Date.now();
    await run('pg_dump', ['-Fd', '-j2', '-f', join(dir, 'dump'), sourceUrl]);
    const dumpSeconds = seconds(t0);
    await run('pg_restore', ['-j2', '-d', target.url, join(dir, 'dump')]);
    return { seconds: seconds(t0), dumpSeconds };
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await target.drop();
  }
}

async function copyBench(): Promise<void> {
  const source = await createTestDatabase('bench_mig_src');
  try {
    const t0 = Date.now();
    await pgbenchInit(source.url, scale);
    const [size] = await query<{ mb: number }>(source.url, 'SELECT round(pg_database_size(current_database()) / 1e6)::int AS mb');
    console.log(`source: pgbench scale ${scale}, ${size.mb} MB on disk (generated in ${seconds(t0).toFixed(0)} s)`);
    const ours: Awaited<ReturnType<typeof timeCopy>>[] = [];
    const theirs: Awaited<ReturnType<typeof timeDumpRestore>>[] = [];
    for (let i = 0; i < rounds; i++) {
      ours.push(await timeCopy(source.url));
      console.log(`  round ${i + 1} db:move copy+verify ${ours[i].seconds.toFixed(1)} s (verify tail ${ours[i].verifySeconds.toFixed(1)} s)`);
      theirs.push(await timeDumpRestore(source.url));
      console.log(`  round ${i + 1} pg_dump -Fd -j2 + pg_restore -j2 ${theirs[i].seconds.toFixed(1)} s (dump ${theirs[i].dumpSeconds.toFixed(1)} s)`);
    }
    const ourMedian = median(ours.map((r) => r.seconds));
    const theirMedian = median(theirs.map((r) => r.seconds));
    const { rows, megabytes } = ours[0];
    // COPY bytes depend on the format (binary where types allow, else text): the rate is given on the database size too.
    console.log(
      `copy mode (verification included), median of ${rounds}: ${ourMedian.toFixed(1)} s, ` +
        `${(size.mb / ourMedian).toFixed(1)} MB/s of database (${size.mb} MB on disk), ` +
        `${(megabytes / ourMedian).toFixed(1)} MB/s of COPY data (${megabytes} MB), ${Math.round(rows / ourMedian)} rows/s (${rows} rows)`,
    );
    console.log(`pg_dump -Fd -j2 + pg_restore -j2: ${(size.mb / theirMedian).toFixed(1)} MB/s of database`);
    console.log(`pg_dump -Fd -j2 + pg_restore -j2 (no verification), median of ${rounds}: ${theirMedian.toFixed(1)} s`);
    console.log(`ratio pg_dump+pg_restore time / db:move time: ${(theirMedian / ourMedian).toFixed(2)}x (target >= 1.0x)`);
  } finally {
    await source.drop();
  }
}

async function cutoverBench(): Promise<void> {
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
    const started = await runCli(['--mode', 'replicate', '--source', sourceUrl, '--target', target.url]);
    if (started.code !== 0) throw new Error(`replicate failed: ${started.stderr}`);
    console.log(`replicate: schema + initial sync of scale ${scale} in ${seconds(t0).toFixed(1)} s`);
    // Application-like load (pgbench TPC-B-like, 2 clients) until the cutover ends the sessions.
    writer = spawn('pgbench', ['-n', '-c', '2', '-T', '600', sourceUrl], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 5000));
    const status = await runCli(['status', '--source', sourceUrl, '--target', target.url]);
    console.log(`replication status under load: ${status.stdout.trim()}`);
    const cut = await runCli(['cutover', '--source', sourceUrl, '--target', target.url]);
    if (cut.code !== 0) throw new Error(`cutover failed: ${cut.stderr}\n${cut.stdout}`);
    const done = events(cut.stderr).find((e) => e.msg === 'cutover_finished') as unknown as { downtimeSeconds: number; catchUpSeconds: number };
    const [tx] = await query<{ n: number }>(sourceUrl, 'SELECT count(*)::int AS n FROM pgbench_history');
    console.log(
      `cutover downtime (source writes blocked until verified and replication dropped): ${done.downtimeSeconds.toFixed(1)} s ` +
        `(catch-up ${done.catchUpSeconds.toFixed(1)} s; ${tx.n} pgbench transactions replicated; target < 30 s)`,
    );
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

async function main(): Promise<void> {
  await copyBench();
  await cutoverBench();
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
