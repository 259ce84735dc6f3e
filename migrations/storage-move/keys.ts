import { readFile } from 'node:fs/promises';
import { parse as parseCsv } from 'csv-parse/sync';
import type { Client } from 'pg';
import { documentKeyFor } from '../../core/domain/orders';
import { UsageError } from '../../core/cli';
import { UUID_PATTERN } from '../../core/contract';

export interface OrderTarget {
  orderId: string;
  targetKey: string;
}

/** Two or more orders hold the same old key: which one the object belongs to is not known. */
export interface SharedKey {
  orderIds: string[];
}

/** An old key of the map that a source key equals only in another Unicode normalisation (KeyMap.alike). */
export interface Alike {
  oldKey: string;
  target: OrderTarget | SharedKey;
}

/**
 * Whether a key has characters that Unicode writes composed or decomposed (é as U+00E9, or e and
 * U+0301, as macOS names files): two such keys may look the same and differ in their bytes.
 */
export const normalisable = (key: string): boolean => key.normalize('NFC') !== key.normalize('NFD');

/** Which of the two a key is written in, for the report. */
export const formOf = (key: string): string => (key === key.normalize('NFC') ? 'NFC' : key === key.normalize('NFD') ? 'NFD' : 'mixed');

/** Source key (relative to the source prefix) → the order it belongs to and its new key. */
export interface KeyMap {
  /** By the exact key: a key is its bytes, as S3 and the old server compare them. */
  (sourceKey: string, fullKey: string): OrderTarget | SharedKey | null;
  /** The old keys equal to these only once both are put in the same Unicode normalisation (none when one matches exactly). */
  alike(sourceKey: string, fullKey: string): Alike[];
  /**
   * The old key a --map gives this new key (its order's document), if any. Not from the orders:
   * once moved, an order's document_key is its new key, which no source object need have.
   */
  holderOf(targetKey: string): string | undefined;
}

interface OrderRow {
  id: string;
  client_id: string;
  document_key: string | null;
  output_format: 'pdf' | 'docx' | 'html';
}

const ORDER_SQL = `SELECT o.id, o.client_id, o.document_key, t.output_format FROM orders o JOIN themes t ON t.id = o.theme_id`;

const toTarget = (o: OrderRow): OrderTarget => ({ orderId: o.id, targetKey: documentKeyFor(o, o.output_format) });

/**
 * The orders with their themes' formats. A database without them is not the platform's (a
 * DATABASE_URL naming another one): said as such, exit 2, where it was "relation "orders" does
 * not exist", exit 3, the run's unexpected.
 */
async function ordersOf(db: Client, where: string, params: unknown[]): Promise<OrderRow[]> {
  try {
    return (await db.query<OrderRow>(`${ORDER_SQL} ${where}`, params)).rows;
  } catch (err) {
    if ((err as { code?: string }).code !== '42P01') throw err;
    throw new UsageError('--database-url', `is not the platform's database (${(err as Error).message}): a reports move reads and re-points its orders; name db:move's target`);
  }
}

/**
 * The old key of each order's document: `orders.document_key` as db:move brought it over, or a
 * CSV `old_key,order_id` (a header line `old_key,order_id` is allowed). A source object is matched
 * by its key relative to the source prefix, then by its full key.
 */
export async function loadKeyMap(db: Client, mapFile?: string): Promise<KeyMap> {
  const byOld = new Map<string, OrderTarget | SharedKey>();
  // One old key for two orders would give the object to the one read last: it goes to neither.
  const add = (oldKey: string, t: OrderTarget) => {
    const had = byOld.get(oldKey);
    if (!had) byOld.set(oldKey, t);
    else {
      const ids = 'orderIds' in had ? had.orderIds : [had.orderId];
      if (!ids.includes(t.orderId)) byOld.set(oldKey, { orderIds: [...ids, t.orderId].sort() });
    }
  };
  if (mapFile) {
    let text: string;
    try {
      text = await readFile(mapFile, 'utf8');
    } catch (err) {
      throw new UsageError('--map', `${mapFile}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    let records: { record: string[]; info: { lines: number } }[];
    try {
      records = parseCsv(text, { bom: true, skip_empty_lines: true, relax_column_count: false, info: true }) as unknown as typeof records;
    } catch (err) {
      throw new UsageError('--map', `${mapFile}: not a CSV of old_key,order_id (${(err as Error).message})`);
    }
    if (records[0]?.record[0] === 'old_key') records.shift();
    // An order has one document: two old keys for it would both go to its one new key, the second overwriting the first.
    const firstOf = new Map<string, { oldKey: string; line: number }>();
    for (const { record: r, info } of records) {
      if (r.length !== 2 || !UUID_PATTERN.test(r[1])) throw new UsageError('--map', `${mapFile} line ${info.lines}: expected old_key,order_id (a uuid), got "${r.join(',')}"`);
      const id = r[1].toLowerCase();
      const first = firstOf.get(id);
      if (!first) firstOf.set(id, { oldKey: r[0], line: info.lines });
      else if (first.oldKey !== r[0])
        throw new UsageError('--map', `${mapFile} lines ${first.line} and ${info.lines}: order ${id} is given two old keys ("${first.oldKey}", "${r[0]}"), and an order has one document: keep the line of its document`);
    }
    const rows = records.map((x) => x.record);
    const ids = [...new Set(rows.map((r) => r[1]))];
    const orders = await ordersOf(db, 'WHERE o.id = ANY($1::uuid[])', [ids]);
    const byId = new Map(orders.map((o) => [o.id, o]));
    for (const [oldKey, id] of rows) {
      const o = byId.get(id.toLowerCase());
      if (o) add(oldKey, toTarget(o));
    }
  } else {
    for (const o of await ordersOf(db, 'WHERE o.document_key IS NOT NULL', [])) add(o.document_key!, toTarget(o));
  }
  const holders = new Map<string, string>();
  if (mapFile) for (const [oldKey, t] of byOld) if ('targetKey' in t) holders.set(t.targetKey, oldKey);
  // Only the keys that can be written two ways: the others are matched exactly or not at all.
  const byForm = new Map<string, string[]>();
  for (const oldKey of byOld.keys()) if (normalisable(oldKey)) byForm.set(oldKey.normalize('NFC'), [...(byForm.get(oldKey.normalize('NFC')) ?? []), oldKey]);
  const alike = (key: string, fullKey: string): Alike[] => {
    const found = new Set<string>();
    for (const k of [key, fullKey]) if (normalisable(k)) for (const oldKey of byForm.get(k.normalize('NFC')) ?? []) found.add(oldKey);
    return [...found].sort().map((oldKey) => ({ oldKey, target: byOld.get(oldKey)! }));
  };
  return Object.assign((key: string, fullKey: string) => byOld.get(key) ?? byOld.get(fullKey) ?? null, { alike, holderOf: (targetKey: string) => holders.get(targetKey) });
}
