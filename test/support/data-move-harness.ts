import { execFile } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { clientConfig } from '../../migrations/data-move/db';
import { CliResult, runCliProcess } from './cli-process';

const run = promisify(execFile);
const CLI = join(__dirname, '../../migrations/data-move/cli.ts');
/** Server binaries (initdb, pg_ctl) of the newest PostgreSQL the Debian packages installed. */
const PG_BIN = (() => {
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root) ? readdirSync(root).filter((d) => existsSync(join(root, d, 'bin', 'initdb'))) : [];
  if (majors.length === 0) throw new Error(`no PostgreSQL server binaries under ${root}: run scripts/install-system-deps.sh`);
  return join(root, majors.sort((a, b) => Number(b) - Number(a))[0], 'bin');
})();

export type { CliResult } from './cli-process';

/** The real CLI in its own node process; `killWhen` sends SIGKILL on the first stderr line it accepts. */
export const runCli = (args: string[], killWhen?: (line: string) => boolean): Promise<CliResult> => runCliProcess(CLI, args, { killWhen });

export async function query<T = Record<string, unknown>>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new Client(clientConfig(url));
  await c.connect();
  try {
    return (await c.query(sql, params)).rows as T[];
  } finally {
    await c.end();
  }
}

export async function pgbenchInit(url: string, scale: number): Promise<void> {
  await run('pgbench', ['-i', '-q', '-s', String(scale), url]);
}

/**
 * Tables covering what a COPY or a checksum can get wrong: jsonb, bytea (with NUL bytes), long
 * (TOASTed) text with tabs/newlines/backslashes, NULLs, an enum, arrays, a generated column, a
 * dropped column, a foreign key, an identity and a standalone sequence, a quoted mixed-case name in
 * a second schema, and a table without a primary key holding duplicate rows.
 */
export const RICH_SCHEMA = `
  CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
  CREATE TABLE docs (
    id bigserial PRIMARY KEY,
    obsolete int,
    body jsonb,
    blob bytea,
    long_text text,
    tags text[],
    scores int[],
    feeling mood,
    price numeric(12, 2),
    seen timestamptz,
    ratio float8,
    text_length int GENERATED ALWAYS AS (length(long_text)) STORED
  );
  ALTER TABLE docs DROP COLUMN obsolete;
  CREATE INDEX docs_body ON docs USING gin (body);
  CREATE TABLE events (id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY, doc_id bigint NOT NULL REFERENCES docs (id), note text);
  CREATE SCHEMA billing;
  CREATE TABLE billing."Invoice" ("Number" text PRIMARY KEY, amount numeric, lines jsonb[], legacy json);
  CREATE TABLE nokey (a int, b text);
  CREATE SEQUENCE standalone_seq START 100;
  SELECT nextval('standalone_seq'), nextval('standalone_seq');
  INSERT INTO docs (body, blob, long_text, tags, scores, feeling, price, seen, ratio)
  SELECT CASE WHEN g % 7 = 0 THEN NULL ELSE jsonb_build_object('n', g, 'nested', jsonb_build_object('k', repeat('v', g % 13)), 'arr', jsonb_build_array(g, 'x', null)) END,
         CASE WHEN g % 5 = 0 THEN NULL ELSE decode(md5(g::text) || '00ff00', 'hex') END,
         CASE WHEN g % 11 = 0 THEN NULL WHEN g % 97 = 0 THEN repeat(md5(g::text) || E'\\t\\n\\\\', 3000) ELSE 'row ' || g || E' tab\\there' END,
         CASE WHEN g % 3 = 0 THEN NULL ELSE ARRAY['a' || g, NULL, 'quote"s', 'comma,s'] END,
         ARRAY[g, g * 2, NULL],
         (ARRAY['sad', 'ok', 'happy', NULL])[1 + g % 4]::mood,
         CASE WHEN g % 9 = 0 THEN NULL ELSE g * 1.25 END,
         timestamptz '2024-03-31 01:30:00+02' + g * interval '37 minutes',
         CASE WHEN g % 8 = 0 THEN NULL ELSE 1.0 / g END
  FROM generate_series(1, 3000) g;
  INSERT INTO events (doc_id, note) SELECT 1 + g % 3000, CASE WHEN g % 2 = 0 THEN NULL ELSE 'e' || g END FROM generate_series(1, 5000) g;
  INSERT INTO billing."Invoice" SELECT 'INV-' || g, g / 3.0, ARRAY['{"x": 1}'::jsonb, NULL], json_build_object('g', g, '  spaced', true) FROM generate_series(1, 200) g;
  INSERT INTO nokey SELECT g % 50, 'dup' FROM generate_series(1, 300) g;
`;

/**
 * The wide-table fixture, `rows` articles: a table of every kind of value a COPY or a checksum can
 * get wrong at volume (jsonb, bytea, long TOASTed text, text and integer arrays, an enum, numeric,
 * timestamptz, a generated column) in its own schema, and beside it in `public` a table without a
 * primary key whose foreign key points across schemas at it (five views per article).
 */
export function wideTables(rows: number): string {
  return `
  CREATE SCHEMA wide;
  CREATE TYPE wide.status AS ENUM ('draft', 'review', 'published', 'archived');
  CREATE TABLE wide.article (
    id bigint PRIMARY KEY,
    title text NOT NULL,
    body text,
    meta jsonb,
    thumbnail bytea,
    tags text[],
    ratings int[],
    status wide.status,
    price numeric(12, 2),
    published timestamptz,
    body_length int GENERATED ALWAYS AS (length(body)) STORED
  );
  CREATE INDEX article_published ON wide.article (status, published);
  CREATE TABLE public.article_view (article_id bigint NOT NULL REFERENCES wide.article (id), viewed timestamptz NOT NULL, agent text);
  CREATE INDEX article_view_article ON public.article_view (article_id);
  INSERT INTO wide.article (id, title, body, meta, thumbnail, tags, ratings, status, price, published)
  SELECT g, 'Article ' || g || ' \\ "quoted"' || E'\t',
         CASE WHEN g % 13 = 0 THEN NULL WHEN g % 50 = 0 THEN repeat(md5(g::text) || E'\n', 400) ELSE repeat(md5(g::text) || ' ', 20 + g % 20) END,
         CASE WHEN g % 17 = 0 THEN NULL ELSE jsonb_build_object('n', g, 'author', 'a' || g % 97, 'words', g % 1000, 'flags', jsonb_build_array(g % 2 = 0, null, 'x')) END,
         CASE WHEN g % 11 = 0 THEN NULL ELSE decode(repeat(md5(g::text), 8) || '00', 'hex') END,
         CASE WHEN g % 3 = 0 THEN NULL ELSE ARRAY['t' || g % 40, NULL, 'comma,s', 'quote"s'] END,
         ARRAY[g % 5, g % 7, NULL],
         (ARRAY['draft', 'review', 'published', 'archived', NULL])[1 + g % 5]::wide.status,
         CASE WHEN g % 9 = 0 THEN NULL ELSE g * 0.25 END,
         timestamptz '2024-03-31 01:30:00+02' + g * interval '61 seconds'
  FROM generate_series(1, ${rows}) g;
  INSERT INTO public.article_view SELECT 1 + g % ${rows}, timestamptz '2025-01-01 00:00:00+00' + g * interval '7 seconds', CASE WHEN g % 4 = 0 THEN NULL ELSE 'agent ' || g % 10 END
  FROM generate_series(1, ${rows * 5}) g;
`;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export interface Cluster {
  /** URL of the `postgres` database, password included. */
  url(database: string, password?: string): string;
  /** Stops the server, data kept: connections are refused until `resume` (a paused or restarting database). */
  pause(): Promise<void>;
  /** Starts it again on the same port; resolves once it accepts connections. */
  resume(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A throwaway PostgreSQL 15 cluster with wal_level=logical and password (SCRAM) authentication
 * over TCP, for replicate mode: the machine's main cluster runs with wal_level=replica and is
 * shared, so it is never reconfigured.
 */
export async function startLogicalCluster(password: string): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), 'data-move-pg-'));
  const data = join(dir, 'data');
  const pwfile = join(dir, 'pw');
  writeFileSync(pwfile, password);
  const asPostgres = process.getuid?.() === 0;
  if (asPostgres) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    chownSync(dir, Number(stdout), Number(gid));
    chownSync(pwfile, Number(stdout), Number(gid));
  }
  chmodSync(dir, 0o700);
  const as = (bin: string, args: string[]) => {
    const path = bin === 'openssl' ? bin : join(PG_BIN, bin);
    return asPostgres ? run('runuser', ['-u', 'postgres', '--', path, ...args]) : run(path, args);
  };
  // TLS with a self-signed certificate: URLs can then carry sslmode=require, as they will against the old host.
  await as('openssl', ['req', '-new', '-x509', '-days', '1', '-nodes', '-subj', '/CN=data-move-test', '-keyout', join(dir, 'server.key'), '-out', join(dir, 'server.crt')]);
  await as('initdb', ['-D', data, '-U', 'postgres', '--auth-local=trust', '--auth-host=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--no-sync']);
  const port = await freePort();
  const options = [
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    `-c unix_socket_directories=${dir}`,
    '-c wal_level=logical',
    '-c max_replication_slots=4',
    '-c max_wal_senders=4',
    '-c fsync=off',
    '-c shared_buffers=64MB',
    '-c ssl=on',
    `-c ssl_cert_file=${join(dir, 'server.crt')}`,
    `-c ssl_key_file=${join(dir, 'server.key')}`,
  ].join(' ');
  const start = () => as('pg_ctl', ['-D', data, '-o', options, '-l', join(dir, 'log'), '-w', 'start']);
  await start();
  return {
    url: (database, pw = password) => `postgres://postgres:${encodeURIComponent(pw)}@127.0.0.1:${port}/${database}?sslmode=require`,
    pause: async () => {
      await as('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']);
    },
    resume: async () => {
      await start();
    },
    stop: async () => {
      await as('pg_ctl', ['-D', data, '-m', 'immediate', 'stop']).catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The JSON log lines of a CLI run (core/logger.ts's format: the event name is `msg`). */
export function events(stderr: string): { time: string; level: string; msg: string; [k: string]: unknown }[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
}
