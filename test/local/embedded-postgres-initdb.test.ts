import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { answers, embeddedBinaries, LocalDatabase, startLocalDatabase } from '../../scripts/local/postgres';
import { freePort, REPO } from '../support/local-dev';

/**
 * The embedded PostgreSQL's data folder after an initdb that never finished (npm run dev killed
 * while it created the cluster: a closed terminal, SIGKILL): the next start creates the cluster
 * again and runs, instead of failing on a folder that has PG_VERSION and no pg_control at every
 * start until --fresh.
 */
jest.setTimeout(180_000);

let state: string;
let url: string;
let database: LocalDatabase | undefined;
let starter: ChildProcess | undefined;

beforeEach(async () => {
  // As root, the server runs as the postgres user, which must get through the folders above its data.
  state = mkdtempSync(join(tmpdir(), 'embedded-pg initdb-'));
  chmodSync(state, 0o755);
  url = `postgres://postgres@127.0.0.1:${await freePort()}/docplatform`;
});
afterEach(async () => {
  await database?.stop();
  database = undefined;
  // A failed test must not leave the starter (whose piped stderr keeps Jest from exiting) or what it
  // started (initdb, the server): stopped first, so that it starts nothing while its children are ended.
  if (starter) {
    if (running(starter.pid!)) {
      starter.kill('SIGSTOP');
      for (const pid of childrenOf(starter.pid!)) process.kill(pid, 'SIGQUIT');
    }
    starter.kill('SIGKILL');
    await exitOf(starter);
    starter = undefined;
  }
  rmSync(state, { recursive: true, force: true });
});

const runAs = () =>
  process.getuid?.() === 0 ? { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) } : undefined;

const waitFor = async (what: string, ok: () => boolean, running: () => boolean) => {
  for (const until = Date.now() + 60_000; !ok(); await new Promise((r) => setTimeout(r, 5))) {
    if (!running() || Date.now() > until) throw new Error(`no ${what} while initdb ran`);
  }
};

/** Whether the process runs (a zombie has ended). */
const running = (pid: number): boolean => {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

const childrenOf = (pid: number): number[] =>
  readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(/\s+/).filter(Boolean).map(Number);

/** A process's arguments, or none once it has gone. */
const argvOf = (pid: number): string[] => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
};

const exitOf = (child: ChildProcess) => new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(undefined) : child.once('exit', resolve)));

async function expectStartsFresh(): Promise<void> {
  database = await startLocalDatabase({ url, stateDir: state });
  expect(database.kind).toBe('embedded');
  expect(database.describe).toContain('created now');
  const client = new Client({ connectionString: url.replace(/\/docplatform$/, '/postgres') });
  await client.connect();
  try {
    expect((await client.query('SHOW server_version')).rows[0].server_version).toMatch(/^16\./);
  } finally {
    await client.end();
  }
  expect(existsSync(join(state, 'postgres', 'global', 'pg_control'))).toBe(true);
  await database.stop();
  database = undefined;
  expect(await answers('127.0.0.1', Number(new URL(url).port))).toBe(false);
}

test('the start that ran initdb killed with it: the next start creates the cluster and runs', async () => {
  starter = spawn(
    process.execPath,
    ['--import', 'tsx', '-e', `require('./scripts/local/postgres').startLocalDatabase({ url: ${JSON.stringify(url)}, stateDir: ${JSON.stringify(state)} })`],
    { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let said = '';
  const { pid: starterPid } = starter;
  starter.stderr!.on('data', (c: Buffer) => (said += c.toString()));
  // initdb has written PG_VERSION (its first file) somewhere under the state folder and is still at work.
  // Matched by the program it runs: a child forked but not yet exec'd still shows node's arguments,
  // which name the state folder.
  const initdb = () => childrenOf(starterPid!).find((pid) => /(^|\/)initdb$/.test(argvOf(pid)[0] ?? ''));
  await waitFor('initdb', () => initdb() !== undefined, () => running(starterPid!)).catch((err: Error) => Promise.reject(new Error(`${err.message}: ${said}`)));
  const pid = initdb()!;
  const dataDir = argvOf(pid)[2];
  await waitFor('PG_VERSION', () => existsSync(join(dataDir, 'PG_VERSION')), () => running(pid));
  starter.kill('SIGKILL');
  process.kill(pid, 'SIGKILL');
  await exitOf(starter);
  starter = undefined;
  expect(existsSync(join(dataDir, 'global', 'pg_control'))).toBe(false);

  await expectStartsFresh();
});

test('a data folder an initdb left half made in place: the next start creates the cluster and runs', async () => {
  const dataDir = join(state, 'postgres');
  mkdirSync(dataDir, { mode: 0o700 });
  const as = runAs();
  if (as) chownSync(dataDir, as.uid, as.gid);
  const initdb = spawn(join(embeddedBinaries().bin, 'initdb'), ['-D', dataDir, '-U', 'postgres', '--auth=trust', '--no-sync'], { stdio: 'ignore', ...(as ?? {}) });
  await waitFor('PG_VERSION', () => existsSync(join(dataDir, 'PG_VERSION')), () => running(initdb.pid!));
  initdb.kill('SIGKILL');
  await exitOf(initdb);
  expect(existsSync(join(dataDir, 'global', 'pg_control'))).toBe(false);

  await expectStartsFresh();
});
