import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { createLogger } from '../../core/logger';
import { PdfRenderer } from '../../containers/doc-generation/render/browser';
import { DocumentInput, OutputFormat, renderDocument } from '../../containers/doc-generation/render/document';

/**
 * Generated text (the model's answer, which may quote the client's input) is untrusted: no
 * renderer may put into a document a byte that is not in the order's own text. The canaries:
 * a file with a secret, the worker's environment (`/proc/self/environ`, where the AWS keys
 * live) and a local HTTP server standing in for the S3 emulator and the task-role credentials
 * endpoint; it counts every request, and no renderer may send it any.
 */

const logger = createLogger({ test: 'untrusted-text' }, 'error', () => undefined);
const secret = (label: string): string => `${label}-${randomBytes(12).toString('hex')}`;

/** Every part of a zip (a DOCX), inflated: a tiny reader, stored and deflated entries only. */
function unzip(zip: Buffer): Map<string, Buffer> {
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) throw new Error('not a zip: no end of central directory');
  const entries = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  const parts = new Map<string, Buffer>();
  for (let i = 0; i < entries; i++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error(`bad central directory entry at ${at}`);
    const method = zip.readUInt16LE(at + 10);
    const compressed = zip.readUInt32LE(at + 20);
    const [nameLen, extraLen, commentLen] = [zip.readUInt16LE(at + 28), zip.readUInt16LE(at + 30), zip.readUInt16LE(at + 32)];
    const local = zip.readUInt32LE(at + 42);
    const name = zip.toString('utf8', at + 46, at + 46 + nameLen);
    const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const data = zip.subarray(start, start + compressed);
    if (method === 0) parts.set(name, data);
    else if (method === 8) parts.set(name, inflateRawSync(data));
    else throw new Error(`zip method ${method} of ${name}`);
    at += 46 + nameLen + extraLen + commentLen;
  }
  return parts;
}

function pdfText(pdf: Buffer): string {
  const dir = mkdtempSync(join(tmpdir(), 'pdf-'));
  try {
    writeFileSync(join(dir, 'doc.pdf'), pdf);
    return execFileSync('pdftotext', [join(dir, 'doc.pdf'), '-'], { encoding: 'utf8' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** What a reader of the document can see: every byte, plus the text (PDF) or the parts (DOCX) decoded. */
function readable(format: OutputFormat, body: Buffer): string {
  if (format === 'pdf') return `${body.toString('latin1')}\n${pdfText(body)}`;
  if (format === 'docx') return [body.toString('latin1'), ...[...unzip(body).entries()].map(([name, data]) => `${name}\n${data.toString('utf8')}`)].join('\n');
  return body.toString('utf8');
}

interface Canaries {
  /** Content of a local file: must never reach a document. */
  file: string;
  filePath: string;
  /**
   * Entries of this process's environment, which every renderer's process inherits (its
   * /proc/self/environ). Read from /proc: jest hands tests a copy of `process.env`, so a
   * variable set here would not reach a child.
   */
  env: string[];
  /** The answer of the local server. */
  http: string;
  url: string;
  hits: string[];
}

describe('generated text cannot pull files or URLs into a document (real Pandoc and Chromium)', () => {
  let dir: string;
  let server: Server;
  let pdf: PdfRenderer;
  const c: Canaries = { file: secret('FILE-SECRET'), filePath: '', env: [], http: secret('HTTP-SECRET'), url: '', hits: [] };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'canary-'));
    c.filePath = join(dir, 'secret.txt');
    writeFileSync(c.filePath, `${c.file}\n`);
    c.env = readFileSync('/proc/self/environ', 'utf8').split('\0').filter((entry) => entry.length >= 16);
    expect(c.env.length).toBeGreaterThan(0);
    server = createServer((req, res) => {
      c.hits.push(`${req.method} ${req.url}`);
      res.writeHead(200, { 'content-type': 'image/png' }).end(c.http);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    c.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    pdf = new PdfRenderer({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', maxConcurrentPages: 2, recycleAfter: 100, logger });
  });
  afterAll(async () => {
    await pdf.close();
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  const render = (format: OutputFormat, markdown: string, themeTitle = 'Cover letter') =>
    renderDocument({ format, themeSlug: 'cover-letter', themeTitle, orderId: 'o-canary', markdown } satisfies DocumentInput, pdf);

  /** Everything that must stay out, in one value, so a failure shows every leak at once. */
  const leaks = (format: OutputFormat, body: Buffer) => {
    const seen = readable(format, body);
    return {
      fileSecret: seen.includes(c.file),
      environEntries: c.env.filter((entry) => seen.includes(entry)).length,
      httpSecret: seen.includes(c.http),
      serverHits: [...c.hits],
      mediaParts: format === 'docx' ? [...unzip(body).keys()].filter((n) => n.startsWith('word/media/')) : [],
    };
  };
  const NONE = { fileSecret: false, environEntries: 0, httpSecret: false, serverHits: [], mediaParts: [] };
  beforeEach(() => {
    c.hits.length = 0;
  });

  test('DOCX: images of /proc/self/environ, of a local file and of a local URL become their alt text; nothing is read or fetched', async () => {
    const markdown = `# Letter\n\nDear Sir,\n\n![env-alt](/proc/self/environ)\n\n![file-alt](${c.filePath})\n\n![url-alt](${c.url}/)\n\nYours.\n`;
    const doc = await render('docx', markdown);
    expect(leaks('docx', doc.body)).toEqual(NONE);
    const text = unzip(doc.body).get('word/document.xml')!.toString('utf8');
    for (const kept of ['Dear Sir,', 'env-alt', 'file-alt', 'url-alt', 'Yours.']) expect(text).toContain(kept);
  });

  test('DOCX: the other Pandoc inclusion vectors stay inert (metadata, reference images, TeX includes, raw OpenXML and HTML, the title)', async () => {
    const markdown = [
      `---\ntitle: "![meta-alt](${c.filePath})"\nabstract: "![abs-alt](${c.url}/abstract)"\n---`,
      `Reference image ![ref-alt][r] and link [ok][r].\n\n[r]: ${c.filePath}`,
      `\\include{${c.filePath.replace(/\.txt$/, '')}}\n\n\\input{${c.filePath}}\n\n\\includegraphics{${c.filePath}}`,
      '```{=openxml}\n<w:p><w:r><w:t>RAW-OPENXML</w:t></w:r></w:p>\n```',
      'Inline `<w:r><w:t>RAW-INLINE</w:t></w:r>`{=openxml} raw.',
      `<img src="${c.url}/img"> <iframe src="file://${c.filePath}"></iframe>`,
      `![file-url](file://${c.filePath}) ![rel](${relative(process.cwd(), c.filePath)}) ![sized](${c.url}/s.png){width=2in}`,
      `<${c.url}/autolink> [plain link](${c.url}/link)`,
      `## Heading ![h-alt](${c.filePath})\n\n| cell |\n|---|\n| ![cell-alt](${c.url}/cell) |\n\nNote[^n] and [![nested-alt](${c.filePath})](${c.url}/wrap).\n\n[^n]: ![note-alt](/proc/self/environ)`,
    ].join('\n\n');
    const doc = await render('docx', markdown, `![title-alt](${c.filePath})`);
    expect(leaks('docx', doc.body)).toEqual(NONE);
    const xml = unzip(doc.body).get('word/document.xml')!.toString('utf8');
    expect(xml).not.toContain('<w:t>RAW-OPENXML</w:t>');
    expect(xml).not.toContain('<w:t>RAW-INLINE</w:t>');
    for (const kept of ['Reference image', 'ref-alt', 'RAW-OPENXML', 'plain link', 'h-alt', 'cell-alt', 'nested-alt']) expect(xml).toContain(kept);
    expect(unzip(doc.body).get('word/footnotes.xml')!.toString('utf8')).toContain('note-alt');
  });

  describe('property: for any input and model answer, every renderer keeps the canaries out', () => {
    /** Built when a test runs: the canary paths and the server's port exist only after beforeAll. */
    const arbitraries = () => {
      const target = fc.constantFrom(
        c.filePath,
        `file://${c.filePath}`,
        relative(process.cwd(), c.filePath),
        '/proc/self/environ',
        'file:///proc/self/environ',
        `${c.url}/`,
        `${c.url}/latest/meta-data/iam`,
        `http://localhost:${new URL(c.url).port}/v2/credentials`,
        `//127.0.0.1:${new URL(c.url).port}/x.png`,
      );
      const text = fc.oneof(fc.string({ maxLength: 30 }), fc.string({ unit: 'grapheme', maxLength: 20 }), fc.constantFrom('# Title', '- item', '> quote', '| a | b |\n|---|---|\n| 1 | 2 |', '```\ncode\n```', '---'));
      const embed = fc.tuple(fc.string({ maxLength: 8 }), target).chain(([alt, t]) =>
        fc.constantFrom(
          `![${alt}](${t})`,
          `![${alt}](${t} "t")`,
          `![${alt}](<${t}>){width=1in}`,
          `![${alt}][r]\n\n[r]: ${t}`,
          `[${alt}](${t})`,
          `<${t}>`,
          t,
          `<img src="${t}">`,
          `<link rel="stylesheet" href="${t}"><style>@import url(${t}); body{background:url(${t})}</style>`,
          `<iframe src="${t}"></iframe><object data="${t}"></object><svg><image href="${t}"/></svg>`,
          `\`<img src="${t}">\`{=html}`,
          `\`\`\`{=openxml}\n<w:p><w:hyperlink r:id="${t}"/></w:p>\n\`\`\``,
          `\\include{${t}}\n\n\\includegraphics{${t}}`,
          `---\ntitle: "![${alt}](${t})"\n---`,
        ),
      );
      const answer = fc.array(fc.oneof(text, embed), { minLength: 1, maxLength: 8 });
      const input = fc.dictionary(fc.constantFrom('name', 'company', 'position'), fc.oneof(text, embed), { maxKeys: 3 });
      const sep = fc.constantFrom('', ' ', '\n', '\n\n');
      /** The model's Markdown: its own pieces and, as a model may, the client's input quoted verbatim. */
      const markdown = fc.tuple(answer, input, sep).map(([parts, fields, s]) => [...parts, ...Object.values(fields)].join(s) || 'x');
      return { markdown, title: fc.oneof(fc.constant('Cover letter'), embed) };
    };

    const property = (format: OutputFormat, numRuns: number) => {
      const { markdown, title } = arbitraries();
      return fc.assert(
        fc.asyncProperty(markdown, title, async (md, themeTitle) => {
          c.hits.length = 0;
          const doc = await render(format, md, themeTitle);
          expect(leaks(format, doc.body)).toEqual(NONE);
        }),
        { numRuns },
      );
    };

    test('HTML', () => property('html', 100));
    test('DOCX (Pandoc)', () => property('docx', 30));
    test('PDF (Chromium)', () => property('pdf', 20));
  });
});
