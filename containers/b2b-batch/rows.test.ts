import { Readable } from 'node:stream';
import { readRows, formatOfKey, SourceRow } from './rows';

async function collect(text: string, format: 'csv' | 'jsonl', chunkSize = 7): Promise<SourceRow[]> {
  // Small chunks: rows and quoted fields straddle chunk boundaries, as they do in an S3 stream.
  const chunks: string[] = [];
  for (let i = 0; i < text.length; i += chunkSize) chunks.push(text.slice(i, i + chunkSize));
  const out: SourceRow[] = [];
  for await (const row of readRows(Readable.from(chunks), format)) out.push(row);
  return out;
}

describe('batch source rows', () => {
  test('CSV rows carry the line they start on, multi-line quoted fields included', async () => {
    const rows = await collect('\uFEFFcompany,sector\nAcme,retail\n\n"Multi\nline",tech\nZed,energy\n', 'csv');
    expect(rows).toEqual([
      { line: 2, fields: { company: 'Acme', sector: 'retail' } },
      { line: 4, fields: { company: 'Multi\nline', sector: 'tech' } },
      { line: 6, fields: { company: 'Zed', sector: 'energy' } },
    ]);
  });

  test('a CSV row with the wrong field count or a stray quote fails alone; the rows after it are read', async () => {
    const rows = await collect('company, sector\nOnly\n"Bad"x,foo\nGood,ok\n', 'csv');
    expect(rows[0]).toEqual({ line: 2, error: 'expected 2 fields (company, sector), got 1' });
    expect(rows[1]).toEqual({ line: 3, fields: { company: '"Bad"x', sector: 'foo' } });
    expect(rows[2]).toEqual({ line: 4, fields: { company: 'Good', sector: 'ok' } });
  });

  test('an unclosed quote is reported with its line', async () => {
    const rows = await collect('company,sector\nA,b\nZed,"unclosed\nNext,ok\n', 'csv');
    expect(rows[0]).toEqual({ line: 2, fields: { company: 'A', sector: 'b' } });
    expect(rows[1].error).toMatch(/^unreadable CSV: Quote Not Closed/);
    expect(rows).toHaveLength(2);
  });

  test('JSON Lines: bad JSON, non-objects and non-string values are row errors with their line', async () => {
    const rows = await collect('{"company":"A","sector":"b"}\n\n{oops\n[1]\n{"company":3}\n{"company":"Z","sector":"y"}', 'jsonl');
    expect(rows.map((r) => [r.line, r.error ?? r.fields])).toEqual([
      [1, { company: 'A', sector: 'b' }],
      [3, expect.stringMatching(/^invalid JSON/)],
      [4, 'must be a JSON object'],
      [5, 'field company must be a string'],
      [6, { company: 'Z', sector: 'y' }],
    ]);
  });

  test('the format follows the source key', () => {
    expect(formatOfKey('c/b/source.csv')).toBe('csv');
    expect(formatOfKey('c/b/source.jsonl')).toBe('jsonl');
    expect(formatOfKey('c/b/source.xlsx')).toBeUndefined();
  });
});
