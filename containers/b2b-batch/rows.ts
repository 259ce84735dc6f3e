import { parse, CsvError } from 'csv-parse';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { BatchSource } from '../../core/domain/batches';

/**
 * The rows of a batch source, streamed (a file of any size is read with bounded memory), each
 * with the line it starts on so a client can find it. A row that cannot be read becomes a
 * row with an error; the file goes on.
 *
 * CSV: a header line names the fields; values are trimmed; quotes inside unquoted fields are tolerated
 * (`relax_quotes`) so one stray quote costs one row, not the rest of the file.
 * JSON Lines: one JSON object of strings per line.
 * JSON: the gateway's `BatchSource` envelope (`{v:1, …, rows:[…]}`, at most MAX_BATCH_ROWS
 * rows, so read whole); row i is reported as line i + 1.
 */
export type SourceFormat = 'csv' | 'jsonl' | 'json';

/** The file itself is unusable (not the envelope it claims to be): the batch fails, with this message. */
export class UnreadableSource extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnreadableSource';
  }
}

const MAX_JSON_SOURCE_BYTES = 32 * 1024 * 1024;

export interface SourceRow {
  /** 1-based line of the file where the row starts. */
  line: number;
  fields?: Record<string, string>;
  /** Why the row could not be read (its fields are then absent). */
  error?: string;
}

export function formatOfKey(key: string): SourceFormat | undefined {
  if (/\.csv$/i.test(key)) return 'csv';
  if (/\.(jsonl|ndjson)$/i.test(key)) return 'jsonl';
  if (/\.json$/i.test(key)) return 'json';
  return undefined;
}

export function readRows(source: Readable, format: SourceFormat): AsyncGenerator<SourceRow> {
  if (format === 'csv') return readCsv(source);
  if (format === 'jsonl') return readJsonLines(source);
  return readEnvelope(source);
}

const newlines = (s: string): number => (s.match(/\n/g) ?? []).length;

async function* readCsv(source: Readable): AsyncGenerator<SourceRow> {
  // Parse errors arrive through on_skip while records are still buffered: merge them by line.
  const skipped: SourceRow[] = [];
  const parser = source.pipe(
    parse({
      bom: true,
      info: true,
      skip_empty_lines: true,
      relax_quotes: true,
      relax_column_count: true,
      skip_records_with_error: true,
      on_skip: (err: CsvError | undefined) => {
        skipped.push({ line: Number(err?.lines ?? 0), error: `unreadable CSV: ${err?.message.replace(/ at line \d+.*$/, '') ?? 'malformed record'}` });
        return undefined;
      },
    }),
  );
  source.on('error', (err) => parser.destroy(err));
  let header: string[] | undefined;
  for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
    const line = info.lines - record.reduce((n, f) => n + newlines(f), 0);
    while (skipped.length > 0 && skipped[0].line < line) yield skipped.shift()!;
    if (!header) {
      header = record.map((name) => name.trim());
      continue;
    }
    if (record.length !== header.length) {
      yield { line, error: `expected ${header.length} fields (${header.join(', ')}), got ${record.length}` };
      continue;
    }
    const fields: Record<string, string> = {};
    header.forEach((name, i) => (fields[name] = record[i].trim()));
    yield { line, fields };
  }
  yield* skipped;
}

async function* readJsonLines(source: Readable): AsyncGenerator<SourceRow> {
  const lines = createInterface({ input: source, crlfDelay: Infinity });
  let line = 0;
  for await (const text of lines) {
    line += 1;
    const trimmed = (line === 1 ? text.replace(/^\uFEFF/, '') : text).trim();
    if (trimmed === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(trimmed);
    } catch (err) {
      yield { line, error: `invalid JSON: ${(err as Error).message}` };
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      yield { line, error: 'must be a JSON object' };
      continue;
    }
    const bad = Object.entries(value).find(([, v]) => typeof v !== 'string');
    if (bad) {
      yield { line, error: `field ${bad[0]} must be a string` };
      continue;
    }
    yield { line, fields: value as Record<string, string> };
  }
}

async function* readEnvelope(source: Readable): AsyncGenerator<SourceRow> {
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
  const parsed = BatchSource.safeParse(value);
  if (!parsed.success) throw new UnreadableSource(`JSON source is not a batch source: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  let line = 0;
  for (const fields of parsed.data.rows) yield { line: ++line, fields };
}
