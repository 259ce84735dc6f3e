import type { Readable } from 'node:stream';
import * as z from '../../core/zod';
import { MAX_BATCH_ROWS } from '../../core/contract';
import { BatchSource } from '../../core/domain/batches';

/**
 * The rows of a batch source: the `BatchSource` envelope gateway-b2b stores for every batch,
 * whether the client sent JSON or CSV (`{v:1, …, rows:[…]}`, at most MAX_BATCH_ROWS rows,
 * so read whole). Row i is reported as line i + 1.
 *
 * Only the envelope decides whether the source is readable. Each row is given as it stands
 * (`fields` unknown) and checked on its own by the handler (`rowIssue`, the gateway's rules): a
 * row that is not text fields (a number, null, not an object) is rejected alone with a reason
 * naming the field, as a source stored before a rule or written by anything else costs its bad
 * rows only, never the whole batch.
 */
const Envelope = z.extend(BatchSource, { rows: z.array(z.unknown()).check(z.minLength(1), z.maxLength(MAX_BATCH_ROWS)) });

/** The file itself is unusable (not the envelope it claims to be): the batch fails, with this message. */
export class UnreadableSource extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnreadableSource';
  }
}

const MAX_JSON_SOURCE_BYTES = 32 * 1024 * 1024;

export interface SourceRow {
  /** 1-based position of the row in the source. */
  line: number;
  /** The row as stored: text fields once `rowIssue` finds nothing wrong with it. */
  fields: unknown;
}

export async function* readRows(source: Readable): AsyncGenerator<SourceRow> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of source) {
    size += (chunk as Buffer).length;
    if (size > MAX_JSON_SOURCE_BYTES) throw new UnreadableSource(`JSON source exceeds ${MAX_JSON_SOURCE_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  let value: unknown;
  try {
    value = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new UnreadableSource(`JSON source is not JSON: ${(err as Error).message}`);
  }
  const parsed = Envelope.safeParse(value);
  if (!parsed.success) throw new UnreadableSource(`JSON source is not a batch source: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  let line = 0;
  for (const fields of parsed.data.rows) yield { line: ++line, fields };
}
