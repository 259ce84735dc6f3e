import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../core/logger';
import { PdfRenderer } from '../../containers/doc-generation/render/browser';
import { renderDocument } from '../../containers/doc-generation/render/document';
import { DocumentTooDeep, markdownToDocx, MAX_AST_DEPTH, MAX_MARKDOWN_NESTING, runPandoc, PandocError } from '../../containers/doc-generation/render/pandoc';

const logger = createLogger({ test: 'render' }, 'error', () => undefined);
const MARKDOWN = '# Market overview\n\nDemand for *solar roofs* grows 12% a year.\n\n## Risks\n\n- supply chains\n- interest rates\n\n<img src="http://169.254.169.254/latest/meta-data/">\n';

const collapse = (s: string): string => s.replace(/\s+/g, ' ').trim();

function pdfText(pdf: Buffer): string {
  const dir = mkdtempSync(join(tmpdir(), 'pdf-'));
  try {
    writeFileSync(join(dir, 'doc.pdf'), pdf);
    return execFileSync('pdftotext', ['-layout', join(dir, 'doc.pdf'), '-'], { encoding: 'utf8' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Chromium processes started by this test process (never anyone else's). */
function ourChromiumPids(): number[] {
  const out = execFileSync('ps', ['-eo', 'pid,ppid,comm'], { encoding: 'utf8' });
  const rows = out.trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/));
  const children = new Map<number, number[]>();
  for (const [pid, ppid] of rows) children.set(Number(ppid), [...(children.get(Number(ppid)) ?? []), Number(pid)]);
  const mine: number[] = [];
  const walk = (pid: number): void => {
    for (const c of children.get(pid) ?? []) {
      mine.push(c);
      walk(c);
    }
  };
  walk(process.pid);
  return mine.filter((pid) => rows.find((r) => Number(r[0]) === pid)?.[2]?.startsWith('chrom'));
}

function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone with its parent.
    }
  }
}

describe('document rendering (real Chromium and Pandoc)', () => {
  let pdf: PdfRenderer;
  beforeEach(() => {
    pdf = new PdfRenderer({ executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', maxConcurrentPages: 2, recycleAfter: 100, logger });
  });
  afterEach(() => pdf.close());

  test('a themed PDF holds the theme title and the content; raw HTML stays text', async () => {
    const doc = await renderDocument({ format: 'pdf', themeSlug: 'market-study', themeTitle: 'Market study', orderId: 'o-1', markdown: MARKDOWN }, pdf);
    expect(doc.body.subarray(0, 5).toString()).toBe('%PDF-');
    const text = collapse(pdfText(doc.body));
    expect(text).toContain('Market study');
    expect(text).toContain('Demand for solar roofs grows 12% a year.');
    expect(text).toContain('supply chains');
    expect(text).toContain('<img src=');
  });

  test('every page of a PDF carries its number and the page count in the running footer', async () => {
    const markdown = Array.from({ length: 60 }, (_, i) => `## Section ${i + 1}\n\nSolar roofs keep growing, year after year, in every region studied.\n`).join('\n');
    const doc = await renderDocument({ format: 'pdf', themeSlug: 'market-study', themeTitle: 'Market study', orderId: 'o-2', markdown }, pdf);
    const dir = mkdtempSync(join(tmpdir(), 'pdf-'));
    try {
      writeFileSync(join(dir, 'doc.pdf'), doc.body);
      const pages = Number(/Pages:\s+(\d+)/.exec(execFileSync('pdfinfo', [join(dir, 'doc.pdf')], { encoding: 'utf8' }))?.[1]);
      expect(pages).toBeGreaterThanOrEqual(3);
      for (let page = 1; page <= pages; page++) {
        const text = collapse(execFileSync('pdftotext', ['-layout', '-f', String(page), '-l', String(page), join(dir, 'doc.pdf'), '-'], { encoding: 'utf8' }));
        // pdftotext reads the footer's spaced slash as '2/6' or '2 / 6', by version.
        expect(text).toMatch(new RegExp(`(^|\\s)${page}\\s*/\\s*${pages}$`));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the renderer fetches nothing: images, stylesheets and links in a page stay unfetched', async () => {
    let hits = 0;
    const server = createServer((_req, res) => {
      hits += 1;
      res.end('x');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const html = `<link rel="stylesheet" href="${base}/s.css"><style>body{background:url(${base}/bg.png)}</style><p>Pixel</p><img src="${base}/p.png"><iframe src="${base}/f"></iframe>`;
      expect(collapse(pdfText(await pdf.render(html)))).toContain('Pixel');
      expect(hits).toBe(0);
    } finally {
      server.close();
    }
  });

  test('generated Markdown cannot carry remote images into a document', async () => {
    const doc = await renderDocument({ format: 'html', themeSlug: 'x', themeTitle: 'T', orderId: 'o-5', markdown: '![px](http://tracker.example/p.png)\n\n[ok](https://example.com) [bad](javascript:alert(1))' }, pdf);
    const html = doc.body.toString();
    expect(html).not.toContain('<img');
    expect(html).toContain('<a href="https://example.com">ok</a>');
    expect(html).not.toContain('href="javascript:');
  });

  test('a DOCX converts back (pandoc docx → plain) to the same text as its Markdown', async () => {
    const doc = await renderDocument({ format: 'docx', themeSlug: 'cover-letter', themeTitle: 'Cover letter', orderId: 'o-2', markdown: MARKDOWN }, pdf);
    const back = (await runPandoc(['-f', 'docx', '-t', 'plain', '--wrap=none'], doc.body)).toString();
    const direct = (await runPandoc(['-f', 'markdown-raw_html-raw_attribute', '-t', 'plain', '--wrap=none'], MARKDOWN)).toString();
    expect(back.trim()).toBe(direct.trim());
    const titled = (await runPandoc(['-s', '-f', 'docx', '-t', 'plain'], doc.body)).toString();
    expect(titled.split('\n')[0]).toBe('Cover letter');
  });

  test('an HTML document is the themed page, with generated markup escaped', async () => {
    const doc = await renderDocument({ format: 'html', themeSlug: 'product-sheet', themeTitle: 'Product <sheet>', orderId: 'o-3', markdown: MARKDOWN }, pdf);
    const html = doc.body.toString();
    expect(doc.contentType).toMatch(/^text\/html/);
    expect(html).toContain('<h1>Product &lt;sheet&gt;</h1>');
    expect(html).toContain('&lt;img src=');
    expect(html).not.toContain('<img');
  });

  test('two tabs rendering at once run in two renderer processes and no other (no WebUI renderer of the browser window)', async () => {
    await Promise.all([pdf.render('<p>one</p>'), pdf.render('<p>two</p>')]);
    const renderers = ourChromiumPids().flatMap((pid) => {
      try {
        // Zygote-forked processes rewrite their command line as one space-separated string.
        const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split(/[\0 ]/);
        return args.includes('--type=renderer') ? [args] : [];
      } catch {
        return []; // Gone since it was listed.
      }
    });
    // Without WebUIOmniboxPopup/WebUIOmniboxAimPopup off, each tab's window adds omnibox popup renderers (--top-chrome-webui).
    expect(renderers.filter((args) => args.includes('--top-chrome-webui'))).toEqual([]);
    expect(renderers).toHaveLength(2);
  });

  test('a browser killed between jobs is replaced, and the next job renders', async () => {
    await pdf.render('<p>first</p>');
    const pids = ourChromiumPids();
    expect(pids.length).toBeGreaterThan(0);
    killAll(pids);
    const out = await pdf.render('<p>second</p>');
    expect(collapse(pdfText(out))).toBe('second');
    expect(pdf.launches).toBe(2);
  });

  test('a browser killed during a render: the job in hand is rendered again on a new browser', async () => {
    await pdf.render('<p>warm up</p>');
    const big = `<p>${'long text '.repeat(20000)}</p>`;
    const rendering = pdf.render(big);
    await new Promise((r) => setTimeout(r, 60));
    killAll(ourChromiumPids());
    const out = await rendering;
    expect(out.subarray(0, 5).toString()).toBe('%PDF-');
    expect(pdf.launches).toBe(2);
  });

  test('a tab serves one document after another: 6 documents 2 at a time open 2 tabs, and each PDF holds its own text only', async () => {
    const outs = await Promise.all(Array.from({ length: 6 }, (_, i) => pdf.render(`<h1>document ${i}</h1><p>${'only mine '.repeat(i + 1)}</p>`)));
    expect(outs.map((o) => collapse(pdfText(o)))).toEqual(Array.from({ length: 6 }, (_, i) => `document ${i} ${'only mine '.repeat(i + 1).trim()}`));
    expect(pdf.tabsOpened).toBe(2);
    expect(pdf.launches).toBe(1);
  });

  test('a tab whose render failed is closed, not reused: the next document gets a new tab on the same browser', async () => {
    const opts = { executablePath: '/usr/bin/chromium', maxConcurrentPages: 1, recycleAfter: 100, renderTimeoutMs: 1000, logger };
    const strict = new PdfRenderer(opts);
    try {
      // 15 MB of text, thousands of pages: far past the 1 s a step may take here.
      await expect(strict.render(`<p>${'long text '.repeat(1_500_000)}</p>`)).rejects.toThrow(/Timeout/);
      // A tab takes its step timeout when it opens: only a new tab renders with this one.
      opts.renderTimeoutMs = 30_000;
      expect(collapse(pdfText(await strict.render('<p>next</p>')))).toBe('next');
      expect(strict.tabsOpened).toBe(2);
      expect(strict.launches).toBe(1);
    } finally {
      await strict.close();
    }
  });

  test('a print that outlasts the render timeout fails at the timeout instead of holding its page for ever; the next document renders', async () => {
    const strict = new PdfRenderer({ executablePath: '/usr/bin/chromium', maxConcurrentPages: 1, recycleAfter: 100, renderTimeoutMs: 1000, logger });
    try {
      // Loads in tens of milliseconds, prints for tens of seconds (a filter on each of 500 pages):
      // only page.pdf() runs past the timeout, and Playwright gives it none of its own.
      const html = `<style>div{page-break-after:always;filter:blur(3px);box-shadow:0 0 40px #000}</style>${Array.from({ length: 500 }, (_, i) => `<div>page ${i}</div>`).join('')}`;
      const started = Date.now();
      await expect(strict.render(html)).rejects.toThrow(/Timeout/);
      expect(Date.now() - started).toBeLessThan(8_000);
      expect(collapse(pdfText(await strict.render('<p>next</p>')))).toBe('next');
      expect(strict.launches).toBe(1);
    } finally {
      await strict.close();
    }
  });

  test('a browser that hangs (stopped) is killed when it does not close in time, instead of holding close() and its processes for ever', async () => {
    const strict = new PdfRenderer({ executablePath: '/usr/bin/chromium', maxConcurrentPages: 1, recycleAfter: 100, renderTimeoutMs: 1000, logger });
    await strict.render('<p>one</p>');
    const before = ourChromiumPids();
    // The browser process itself: the one Chromium whose parent is this process.
    const ps = execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(process.pid)], { encoding: 'utf8' });
    const browserPid = Number(ps.split('\n').map((l) => l.trim().split(/\s+/)).find(([, comm]) => comm?.startsWith('chrom'))?.[0]);
    expect(before).toContain(browserPid);
    process.kill(browserPid, 'SIGSTOP');
    try {
      const started = Date.now();
      const closed = await Promise.race([strict.close().then(() => 'closed'), new Promise((r) => setTimeout(() => r('still closing after 10 s'), 10_000))]);
      expect(closed).toBe('closed');
      expect(Date.now() - started).toBeLessThan(5_000);
      const end = Date.now() + 5_000;
      while (ourChromiumPids().some((pid) => before.includes(pid)) && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
      expect(ourChromiumPids().filter((pid) => before.includes(pid))).toEqual([]);
    } finally {
      killAll(before);
    }
  });

  test('a hung browser that cannot open a tab in time is replaced, and the job renders on a new one', async () => {
    const strict = new PdfRenderer({ executablePath: '/usr/bin/chromium', maxConcurrentPages: 2, recycleAfter: 100, renderTimeoutMs: 1000, logger });
    const before: number[] = [];
    try {
      await strict.render('<p>warm up</p>');
      before.push(...ourChromiumPids());
      const ps = execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(process.pid)], { encoding: 'utf8' });
      const browserPid = Number(ps.split('\n').map((l) => l.trim().split(/\s+/)).find(([, comm]) => comm?.startsWith('chrom'))?.[0]);
      process.kill(browserPid, 'SIGSTOP');
      const started = Date.now();
      // Two at once: one takes the idle tab (its step times out), the other must open a tab.
      const both = Promise.allSettled([strict.render('<p>idle tab</p>'), strict.render('<p>new tab</p>')]);
      const outcome = await Promise.race([both, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 15_000))]);
      expect(outcome).not.toBe('hung');
      const [idle, fresh] = outcome as PromiseSettledResult<Buffer>[];
      expect(idle).toMatchObject({ status: 'rejected', reason: expect.objectContaining({ message: expect.stringMatching(/Timeout/) }) });
      expect(fresh.status).toBe('fulfilled');
      expect(collapse(pdfText((fresh as PromiseFulfilledResult<Buffer>).value))).toBe('new tab');
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(strict.launches).toBe(2);
    } finally {
      await strict.close();
      killAll(before);
    }
  });

  test('SIGTERM leaves the browser to the worker: the drain renders on the same browser', async () => {
    const script = `
      const { PdfRenderer } = require(${JSON.stringify(join(__dirname, '../../containers/doc-generation/render/browser.ts'))});
      const { createLogger } = require(${JSON.stringify(join(__dirname, '../../core/logger.ts'))});
      const pdf = new PdfRenderer({ executablePath: '/usr/bin/chromium', maxConcurrentPages: 1, recycleAfter: 100, logger: createLogger({}, 'error', () => undefined) });
      process.on('SIGTERM', async () => {
        const out = await pdf.render('<p>drained</p>');
        process.stdout.write(JSON.stringify({ pdf: out.subarray(0, 5).toString(), launches: pdf.launches }));
        await pdf.close();
        process.exit(0);
      });
      pdf.render('<p>before</p>').then(() => process.kill(process.pid, 'SIGTERM'));
    `;
    const out = execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: join(__dirname, '..', '..'), encoding: 'utf8', timeout: 60_000 });
    expect(JSON.parse(out)).toEqual({ pdf: '%PDF-', launches: 1 });
  });

  test('the renderer keeps no document it returned: 20 PDFs of one tab are all collectable before the browser is recycled', () => {
    const script = `
      const { PdfRenderer } = require(${JSON.stringify(join(__dirname, '../../containers/doc-generation/render/browser.ts'))});
      const { createLogger } = require(${JSON.stringify(join(__dirname, '../../core/logger.ts'))});
      (async () => {
        const pdf = new PdfRenderer({ executablePath: '/usr/bin/chromium', maxConcurrentPages: 1, recycleAfter: 100, logger: createLogger({}, 'error', () => undefined) });
        const refs = [];
        for (let i = 0; i < 20; i++) refs.push(new WeakRef(await pdf.render('<p>document ' + i + '</p>')));
        for (let i = 0; i < 3; i++) {
          await new Promise((r) => setTimeout(r, 50));
          global.gc();
        }
        process.stdout.write(JSON.stringify({ retained: refs.filter((r) => r.deref() !== undefined).length, launches: pdf.launches }));
        await pdf.close();
      })();
    `;
    const out = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', '-e', script], { cwd: join(__dirname, '..', '..'), encoding: 'utf8', timeout: 60_000 });
    // Before, each step's race against the browser's and the tab's lifetime promises held its result until the browser went.
    expect(JSON.parse(out)).toEqual({ retained: 0, launches: 1 });
  });

  test('the browser is recycled every N documents without losing any job in flight', async () => {
    const recycled = new PdfRenderer({ executablePath: '/usr/bin/chromium', maxConcurrentPages: 2, recycleAfter: 3, logger });
    try {
      const outs = await Promise.all(Array.from({ length: 8 }, (_, i) => recycled.render(`<p>doc ${i}</p>`)));
      expect(outs.map((o) => collapse(pdfText(o)))).toEqual(Array.from({ length: 8 }, (_, i) => `doc ${i}`));
      expect(recycled.launches).toBe(3);
    } finally {
      await recycled.close();
    }
  });

  test('a document still waiting for a page when the renderer closes is refused, and starts no browser after the close', async () => {
    const closing = new PdfRenderer({ executablePath: '/usr/bin/chromium', maxConcurrentPages: 1, recycleAfter: 100, logger });
    const first = closing.render('<p>in hand</p>');
    const waiting = closing.render('<p>waiting</p>').then(
      () => 'rendered',
      (err: Error) => err.message,
    );
    // The first holds the one page (its browser starting) when the renderer closes.
    while (closing.launches === 0) await new Promise((r) => setTimeout(r, 5));
    await closing.close();
    expect(collapse(pdfText(await first))).toBe('in hand');
    // Before: it launched a second browser, which nothing closed any more.
    expect(await waiting).toBe('PDF renderer is closed');
    expect(closing.launches).toBe(1);
  });

  test('pandoc runs without a shell, and a stuck pandoc is killed at the timeout', async () => {
    const literal = (await runPandoc(['-f', 'markdown', '-t', 'plain'], '$(touch /tmp/pwned) `id`; rm -rf x')).toString();
    expect(literal).toContain('$(touch /tmp/pwned)');
    // `pandoc` reading from a pipe that never closes would wait forever: the timeout kills it.
    await expect(runPandoc(['-f', 'markdown', '-t', 'plain', '/dev/stdin', '/dev/zero'], '', { timeoutMs: 500 })).rejects.toThrow(PandocError);
  });

  test('a pandoc killed from outside (the OOM killer) is reported as killed, not as timed out; a timed-out one as timed out', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'pandoc-spin-'));
    try {
      // A filter that never returns: pandoc runs, using no memory, until it is killed.
      const spin = join(dir, 'spin.lua');
      writeFileSync(spin, 'while true do end\n');
      const args = ['-f', 'markdown', '-t', 'plain', '--lua-filter', spin];
      const started = Date.now();
      const run = runPandoc(args, 'text', { timeoutMs: 20_000 });
      let pid: number | undefined;
      while (pid === undefined && Date.now() - started < 5_000) {
        await new Promise((r) => setTimeout(r, 50));
        pid = execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(process.pid)], { encoding: 'utf8' })
          .split('\n')
          .map((l) => l.trim().split(/\s+/))
          .find(([, comm]) => comm === 'pandoc')
          ?.map(Number)[0];
      }
      expect(pid).toBeDefined();
      process.kill(pid!, 'SIGKILL');
      const err = (await run.catch((e: unknown) => e)) as Error;
      expect(err).toBeInstanceOf(PandocError);
      expect(err.message).toBe('pandoc was killed by SIGKILL');
      expect(Date.now() - started).toBeLessThan(10_000);
      await expect(runPandoc(args, 'text', { timeoutMs: 500 })).rejects.toThrow('pandoc timed out after 500 ms (killed)');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('deeply nested generated text (a prompt injection away): refused at once as DocumentTooDeep, a permanent 422', () => {
    // Each overflowed the stack of the AST walk or JSON.stringify (a RangeError, retried as transient), or held Pandoc's reader past its timeout.
    const nested: Record<string, string> = {
      '5,000 nested quotes (10 KB)': `${'> '.repeat(5000)}deep`,
      'quotes and lists on one line': `${'> - 1. '.repeat(20)}deep`,
      '20 nested links': `${'['.repeat(20)}x${'](u)'.repeat(20)}`,
      '30 unclosed brackets': `${'['.repeat(30)}x`,
      '3,000 nested emphases': `${'*a _b '.repeat(1500)}x${'_ c* d'.repeat(1500)}`,
      '150 nested lists, one level per line': Array.from({ length: 150 }, (_, i) => `${' '.repeat(2 * i)}- level ${i}`).join('\n'),
    };
    test.each(Object.keys(nested))('%s', async (name) => {
      const started = Date.now();
      const err = await markdownToDocx(nested[name], 'Cover letter').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DocumentTooDeep);
      expect(err).toMatchObject({ status: 422, code: 'document_too_deep', message: expect.stringContaining('nests too deeply to render as DOCX') });
      expect(Date.now() - started).toBeLessThan(3000);
    });

    test('nesting within the caps still renders, with its text', async () => {
      const depth = MAX_MARKDOWN_NESTING.containers;
      const markdown = [
        `${'> '.repeat(depth)}quoted ${depth} deep`,
        '',
        `${'['.repeat(MAX_MARKDOWN_NESTING.brackets)}bracketed${']'.repeat(MAX_MARKDOWN_NESTING.brackets)}`,
        '',
        Array.from({ length: 10 }, (_, i) => `${'    '.repeat(i)}- item ${i}`).join('\n'),
        '',
        '| a | b |\n|---|---|\n| *x* | [y](http://example.com) |',
      ].join('\n');
      const back = (await runPandoc(['-f', 'docx', '-t', 'plain', '--wrap=none'], await markdownToDocx(markdown, 'Cover letter'))).toString();
      for (const text of [`quoted ${depth} deep`, 'bracketed', 'item 9', 'y']) expect(back).toContain(text);
      expect(MAX_AST_DEPTH).toBeGreaterThan(4 * depth);
    });
  });
});
