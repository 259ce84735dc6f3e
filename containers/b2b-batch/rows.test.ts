import { Readable } from 'node:stream';
import { readRows, SourceRow, UnreadableSource } from './rows';

const BATCH = { v: 1, batchId: '6f1c1d1e-0000-4000-8000-0000000000b1', clientId: '6f1c1d1e-0000-4000-8000-0000000000c1', themeId: '6f1c1d1e-0000-4000-8000-0000000000e1' };

async function collect(text: string, chunkSize = 7): Promise<SourceRow[]> {
  // Small chunks: the envelope arrives in pieces, as it does in an S3 stream.
  const chunks: Buffer[] = [];
  for (let i = 0; i < text.length; i += chunkSize) chunks.push(Buffer.from(text.slice(i, i + chunkSize)));
  const out: SourceRow[] = [];
  for await (const row of readRows(Readable.from(chunks))) out.push(row);
  return out;
}

describe('batch source rows', () => {
  test("the gateway's envelope: row i is line i + 1", async () => {
    const rows = [{ company: 'Acme', sector: 'retail' }, { company: 'Multi\nline', sector: 'tech' }];
    expect(await collect(JSON.stringify({ ...BATCH, rows }))).toEqual([
      { line: 1, fields: rows[0] },
      { line: 2, fields: rows[1] },
    ]);
  });

  test('a row that is not text fields is given as it stands (the handler rejects it alone), not a reason to refuse the source', async () => {
    const rows = [{ company: 3 }, null, 'Acme', { company: 'Acme' }];
    expect(await collect(JSON.stringify({ ...BATCH, rows }))).toEqual(rows.map((fields, i) => ({ line: i + 1, fields })));
  });

  test.each([
    ['not JSON', '{"v":1,', /^JSON source is not JSON/],
    ['not a batch source', JSON.stringify({ ...BATCH, v: 2, rows: [{ company: 'Acme' }] }), /^JSON source is not a batch source/],
    ['an envelope without rows', JSON.stringify({ ...BATCH, rows: [] }), /^JSON source is not a batch source/],
  ])('a source that is %s is unreadable as a whole', async (_what, text, message) => {
    const read = collect(text);
    await expect(read).rejects.toBeInstanceOf(UnreadableSource);
    await expect(read).rejects.toThrow(message);
  });
});
