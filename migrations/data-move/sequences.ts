import type { Client } from 'pg';
import type { SequenceInfo } from './catalog';

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

/** Sequences are not data to COPY nor replicated: their positions are set explicitly. */
export async function writeSequences(target: Client, sequences: SequenceInfo[], values: SequenceValue[]): Promise<void> {
  for (const [i, s] of sequences.entries()) {
    await target.query(`SELECT pg_catalog.setval($1::regclass, $2::bigint, $3)`, [s.sql, values[i].lastValue, values[i].isCalled]);
  }
}
