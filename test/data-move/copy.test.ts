import { Client } from 'pg';
import { digestMethod } from '../../migrations/data-move/verify';
import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { events, pgbenchInit, query, RICH_SCHEMA, runCli, type CliResult } from '../support/data-move-harness';

/** The text the target digest's query starts with (verify.ts dataDigest): a trigger finds that session by it. */
const DIGEST_QUERY = 'SELECT count(*)::text AS rows, coalesce(sum(%';

/** The run ended with exactly one failure line, without a stack trace; returns that line. */
function failureLine(res: CliResult): { msg: string; field?: string; exitCode: number } {
  expect(res.stderr).not.toMatch(/^\s+at /m);
  const errors = events(res.stderr).filter((e) => e.level === 'error');
  expect(errors).toHaveLength(1);
  return errors[0] as unknown as { msg: string; field?: string; exitCode: number };
}

describe('db:move copy mode between two real databases', () => {
  let source: TestDatabase;
  let target: TestDatabase;
  const extraTargets: TestDatabase[] = [];

  /**
   * A fresh target holding the source's pre-data schema and nothing copied: a one-stream run is
   * killed on its pre-data log line, while pgbench_accounts (largest, so first) still streams.
   * `sql` then runs on it (triggers that tamper with the copy); the caller reruns the move.
   */
  async function targetAfterPreData(sql: string): Promise<TestDatabase> {
    const fresh = await createTestDatabase('dmcopy_tgt');
    extraTargets.push(fresh);
    const killed = await runCli(['--source', source.url, '--target', fresh.url, '--jobs', '1'], (line) => line.includes('"section":"pre-data"'));
    expect(killed.signal).toBe('SIGKILL');
    expect(await query(fresh.url, `SELECT phase, (SELECT count(*) FROM _data_move.copied_table)::int AS copied FROM _data_move.run`)).toEqual([
      { phase: 'pre-data', copied: 0 },
    ]);
    await query(fresh.url, sql);
    return fresh;
  }

  beforeAll(async () => {
    [source, target] = await Promise.all([createTestDatabase('dmcopy_src'), createTestDatabase('dmcopy_tgt')]);
    await pgbenchInit(source.url, 1);
    await query(source.url, RICH_SCHEMA);
  });
  afterAll(async () => {
    await Promise.all([source?.drop(), target?.drop(), ...extraTargets.map((t) => t.drop())]);
  });

  it('copies schema, data and sequences, verifies them, and leaves the source untouched', async () => {
    const before = await query(source.url, `SELECT (SELECT count(*) FROM pg_namespace) AS schemas, (SELECT count(*) FROM pg_publication) AS pubs`);
    const res = await runCli(['--source', source.url, '--target', target.url, '--jobs', '3']);
    expect(res.stderr).not.toMatch(/^\s+at /m);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/verification OK: 8 tables, 3 sequences/);
    expect(res.stdout).toMatch(/public\.nokey .*ok \(no primary key: order-independent checksum\)/);
    expect(res.stdout).toMatch(/public\.pgbench_accounts\s+100000\s+100000\s+ok/);

    // Independent of the tool's own checksum: compare the row sets with plain SQL.
    const rows = async (url: string) =>
      query<{ t: string; n: string; h: string }>(
        url,
        `SELECT 'docs' AS t, count(*)::text AS n, md5(string_agg(d::text, '|' ORDER BY id)) AS h FROM docs d
         UNION ALL SELECT 'invoice', count(*)::text, md5(string_agg(i::text, '|' ORDER BY "Number")) FROM billing."Invoice" i
         UNION ALL SELECT 'nokey', count(*)::text, md5(string_agg(k::text, '|' ORDER BY a, b)) FROM nokey k`,
      );
    expect(await rows(target.url)).toEqual(await rows(source.url));
    const [t] = await query<Record<string, unknown>>(
      target.url,
      `SELECT (SELECT last_value FROM docs_id_seq)::int AS docs_seq, (SELECT last_value FROM standalone_seq)::int AS standalone,
         (SELECT count(*) FROM docs WHERE text_length IS DISTINCT FROM length(long_text))::int AS bad_generated,
         (SELECT count(*) FROM pg_indexes WHERE indexname = 'docs_body')::int AS gin_index,
         (SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid = 'events'::regclass)::int AS foreign_keys,
         to_regnamespace('_data_move') IS NULL AS state_dropped`,
    );
    expect(t).toEqual({ docs_seq: 3000, standalone: 101, bad_generated: 0, gin_index: 1, foreign_keys: 1, state_dropped: true });
    const after = await query(source.url, `SELECT (SELECT count(*) FROM pg_namespace) AS schemas, (SELECT count(*) FROM pg_publication) AS pubs`);
    expect(after).toEqual(before);
  });

  it('hashes rows by column hash only where values alone decide the hash', async () => {
    const client = new Client({ connectionString: source.url });
    await client.connect();
    try {
      const method = (sql: string) => digestMethod(client, { sql }, 15);
      // docs has an enum (hashed by its label's text, not by the label's OID, which differs between databases); Invoice has json.
      expect([await method('public.docs'), await method('billing."Invoice"'), await method('public.events')]).toEqual(['record', 'text', 'record']);
    } finally {
      await client.end();
    }
  });

  it('fails verification when values of one column are swapped between two target rows', async () => {
    // events 1 and 2 point at docs 2 and 3 on the source. A row hash that adds up its column hashes
    // linearly (as hash_record_extended does) leaves the table's sum of row hashes unchanged.
    const swap = (first: number, second: number) =>
      query(target.url, `UPDATE events SET doc_id = CASE id WHEN 1 THEN ${first} ELSE ${second} END WHERE id IN (1, 2)`);
    await swap(3, 2);
    const res = await runCli(['--verify-only', '--source', source.url, '--target', target.url]);
    await swap(2, 3);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/verification FAILED: mismatch in public\.events$/m);
  });

  it('fails verification and names the tables when one target row differs', async () => {
    await query(target.url, `UPDATE docs SET body = body || '{"tampered": true}' WHERE id = 43`);
    await query(target.url, `UPDATE events SET note = 'changed' WHERE id = 7`);
    const res = await runCli(['--verify-only', '--source', source.url, '--target', target.url]);
    expect(res.code).toBe(1);
    expect(res.stdout).toMatch(/public\.docs .*MISMATCH: content checksum differs/);
    expect(res.stdout).toMatch(/public\.events .*MISMATCH: content checksum differs/);
    expect(res.stdout).toMatch(/verification FAILED: mismatch in public\.docs, public\.events$/m);
  });

  it('refuses a target that is not empty, without touching it', async () => {
    const res = await runCli(['--source', source.url, '--target', target.url]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/--target: .* is not empty: it has \d+ relation\(s\)/);
    expect(res.stderr).not.toMatch(/^\s+at /m);
    const [row] = await query<{ tampered: boolean }>(target.url, `SELECT (body ? 'tampered') AS tampered FROM docs WHERE id = 43`);
    expect(row.tampered).toBe(true);
  });

  it('ends with one failure line and exit 3 when the target digest fails while tables still copy', async () => {
    // docs' COPY terminates the target digest's session (digesting pgbench_accounts, or idle after
    // it: then docs' own digest fails); events' COPY then takes 1.5 s, so the failure comes while
    // tables still copy, where nothing awaited it and Node's unhandled rejection ended the run.
    const fresh = await targetAfterPreData(`
      CREATE FUNCTION public.drop_digester() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        FOR i IN 1..500 LOOP
          PERFORM pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE '${DIGEST_QUERY}';
          EXIT WHEN FOUND;
          PERFORM pg_sleep(0.01);
        END LOOP;
        PERFORM pg_sleep(0.5);
        RETURN NULL;
      END $$;
      CREATE FUNCTION public.slow_copy() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(1.5); RETURN NULL; END $$;
      CREATE TRIGGER drop_digester BEFORE INSERT ON public.docs FOR EACH STATEMENT EXECUTE FUNCTION public.drop_digester();
      CREATE TRIGGER slow_copy BEFORE INSERT ON public.events FOR EACH STATEMENT EXECUTE FUNCTION public.slow_copy();`);
    const res = await runCli(['--source', source.url, '--target', fresh.url, '--jobs', '1']);
    expect(res.code).toBe(3);
    expect(failureLine(res)).toMatchObject({ exitCode: 3, msg: expect.stringMatching(/^the target digest of public\.(pgbench_accounts|docs) failed: .*; rerun/) });
    const copied = events(res.stderr).filter((e) => e.msg === 'table_copied').map((e) => e.table);
    expect(copied.indexOf('public.events')).toBeGreaterThan(copied.indexOf('public.docs'));
  });

  it('ends with exit 3 naming the table when the target refuses a row mid-stream (a trigger raising), instead of hanging', async () => {
    const fresh = await targetAfterPreData(`
      CREATE FUNCTION public.refuse_row() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.aid = 50000 THEN RAISE EXCEPTION 'row % refused', NEW.aid; END IF; RETURN NEW; END $$;
      CREATE TRIGGER refuse_row BEFORE INSERT ON public.pgbench_accounts FOR EACH ROW EXECUTE FUNCTION public.refuse_row();`);
    const started = Date.now();
    const res = await runCli(['--source', source.url, '--target', fresh.url, '--jobs', '1']);
    expect(res.code).toBe(3);
    expect(failureLine(res)).toMatchObject({ exitCode: 3, msg: expect.stringMatching(/^copying public\.pgbench_accounts failed: row 50000 refused.*; rerun the same command to resume from there$/) });
    expect(Date.now() - started).toBeLessThan(30_000);
  }, 60_000);

  it('ends with exit 3 naming the table when a connection drops mid-copy, and a rerun resumes', async () => {
    const fresh = await targetAfterPreData(`
      CREATE FUNCTION public.drop_me() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$;
      CREATE TRIGGER drop_me BEFORE INSERT ON public.events FOR EACH STATEMENT EXECUTE FUNCTION public.drop_me();`);
    const args = ['--source', source.url, '--target', fresh.url, '--jobs', '1'];
    const res = await runCli(args);
    expect(res.code).toBe(3);
    // The server's FATAL, or the reset socket if the relay is still writing when it closes.
    expect(failureLine(res)).toMatchObject({ exitCode: 3, msg: expect.stringMatching(/^copying public\.events failed: .+; rerun the same command to resume from there$/) });
    await query(fresh.url, 'DROP TRIGGER drop_me ON public.events; DROP FUNCTION public.drop_me()');
    const rerun = await runCli(args);
    expect(rerun.code).toBe(0);
    expect(events(rerun.stderr).filter((e) => e.msg === 'table_copied').map((e) => e.table)).not.toContain('public.pgbench_accounts');
    expect(rerun.stdout).toMatch(/verification OK: 8 tables, 3 sequences/);
  });

  it("fails its own verification, naming each table, when the target changes one value of one row as it is copied", async () => {
    // Row triggers on the target alter one row of a text-hashed table (Invoice: json), of the table
    // without primary key (one of six duplicate rows) and of pgbench_accounts (binary COPY, per-column hash).
    const fresh = await targetAfterPreData(`
      CREATE FUNCTION public.tamper_account() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW.aid = 4242 THEN NEW.abalance := NEW.abalance + 1; END IF; RETURN NEW; END $$;
      CREATE FUNCTION public.tamper_invoice() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN IF NEW."Number" = 'INV-77' THEN NEW.legacy := '{"g": 78, "  spaced": true}'; END IF; RETURN NEW; END $$;
      CREATE FUNCTION public.tamper_nokey() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.a = 7 AND current_setting('dm.tampered', true) IS DISTINCT FROM 'yes' THEN
          PERFORM set_config('dm.tampered', 'yes', true);
          NEW.b := 'dup!';
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER tamper BEFORE INSERT ON public.pgbench_accounts FOR EACH ROW EXECUTE FUNCTION public.tamper_account();
      CREATE TRIGGER tamper BEFORE INSERT ON billing."Invoice" FOR EACH ROW EXECUTE FUNCTION public.tamper_invoice();
      CREATE TRIGGER tamper BEFORE INSERT ON public.nokey FOR EACH ROW EXECUTE FUNCTION public.tamper_nokey();`);
    const res = await runCli(['--source', source.url, '--target', fresh.url, '--jobs', '2']);
    expect(await query(fresh.url, `SELECT count(*)::int AS n FROM nokey WHERE b = 'dup!'`)).toEqual([{ n: 1 }]);
    expect(res.stderr).not.toMatch(/^\s+at /m);
    expect(res.code).toBe(1);
    for (const table of ['billing\\."Invoice"', 'public\\.nokey', 'public\\.pgbench_accounts']) {
      expect(res.stdout).toMatch(new RegExp(`^${table} .*MISMATCH: content checksum differs`, 'm'));
    }
    expect(res.stdout).toMatch(/verification FAILED: mismatch in (billing\."Invoice"|public\.nokey|public\.pgbench_accounts)(, (billing\."Invoice"|public\.nokey|public\.pgbench_accounts)){2}$/m);
    // The copy's own report (its digests taken as each table came in), not a --verify-only run's.
    expect(events(res.stderr).find((e) => e.msg === 'copy_finished')).toMatchObject({ ok: false });
  });
});
