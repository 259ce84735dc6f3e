import type { Client } from 'pg';
import { FIRST_NORMAL_OID, listUserRelations, rowSecuredTables, type ServerInfo, type TableInfo } from './catalog';
import { UsageError } from '../../core/cli';
import { qualifiedName, quoteIdent } from './db';
import { log } from './log';
import { readState, type Mode, type RunState } from './state';

/** Oldest source the verification SQL runs on (hashtextextended appeared in PostgreSQL 11). */
const OLDEST_SOURCE_MAJOR = 11;

/** Restoring into an older major version is unsupported by pg_dump's output and by replication. */
export function checkVersions(source: Pick<ServerInfo, 'major' | 'version'>, target: Pick<ServerInfo, 'major' | 'version'>): void {
  if (source.major > target.major) {
    throw new UsageError(
      '--target',
      `major-version downgrade refused: source is PostgreSQL ${source.version}, target is ${target.version}; ` +
        `create the target with engine version ${source.major} or newer`,
    );
  }
  if (source.major < OLDEST_SOURCE_MAJOR) {
    throw new UsageError('--source', `PostgreSQL ${source.version} is too old: ${OLDEST_SOURCE_MAJOR} or newer is required`);
  }
}

/**
 * A target is either empty, or holds the bookkeeping of an unfinished run of the same mode from
 * the same source (which is then resumed). Anything else is refused before any write.
 */
export async function checkTarget(target: Client, mode: Mode, source: string, where: string): Promise<RunState | null> {
  const state = await readState(target);
  if (state) {
    if (state.mode !== mode || state.source !== source) {
      throw new UsageError(
        '--target',
        `${where} holds an unfinished ${state.mode} run from ${state.source}; ` +
          `finish it with the same --source and mode, or start over on a fresh database`,
      );
    }
    return state;
  }
  const { count, sample } = await listUserRelations(target);
  if (count > 0) {
    throw new UsageError(
      '--target',
      `${where} is not empty: it has ${count} relation(s) (${sample.join(', ')}${count > sample.length ? ', …' : ''}); ` +
        'the move creates the schema itself and needs an empty database (use --verify-only to compare existing data)',
    );
  }
  return null;
}

/**
 * The source user must read every row: row-level security would hide some from a user that does
 * not bypass it, from the copy and from the source's digest alike. Refused before anything is
 * written (the sessions' row_security = off would make the copy fail at that table instead).
 */
export async function checkRowSecurity(source: Client, user: string): Promise<void> {
  const tables = await rowSecuredTables(source);
  if (!tables.length) return;
  throw new UsageError(
    '--source',
    `row-level security hides rows of ${tables.slice(0, 10).join(', ')}${tables.length > 10 ? `, … (${tables.length})` : ''} from ${user}, ` +
      `which would copy and verify only the rows its policies show: ALTER ROLE ${user} BYPASSRLS (pg_read_all_data does not bypass it), ` +
      'or run the move as a superuser, then rerun',
  );
}

export function warnMissingPrimaryKeys(tables: TableInfo[]): void {
  const missing = tables.filter((t) => t.primaryKey.length === 0).map((t) => t.name);
  if (missing.length) {
    log('tables_without_primary_key', { tables: missing, consequence: 'verified with an order-independent checksum' }, 'warn');
  }
}

/**
 * The source database's own settings (ALTER DATABASE … SET: a search_path its functions' bodies
 * rely on, a TimeZone) are no schema object: pg_dump moves them only with --create, which a move
 * into the RDS database cannot use. Said once per run, naming them, for the target to be given
 * them before the application's first session there.
 */
export async function warnDatabaseSettings(source: Client): Promise<void> {
  const { rows } = await source.query<{ settings: string[] }>(
    `SELECT coalesce((SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
       WHERE d.datname = current_database() AND s.setrole = 0), '{}') AS settings`,
  );
  const settings = rows[0].settings.filter((c) => !c.startsWith('default_transaction_read_only='));
  if (settings.length) log('database_settings_not_moved', { settings, fix: 'ALTER DATABASE … SET each of them on the target' }, 'warn');
}

/** Logical replication prerequisites on the source, checked before anything is created. */
export function checkReplicationSource(info: ServerInfo, tables: TableInfo[], largeObjects: number, extensionRows: { table: string; rows: number }[]): void {
  // First: no setting of the source's makes it replicable, unlike what follows.
  if (largeObjects > 0) {
    throw new UsageError(
      '--source',
      `it holds ${largeObjects} large objects, which logical replication does not carry (they would arrive empty): ` +
        'use --mode copy with the writers stopped, which copies and verifies them',
    );
  }
  // A subscription's initial copy takes a whole table, the rows the target's CREATE EXTENSION made
  // included (duplicates, or a sync failing on their keys), and a row filter on a column outside
  // the replica identity cannot publish UPDATEs: a configuration table stays out of the
  // publication, which loses nothing only while it holds none of the user's rows.
  if (extensionRows.length) {
    throw new UsageError(
      '--source',
      `extension configuration tables hold rows of yours, which replication does not carry: ${extensionRows.map((t) => `${t.table} (${t.rows} rows)`).join(', ')}; ` +
        'use --mode copy with the writers stopped, which copies and verifies them',
    );
  }
  if (info.walLevel !== 'logical') {
    throw new UsageError(
      '--source',
      `replicate mode needs wal_level=logical on the source, which has wal_level=${info.walLevel}: ` +
        'set wal_level = logical (and max_replication_slots, max_wal_senders >= 2) and restart the source, or use --mode copy',
    );
  }
  if (!info.superuser && !info.replication) {
    throw new UsageError('--source', `user ${info.user} lacks the REPLICATION attribute: ALTER ROLE ${info.user} REPLICATION (see docs/data-migration.md)`);
  }
  if (!tables.length) throw new UsageError('--source', 'no tables to replicate');
  const unlogged = tables.filter((t) => t.unlogged).map((t) => t.name);
  if (unlogged.length) {
    throw new UsageError(
      '--source',
      `unlogged tables cannot be replicated: ${unlogged.join(', ')} (they write no WAL, so no publication may hold them); ` +
        'ALTER TABLE … SET LOGGED on the source, or use --mode copy during a write freeze',
    );
  }
  const noIdentity = tables.filter((t) => !t.replicaIdentityOk).map((t) => t.name);
  if (noIdentity.length) {
    throw new UsageError(
      '--source',
      `tables without primary key or replica identity cannot replicate UPDATE/DELETE: ${noIdentity.join(', ')}; ` +
        'add a primary key or ALTER TABLE … REPLICA IDENTITY FULL on the source, or use --mode copy during a write freeze',
    );
  }
}

/**
 * CREATE PUBLICATION … FOR TABLE needs the CREATE privilege on the database and the ownership of
 * every table (a member of the owner role counts, as does a superuser): without them it failed
 * after the schema was on the target, "must be owner of table …", exit 3 at every rerun.
 */
export async function checkPublicationRights(source: Client, user: string, tables: TableInfo[]): Promise<void> {
  const { rows } = await source.query<{ create: boolean; database: string; notOwned: string[] }>(
    `SELECT has_database_privilege(current_database(), 'CREATE') AS create, current_database() AS database,
       ARRAY(SELECT t.name FROM unnest($1::text[], $2::text[]) AS t(sql, name) JOIN pg_class c ON c.oid = t.sql::regclass
             WHERE NOT pg_has_role(c.relowner, 'USAGE') ORDER BY 1) AS "notOwned"`,
    [tables.map((t) => t.sql), tables.map((t) => t.name)],
  );
  const { create, database, notOwned } = rows[0];
  if (!create) {
    throw new UsageError('--source', `${user} may not create the publication in database ${database}: GRANT CREATE ON DATABASE ${quoteIdent(database)} TO ${quoteIdent(user)}, then rerun`);
  }
  if (notOwned.length) {
    throw new UsageError(
      '--source',
      `the publication needs ${user} to own the tables it publishes, and it does not own ${notOwned.slice(0, 10).join(', ')}${notOwned.length > 10 ? `, … (${notOwned.length})` : ''}: ` +
        `ALTER TABLE … OWNER TO ${quoteIdent(user)}, GRANT the owner role to it, or run the move as the tables' owner or a superuser, then rerun`,
    );
  }
}

/**
 * What cutover does to the source as the --source user: ALTER DATABASE … SET
 * default_transaction_read_only (the database's owner), then the end of every client session of
 * the database, which it must see (pg_stat_activity shows another role's session without its
 * backend type but to pg_read_all_stats) and may signal (pg_signal_backend). Without the last two
 * it ended none of the application's sessions, said the writes were blocked and cut over, and the
 * application went on writing to the old database; without the first it failed, exit 3. Refused
 * before the writes stop, naming what is missing. A superuser has all three.
 */
export async function checkCutoverRights(source: Client, user: string): Promise<void> {
  const { rows } = await source.query<{ database: string; owner: boolean; signal: boolean; stats: boolean }>(
    `SELECT current_database() AS database, pg_has_role(d.datdba, 'USAGE') AS owner,
       pg_has_role('pg_signal_backend', 'USAGE') AS signal, pg_has_role('pg_read_all_stats', 'USAGE') AS stats
     FROM pg_database d WHERE d.datname = current_database()`,
  );
  const { database, owner, signal, stats } = rows[0];
  const missing = [
    ...(owner ? [] : [`the ownership of database ${database} (ALTER DATABASE ${quoteIdent(database)} OWNER TO ${quoteIdent(user)}), to make it read-only`]),
    ...(stats ? [] : [`pg_read_all_stats (GRANT pg_read_all_stats TO ${quoteIdent(user)}), to see the application's sessions`]),
    ...(signal ? [] : [`pg_signal_backend (GRANT pg_signal_backend TO ${quoteIdent(user)}), to end them`]),
  ];
  if (!missing.length) return;
  throw new UsageError('--source', `cutover needs, for user ${user}: ${missing.join('; ')}; nothing was changed: grant them, then rerun the cutover`);
}

/**
 * A subscription carries money as text, written in the publisher session's lc_monetary and read in
 * the apply worker's, each its server's default for the database and user ('1.234,56 €' under
 * de_DE, '$1,234.56' under C): when they differ the initial sync refuses the amounts, or takes
 * them as other ones. Neither session can be pinned from here, as copy mode pins its own. The
 * publisher's session is the user and database of `sourceUrlForTarget`, which the subscription
 * connects with, and which this process may not reach (the target's address of the source): its
 * setting is read from the source's pg_db_role_setting through `source`, in the server's order
 * (user in database, user, database, every user), then the server's default.
 */
export async function checkMoneyLocales(source: Client, target: Client, tables: TableInfo[], sourceUrlForTarget: string): Promise<void> {
  const published = new Set(tables.map((t) => t.name));
  const { rows } = await source.query(`
    SELECT n.nspname AS schema, c.relname AS table, quote_ident(a.attname) AS column
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_type t ON t.oid = a.atttypid
    WHERE a.attnum > 0 AND NOT a.attisdropped AND 'money'::regtype IN (t.oid, t.typelem, t.typbasetype)`);
  const columns = rows.filter((r) => published.has(qualifiedName(r.schema, r.table))).map((r) => `${qualifiedName(r.schema, r.table)}.${r.column}`);
  if (!columns.length) return;
  const forTarget = new URL(sourceUrlForTarget);
  const database = decodeURIComponent(forTarget.pathname.slice(1));
  const { rows: who } = await source.query(
    `WITH who AS (SELECT coalesce(nullif($1, ''), session_user) AS usr, (SELECT oid FROM pg_database WHERE datname = $2) AS db)
     SELECT who.usr,
       (SELECT substr(c, strpos(c, '=') + 1) FROM pg_db_role_setting s CROSS JOIN unnest(s.setconfig) c
        WHERE lower(split_part(c, '=', 1)) = 'lc_monetary'
          AND s.setrole IN (0, (SELECT oid FROM pg_roles WHERE rolname = who.usr)) AND s.setdatabase IN (0, who.db)
        ORDER BY s.setrole <> 0 DESC, s.setdatabase <> 0 DESC LIMIT 1) AS own
     FROM who`,
    [decodeURIComponent(forTarget.username), database],
  );
  const { usr: user, own } = who[0] as { usr: string; own: string | null };
  // Without a setting of its own, the subscription's session has the server's default: the
  // --source session's, unless that one comes from a setting of its user or database (or its
  // URL's options), which hides the default from every user but a superuser.
  let locale = own;
  if (locale === null) {
    const reset = (await source.query(`RESET lc_monetary; SELECT setting, source FROM pg_settings WHERE name = 'lc_monetary'; SET lc_monetary = 'C'`)) as unknown as {
      rows: { setting: string; source: string }[];
    }[];
    const { setting, source: origin } = reset[1].rows[0];
    if (!SERVER_DEFAULT_SOURCES.has(origin)) {
      throw new UsageError(
        '--source-for-target',
        `its user ${user} in database ${database} takes the source server's default lc_monetary, which the --source user's own setting hides: ` +
          `set it for that user (ALTER ROLE ${user} IN DATABASE ${database} SET lc_monetary = …, as on the target), then rerun`,
      );
    }
    locale = setting;
  }
  // The form an amount takes, compared rather than the locale names: C and C.UTF-8 write it alike.
  // The pinned C is put back.
  const form = async (client: Client, value: string) => {
    const { rows: set } = await client.query(`SELECT set_config('lc_monetary', $1, false) AS locale`, [value]);
    const { rows: written } = await client.query('SELECT (-1234567.89)::numeric::money::text AS amount');
    await client.query(`SET lc_monetary = 'C'`);
    return `${set[0].locale}: ${written[0].amount}`;
  };
  // The apply worker runs as the subscription's owner, the --target user, in the target database:
  // that session's default is its own.
  const { rows: targetDefault } = await target.query(`SELECT reset_val FROM pg_settings WHERE name = 'lc_monetary'`);
  const [s, t] = [await form(source, locale), await form(target, targetDefault[0].reset_val)];
  if (s.slice(s.indexOf(': ')) === t.slice(t.indexOf(': '))) return;
  throw new UsageError(
    '--source',
    `money columns (${columns.slice(0, 5).join(', ')}${columns.length > 5 ? ', …' : ''}) replicate as text in the lc_monetary format of the subscription's session on each side ` +
      `(on the source: user ${user} in database ${database}), which differs (source ${s}, target ${t}): the initial sync would refuse or misread the amounts; ` +
      `set the same lc_monetary on both (ALTER DATABASE … SET lc_monetary, or ALTER ROLE ${user} IN DATABASE ${database} SET lc_monetary on the source) and rerun, or use --mode copy, which pins it`,
  );
}

/** Where a setting's reset value comes from when no user or database setting (nor the client) gave it. */
const SERVER_DEFAULT_SOURCES = new Set(['default', 'configuration file', 'command line', 'environment variable', 'override']);

/** An extension the pre-data section creates, at the source's version (schema.ts atSourceVersions). */
export interface ExtensionVersion {
  /** Its name as pg_dump writes it (quoted when it must be). */
  sql: string;
  version: string;
}

/**
 * pg_dump's CREATE EXTENSION names no version, so the target made its default one, whose objects
 * (a configuration table's columns, a function's arguments) need not be the source's: a copy
 * failed on them at every rerun (exit 3), or the move went through with other definitions. Each
 * extension is created at the source's version instead (ALTER EXTENSION … UPDATE on the target
 * moves it on afterwards), which the target must offer; one it already has must be at that
 * version, as CREATE EXTENSION IF NOT EXISTS leaves it alone. Refused before any write, naming
 * the extension and both versions. Those of the server itself (plpgsql) are not dumped.
 */
export async function checkExtensionVersions(source: Client, target: Client): Promise<ExtensionVersion[]> {
  const { rows: extensions } = await source.query<{ name: string; sql: string; version: string }>(
    `SELECT extname AS name, quote_ident(extname) AS sql, extversion AS version FROM pg_extension WHERE oid >= ${FIRST_NORMAL_OID} ORDER BY 1`,
  );
  if (!extensions.length) return [];
  const { rows } = await target.query<{ name: string; installed: string | null; versions: string[] }>(
    `SELECT e.name, e.installed_version AS installed, array_agg(v.version ORDER BY v.version) AS versions
     FROM pg_available_extensions e JOIN pg_available_extension_versions v USING (name) WHERE e.name = ANY ($1) GROUP BY 1, 2`,
    [extensions.map((e) => e.name)],
  );
  const offered = new Map(rows.map((r) => [r.name, r]));
  const pinned: ExtensionVersion[] = [];
  for (const { name, sql, version } of extensions) {
    const there = offered.get(name);
    if (there?.installed && there.installed !== version) {
      throw new UsageError(
        '--target',
        `extension ${name} is version ${there.installed} there, ${version} on the source: ` +
          `ALTER EXTENSION ${sql} UPDATE TO '${version}' on the target (or DROP EXTENSION ${sql}, which the move then creates at ${version}), then rerun`,
      );
    }
    if (!there?.versions.includes(version)) {
      throw new UsageError(
        '--source',
        `extension ${name} is version ${version} on the source, which the target does not offer (${there ? `it offers ${there.versions.join(', ')}` : 'it offers none'}): ` +
          'create the target on an engine version that offers it (RDS lists the extension versions of each), or remove the extension from the source, then rerun',
      );
    }
    if (!there.installed) pinned.push({ sql, version });
  }
  return pinned;
}

/** Tables of `current` new, dropped or with other columns than in `before` (catalog.ts tableShapes), by name. */
export function shapeChanges(before: Map<string, string>, current: Map<string, string>): { table: string; change: 'new' | 'dropped' | 'columns changed' }[] {
  return [
    ...[...current.keys()].filter((t) => !before.has(t)).map((table) => ({ table, change: 'new' as const })),
    ...[...before.keys()].filter((t) => !current.has(t)).map((table) => ({ table, change: 'dropped' as const })),
    ...[...current].filter(([t, columns]) => before.has(t) && before.get(t) !== columns).map(([table]) => ({ table, change: 'columns changed' as const })),
  ].sort((a, b) => (a.table < b.table ? -1 : 1));
}

/**
 * schema.table joined bare, as db:move named tables before db.ts qualifiedName quoted them: how
 * an earlier version's state names the table `qualified` names now.
 */
function bareName(qualified: string): string {
  const part = '"((?:[^"]|"")*)"|([^".]+)';
  const m = new RegExp(`^(?:${part})\\.(?:${part})$`).exec(qualified);
  if (!m) return qualified;
  const unquote = (quoted: string | undefined, plain: string | undefined) => quoted?.replace(/""/g, '"') ?? plain;
  return `${unquote(m[1], m[2])}.${unquote(m[3], m[4])}`;
}

/**
 * A resumed run goes on with the schema its first run created on the target: a table added to the
 * source since, dropped, or whose columns changed has nowhere to go (a COPY would fail on it at
 * every rerun). Refused before any write, naming the tables; `saved` null: an earlier version's run.
 */
export function checkSourceUnchanged(saved: Map<string, string> | null, current: Map<string, string>): void {
  if (!saved) return;
  const unquoted = [...current.keys()].map((name) => ({ name, bare: bareName(name) })).filter((t) => t.bare !== t.name && !saved.has(t.name) && saved.has(t.bare));
  if (unquoted.length) {
    const shown = unquoted.slice(0, 5).map((t) => `${t.bare}, now ${t.name}`);
    throw new UsageError(
      '--target',
      `holds a run begun by an earlier version of db:move, which named tables without quotes (${shown.join('; ')}${unquoted.length > 5 ? '; …' : ''}): ` +
        'this version cannot resume it; finish it with the version that began it, or start over: drop and recreate the target database, then rerun this command',
    );
  }
  const changes = shapeChanges(saved, current).map((c) => `${c.table} (${c.change})`);
  if (!changes.length) return;
  throw new UsageError(
    '--source',
    `its tables changed since this run created the target's schema: ${changes.slice(0, 10).join(', ')}${changes.length > 10 ? `, … (${changes.length})` : ''}; ` +
      'a resumed run cannot take them: put the source back as it was and rerun, or start over on a fresh target database (drop and recreate it) with the writers stopped',
  );
}

/** The advisory lock a run holds on its target for as long as its main session lives (two int4 keys: 'dm', 'mv'). */
const RUN_LOCK = [0x646d, 0x6d76] as const;

/**
 * One run per target: a second one (a task started twice) would resume the same state and copy,
 * index and finally drop it beside the first. Refused naming the session that holds the target.
 */
export async function lockTarget(target: Client): Promise<void> {
  const { rows } = await target.query('SELECT pg_try_advisory_lock($1, $2) AS ok', [...RUN_LOCK]);
  if (rows[0].ok) return;
  const { rows: holder } = await target.query(
    `SELECT a.pid, a.application_name AS app, coalesce(host(a.client_addr), 'local') AS client, to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') AS since
     FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
     WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.objid = $2 AND l.objsubid = 2 AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    [...RUN_LOCK],
  );
  const h = holder[0];
  throw new UsageError(
    '--target',
    `another db:move run holds this target${h ? ` (session ${h.pid}, application ${h.app}, from ${h.client} since ${h.since} UTC)` : ''}: ` +
      'let it finish, or stop it (pg_terminate_backend of that session ends it as a kill would), then rerun',
  );
}
