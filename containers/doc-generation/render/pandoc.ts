import { spawn } from 'node:child_process';
import { AppError } from '../../../core/errors';
import { jsonNestingExceeding } from '../../../core/json-depth';

/**
 * Pandoc (Markdown → DOCX) as a child process: the system binary, arguments as an array (never a shell, so no
 * content can become a command), input on stdin, output from stdout, killed at the timeout.
 *
 * The Markdown is generated text (a model's answer, which can quote the client's input): it is
 * content, never an instruction to read or fetch anything. Pandoc's DOCX writer embeds whatever
 * an image points at, a local file (`![](/proc/self/environ)`: the worker's AWS keys) or a URL
 * (the S3 emulator, the task-role credentials endpoint). So a DOCX takes two Pandoc runs:
 *
 * 1. read: Markdown → Pandoc's JSON AST under `--sandbox` (the reader does no file or network
 *    IO), with raw HTML, raw TeX, raw attributes (`{=openxml}`) and YAML metadata blocks off:
 *    such text stays text, as in the PDF and HTML paths;
 * 2. in process: every image of the body becomes its alt text (a generic walk over the JSON,
 *    so no node kind holding one, table cell, note, link or caption, is missed), any raw block
 *    or inline is dropped, and the metadata is the theme's title alone (a plain string, never
 *    parsed as Markdown);
 * 3. write: JSON → DOCX. The writer cannot run under `--sandbox` with Debian's Pandoc (2.17,
 *    data files not embedded: "Could not find data file data/data/docx/[Content_Types].xml",
 *    jgm/pandoc#8128); its only content IO is fetching images, and the AST it gets has none.
 *
 * Nesting is capped before anything deep can run (`MAX_MARKDOWN_NESTING`, `MAX_AST_DEPTH`):
 * the walk of step 2 and JSON.stringify recurse, and 2,000 nested `>` (4 KB) overflow their
 * stack; Pandoc 2.17's reader takes time quadratic in the nesting of quotes and lists (5,000
 * `>`: 4 s; 10,000: 16 s and 425 MB) and exponential in that of brackets (10 `[`: 5 s; 20: past
 * 20 s and 3 GB). Such text never renders, whichever attempt generates it, so it is a
 * permanent failure with a reason the client reads (`DocumentTooDeep`, a 422), not a retry.
 *
 * Why not a Lua filter dropping images: without `--sandbox`, Pandoc 2.17 fetches every image of
 * a DOCX into its media bag before filters run, so the picture would be dropped but the request
 * to the URL would still be made.
 */
export interface PandocOptions {
  binary?: string;
  timeoutMs?: number;
  /** Output larger than this is an error rather than a memory spike. */
  maxOutputBytes?: number;
}

const MARKDOWN_IN = 'markdown-raw_html-raw_attribute-raw_tex-yaml_metadata_block';

/**
 * Most containers one line of the Markdown may open (`> > - 1.` is four) and most `[` open at
 * once within a paragraph: far beyond any written document (quotes and lists a handful deep,
 * brackets two or three), low enough that Pandoc reads the text in milliseconds.
 */
export const MAX_MARKDOWN_NESTING = { containers: 32, brackets: 6 } as const;
/**
 * Deepest JSON of Pandoc's AST of the body (a quote or an emphasis is two levels, a list three,
 * a table cell about ten): what the walk and JSON.stringify take with room to spare.
 */
export const MAX_AST_DEPTH = 256;

/** The generated document nests deeper than a DOCX is rendered from: permanent, its message is the order's failure reason. */
export class DocumentTooDeep extends AppError {
  constructor(what: string) {
    super(422, 'document_too_deep', `the generated document nests too deeply to render as DOCX (${what})`);
    this.name = 'DocumentTooDeep';
  }
}

const LINE_CONTAINERS = /^(?:[ \t]*(?:>|(?:[-+*]|\d{1,9}[.)])(?=[ \t]|$)))+/;
const CONTAINER_MARKER = />|[-+*]|\d{1,9}[.)]/g;

/**
 * What of `markdown` nests past MAX_MARKDOWN_NESTING, or undefined. An upper bound, counted
 * without parsing: every container marker a line starts with (a thematic break `- - -` counts
 * three) and every unescaped `[` not closed yet, up to the paragraph's end (Pandoc's reader
 * backtracks over unclosed ones just as much).
 */
export function markdownNestingExceeding(markdown: string): string | undefined {
  let brackets = 0;
  for (const line of markdown.split('\n')) {
    const prefix = LINE_CONTAINERS.exec(line)?.[0] ?? '';
    const containers = prefix.match(CONTAINER_MARKER)?.length ?? 0;
    if (containers > MAX_MARKDOWN_NESTING.containers) return `a line opens ${containers} quotes or lists; at most ${MAX_MARKDOWN_NESTING.containers}`;
    if (line.trim() === '') brackets = 0;
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      if (c === '\\') i++;
      else if (c === ']') brackets = Math.max(0, brackets - 1);
      else if (c === '[' && ++brackets > MAX_MARKDOWN_NESTING.brackets) return `more than ${MAX_MARKDOWN_NESTING.brackets} brackets open at once`;
    }
  }
  return undefined;
}

export class PandocError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PandocError';
  }
}

export function runPandoc(args: string[], input: string | Buffer, opts: PandocOptions = {}): Promise<Buffer> {
  const binary = opts.binary ?? 'pandoc';
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const maxOutputBytes = opts.maxOutputBytes ?? 50 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    // Our own timer rather than spawn's `timeout`: a kill from outside (the OOM killer) must not read as a timeout.
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => {
      outBytes += chunk.length;
      if (outBytes > maxOutputBytes) child.kill('SIGKILL');
      else out.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (err.length < 4096) err += chunk.toString();
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new PandocError(`pandoc could not start (${binary}): ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve(Buffer.concat(out));
      if (outBytes > maxOutputBytes) return reject(new PandocError(`pandoc output exceeds ${maxOutputBytes} bytes`));
      if (timedOut) return reject(new PandocError(`pandoc timed out after ${timeoutMs} ms (killed)`));
      if (signal) return reject(new PandocError(`pandoc was killed by ${signal}`));
      reject(new PandocError(`pandoc exited with ${code}: ${err.trim()}`));
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const isNode = (v: Json): v is { [key: string]: Json } => typeof v === 'object' && v !== null && !Array.isArray(v);
const isRaw = (v: Json): boolean => isNode(v) && (v.t === 'RawBlock' || v.t === 'RawInline');

/** The AST with every Image replaced by a Span of its alt text and every raw block or inline removed. */
export function withoutImages(node: Json): Json {
  if (Array.isArray(node)) return node.filter((v) => !isRaw(v)).map(withoutImages);
  if (!isNode(node)) return node;
  if (node.t === 'Image') {
    const alt = Array.isArray(node.c) && Array.isArray(node.c[1]) ? node.c[1] : [];
    return { t: 'Span', c: [['', [], []], withoutImages(alt)] };
  }
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, withoutImages(v)]));
}

export async function markdownToDocx(markdown: string, title: string, opts: PandocOptions = {}): Promise<Buffer> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  const tooDeep = markdownNestingExceeding(markdown);
  if (tooDeep) throw new DocumentTooDeep(tooDeep);
  const json = await runPandoc(['--sandbox', '-f', MARKDOWN_IN, '-t', 'json'], markdown, { ...opts, timeoutMs });
  // Emphasis nests without a container or a bracket per level: the tree Pandoc read is measured too.
  if (jsonNestingExceeding(json, MAX_AST_DEPTH) !== undefined) throw new DocumentTooDeep(`more than ${MAX_AST_DEPTH} levels of Pandoc's document tree`);
  const ast = JSON.parse(json.toString('utf8')) as { [key: string]: Json };
  const inert = { ...ast, meta: { title: { t: 'MetaString', c: title } }, blocks: withoutImages(ast.blocks ?? []) };
  const left = Math.max(1, deadline - Date.now());
  return runPandoc(['-f', 'json', '-t', 'docx', '-o', '-'], JSON.stringify(inert), { ...opts, timeoutMs: left });
}
