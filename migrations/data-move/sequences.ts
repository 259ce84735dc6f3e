import type { Client } from 'pg';
import type { SequenceInfo } from './catalog';
import { log } from './log';

export interface SequenceValue {
  name: string;
  lastValue: string;
  isCalled: boolean;
}

export async function readSequences(client: Client, sequences: SequenceInfo[]): Promise<SequenceValue[]> {
  const values: SequenceValue[] = [];
  for (const s of sequences) {
    const { rows } = await client.query(`SELECT last_value::text AS v, is_called FROM ${s.sql}`);
    values.push({ name: s.name, lastValue: rows[0].v, isCalled: rows[0].is_called });
  }
  return values;
}

/**
 * How far a sequence's table has gone: the largest value (smallest, for a sequence counting down)
 * of the integer columns it fills, by identity, serial ownership or a DEFAULT nextval(), among the
 * values it can hand out: one past its MAXVALUE (MINVALUE) put by hand never collides with it, and
 * setval refused to go there ('out of bounds', exit 3 at every rerun). Null when it fills none, or
 * they hold no such row.
 */
export interface HighWater {
  sequence: string;
  increment: bigint;
  /** schema.table.column holding `value`. */
  column?: string;
  value?: bigint;
}

export async function highWaters(client: Client, sequences: SequenceInfo[]): Promise<Map<string, HighWater>> {
  const out = new Map<string, HighWater>();
  if (!sequences.length) return out;
  const { rows } = await client.query<{ seq: string; inc: string; min: string; max: string; rel: string | null; label: string | null; col: string | null }>(
    `SELECT q.name AS seq, s.seqincrement::text AS inc, s.seqmin::text AS min, s.seqmax::text AS max,
       quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS rel, n.nspname || '.' || c.relname || '.' || a.attname AS label, quote_ident(a.attname) AS col
     FROM unnest($1::text[], $2::text[]) AS q(sql, name)
     JOIN pg_sequence s ON s.seqrelid = q.sql::regclass
     LEFT JOIN LATERAL (
       SELECT d.refobjid AS rel, d.refobjsubid AS attnum FROM pg_depend d
       WHERE d.classid = 'pg_class'::regclass AND d.objid = s.seqrelid AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0 AND d.deptype IN ('a', 'i')
       UNION
       SELECT ad.adrelid, ad.adnum FROM pg_depend d JOIN pg_attrdef ad ON ad.oid = d.objid
       WHERE d.classid = 'pg_attrdef'::regclass AND d.refclassid = 'pg_class'::regclass AND d.refobjid = s.seqrelid
     ) u ON true
     LEFT JOIN pg_attribute a ON a.attrelid = u.rel AND a.attnum = u.attnum AND NOT a.attisdropped
       AND a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)
     LEFT JOIN pg_class c ON c.oid = a.attrelid
     LEFT JOIN pg_namespace n ON n.oid = c.relnamespace
     ORDER BY 1, 4`,
    [sequences.map((s) => s.sql), sequences.map((s) => s.name)],
  );
  for (const r of rows) {
    const mark = out.get(r.seq) ?? { sequence: r.seq, increment: BigInt(r.inc) };
    out.set(r.seq, mark);
    if (!r.rel || !r.col || !r.label) continue;
    const up = mark.increment > 0n;
    // Without ONLY: a partitioned parent's rows are its partitions'.
    const { rows: e } = await client.query(`SELECT ${up ? 'max' : 'min'}(${r.col})::text AS v FROM ${r.rel} WHERE ${r.col} BETWEEN $1::bigint AND $2::bigint`, [r.min, r.max]);
    if (e[0].v === null) continue;
    const value = BigInt(e[0].v);
    if (mark.value === undefined || (up ? value > mark.value : value < mark.value)) Object.assign(mark, { value, column: r.label });
  }
  return out;
}

/** The value the next nextval() returns. */
export const nextValue = (v: Pick<SequenceValue, 'lastValue' | 'isCalled'>, increment: bigint): bigint =>
  v.isCalled ? BigInt(v.lastValue) + increment : BigInt(v.lastValue);

/** Whether the next nextval() would hand out a value its table already holds (or has gone past). */
export function behindData(v: Pick<SequenceValue, 'lastValue' | 'isCalled'>, mark: HighWater): boolean {
  if (mark.value === undefined) return false;
  const next = nextValue(v, mark.increment);
  return mark.increment > 0n ? next <= mark.value : next >= mark.value;
}

/**
 * Sequences are not data to COPY nor replicated: their positions are set explicitly, to the
 * source's, or past the highest value of their table on the target when the source's lags behind
 * it (rows inserted with explicit ids on a hand-fixed database): copied as it was, the target's
 * first insert after the switch would take a value a row already has and fail on its key. The
 * source's own sequence is left as it is (the source is never written).
 */
export async function writeSequences(target: Client, sequences: SequenceInfo[], values: SequenceValue[]): Promise<void> {
  const marks = await highWaters(target, sequences);
  for (const [i, s] of sequences.entries()) {
    const mark = marks.get(s.name);
    if (mark && behindData(values[i], mark)) {
      log(
        'sequence_behind_data',
        { sequence: s.name, column: mark.column, sourceLastValue: values[i].lastValue, highest: String(mark.value), setTo: String(mark.value) },
        'warn',
      );
      await target.query(`SELECT pg_catalog.setval($1::regclass, $2::bigint, true)`, [s.sql, String(mark.value)]);
    } else {
      await target.query(`SELECT pg_catalog.setval($1::regclass, $2::bigint, $3)`, [s.sql, values[i].lastValue, values[i].isCalled]);
    }
  }
}
