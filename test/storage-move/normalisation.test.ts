import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { documentKeyFor } from '../../core/domain/orders';
import { startLocalEmulator, type LocalEmulator } from '../../scripts/local/emulator';
import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { getObject, listKeys, query, runCli, s3, seedOrders, type SeededOrder } from '../support/storage-move-harness';

/**
 * Names that differ only in their Unicode normalisation: é written U+00E9 (NFC, as the old
 * platform stored its keys) or e + U+0301 (NFD, as macOS names files). A key is its bytes, so two
 * such names are two objects; an order's old key matches a file named in the other form only
 * when that match is the only one.
 */
const nfc = (s: string) => s.normalize('NFC');
const nfd = (s: string) => s.normalize('NFD');
/** résumé with its first é composed and its second decomposed. */
const mixed = `r\u00e9sume\u0301`;

describe('storage:move and names in another Unicode normalisation', () => {
  let em: LocalEmulator;
  let db: TestDatabase;
  let dir: string;
  let orders: SeededOrder[];
  const c = () => s3(em.endpoint);
  const newKey = (o: SeededOrder) => documentKeyFor({ client_id: o.clientId, id: o.id }, o.format);
  const files: Record<string, string> = {
    // Only in the other form: goes to its order.
    [nfd('café.pdf')]: 'café, from a folder made on macOS',
    // In both forms: the exact one is the order's, the other is another object.
    [nfc('élan.pdf')]: 'élan exactly',
    [nfd('élan.pdf')]: 'élan decomposed',
    // Two orders each equal to it in another form: which one is not known.
    [nfd('résumé.pdf')]: 'résumé decomposed',
    // Two objects equal to one order's key in other forms: which one is its document is not known.
    [nfd('déjà.pdf')]: 'déjà decomposed',
    [`de\u0301j\u00e0.pdf`]: 'déjà mixed',
  };
  const keys = [`docs/${nfc('café.pdf')}`, `docs/${nfc('élan.pdf')}`, `docs/${nfc('résumé.pdf')}`, `docs/${mixed}.pdf`, `docs/${nfc('déjà.pdf')}`];
  const args = () => ['--source', `file://${dir}`, '--target', 'reports', '--env', 'local', '--target-endpoint', em.endpoint, '--database-url', db.url];
  const documentKeys = async () => new Map((await query<{ id: string; document_key: string }>(db.url, 'SELECT id, document_key FROM orders')).map((r) => [r.id, r.document_key]));

  beforeAll(async () => {
    [em, db, dir] = await Promise.all([startLocalEmulator({ buckets: ['reports', 'assets'] }), createTestDatabase('stmove_nfd'), mkdtemp(join(tmpdir(), 'storage-move-nfd-'))]);
    await mkdir(join(dir, 'docs'));
    for (const [name, text] of Object.entries(files)) await writeFile(join(dir, 'docs', name), text);
    orders = await seedOrders(db.url, keys);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([em?.stop(), db?.drop(), rm(dir, { recursive: true, force: true })]);
  });

  it('an order gets its document named in the other form when it is the only match; the other cases are skipped, naming the orders; nothing is merged', async () => {
    const [cafe, elan, resume1, resume2, deja] = orders;
    const r = await runCli(args());
    expect(r.code).toBe(2);
    expect(r.stdout).toContain('6 objects listed, 2 copied and verified, 0 already verified, 4 skipped');
    const now = await documentKeys();
    expect(now.get(cafe.id)).toBe(newKey(cafe));
    expect(String(await getObject(c(), 'reports', newKey(cafe)))).toBe(files[nfd('café.pdf')]);
    expect(now.get(elan.id)).toBe(newKey(elan));
    expect(String(await getObject(c(), 'reports', newKey(elan)))).toBe('élan exactly');
    expect(r.stdout).toMatch(new RegExp(`docs/${nfd('élan.pdf')}: .*order ${elan.id}.* exactly`));
    // Names that look the same are spelled out, the decomposed é as e and U+0301.
    expect(r.stdout).toContain('"docs/e\\u0301lan.pdf" (NFD)');
    expect(r.stdout).toMatch(new RegExp(`docs/${nfd('résumé.pdf')}: .*${resume1.id}.*${resume2.id}|docs/${nfd('résumé.pdf')}: .*${resume2.id}.*${resume1.id}`));
    expect(r.stdout).toMatch(new RegExp(`docs/${nfd('déjà.pdf')}: .*order ${deja.id}`));
    for (const o of [resume1, resume2, deja]) expect(now.get(o.id)).toBe(o.oldKey);
    expect(await listKeys(c(), 'reports')).toEqual([newKey(cafe), newKey(elan)].sort());

    const again = await runCli(args());
    expect(again.code).toBe(2);
    expect(again.stdout).toContain('6 objects listed, 0 copied and verified, 2 already verified, 4 skipped');
    const verified = await runCli([...args(), '--verify-only']);
    expect(verified.stdout).toContain('2 ok, 0 missing or different, 4 skipped');
  }, 60_000);

  it('assets keep both names as two keys, each with its own bytes', async () => {
    const r = await runCli(['--source', `file://${dir}`, '--target', 'assets', '--env', 'local', '--target-endpoint', em.endpoint, '--database-url', db.url]);
    expect(r.code).toBe(0);
    expect(await listKeys(c(), 'assets')).toEqual(Object.keys(files).map((n) => `docs/${n}`).sort());
    for (const [name, text] of Object.entries(files)) expect(String(await getObject(c(), 'assets', `docs/${name}`))).toBe(text);
  }, 30_000);
});
