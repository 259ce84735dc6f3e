import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { query, runCli } from '../support/data-move-harness';

/**
 * Each database's defaults (ALTER DATABASE … SET) shape its values' text, which db:move copies (a
 * text COPY between major versions) and hashes to verify: money under lc_monetary = de_DE printed
 * '1.234,56 €' on the source, '$1,234.56' on the target, and equal sides failed verification.
 * de_DE.utf8 must exist for the server (a directory locale, which a running server finds at once:
 * localedef --no-archive -i de_DE -f UTF-8 de_DE.UTF-8, as npm test's pretest, scripts/install-system-deps.sh --for-tests, does).
 */
const SETTINGS = {
  source: { lc_monetary: 'de_DE.utf8', DateStyle: 'SQL, DMY', IntervalStyle: 'sql_standard', extra_float_digits: '0', TimeZone: 'Pacific/Chatham' },
  target: { lc_monetary: 'C', DateStyle: 'German', IntervalStyle: 'iso_8601', extra_float_digits: '-3', TimeZone: 'America/St_Johns' },
};

describe('db:move between databases whose default settings shape values differently', () => {
  let source: TestDatabase;
  let target: TestDatabase;

  beforeAll(async () => {
    [source, target] = await Promise.all([createTestDatabase('dmsettings_src'), createTestDatabase('dmsettings_tgt')]);
    // Said plainly: the ALTER DATABASE below would fail with only "invalid value for parameter".
    await query(source.url, `SET lc_monetary = '${SETTINGS.source.lc_monetary}'`).catch((err) => {
      throw new Error(`the server has no ${SETTINGS.source.lc_monetary} locale (${(err as Error).message}): localedef --no-archive -i de_DE -f UTF-8 de_DE.UTF-8 where it runs`);
    });
    for (const [side, db] of [['source', source], ['target', target]] as const) {
      for (const [name, value] of Object.entries(SETTINGS[side])) await query(db.url, `ALTER DATABASE "${db.name}" SET ${name} = '${value}'`);
    }
    await query(
      source.url,
      `CREATE TABLE ledger (id int PRIMARY KEY, amount money, at timestamptz, day date, span interval, ratio float8);
       INSERT INTO ledger SELECT g, g * 1234.56, timestamptz '2024-03-31 01:30:00+02' + g * interval '7 hours', date '2024-02-27' + g, g * interval '1 day 2 hours 3.5 seconds', 1.0 / g
       FROM generate_series(1, 50) g;`,
    );
  });
  afterAll(async () => {
    await Promise.all([source?.drop(), target?.drop()]);
  });

  it('copies and verifies every value unchanged', async () => {
    const res = await runCli(['--source', source.url, '--target', target.url]);
    expect(res.stdout).toMatch(/^public\.ledger\s+50\s+50\s+ok/m);
    expect(res.code).toBe(0);
    const canonical = `SET lc_monetary = 'C'; SET DateStyle = 'ISO'; SET IntervalStyle = 'postgres'; SET extra_float_digits = 3; SET TimeZone = 'UTC';
      SELECT string_agg(format('%s|%s|%s|%s|%s|%s', id, amount, at, day, span, ratio), ',' ORDER BY id) AS all FROM ledger`;
    const [s, t] = await Promise.all([query(source.url, canonical), query(target.url, canonical)]);
    expect(t).toEqual(s);
  }, 60_000);

  it('--verify-only finds both sides alike', async () => {
    const res = await runCli(['--source', source.url, '--target', target.url, '--verify-only']);
    expect(res.stdout).toMatch(/^public\.ledger\s+50\s+50\s+ok/m);
    expect(res.code).toBe(0);
  }, 60_000);
});
