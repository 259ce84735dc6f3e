import { spawn } from 'node:child_process';

/**
 * Pandoc (Markdown → DOCX) as a child process: the system binary, arguments as an array (never a shell, so no
 * content can become a command), input on stdin, output from stdout, killed at the timeout.
 * Raw HTML in the Markdown is disabled (`-raw_html`): generated text is escaped, never
 * passed through as markup.
 */
export interface PandocOptions {
  binary?: string;
  timeoutMs?: number;
  /** Output larger than this is an error rather than a memory spike. */
  maxOutputBytes?: number;
}

const MARKDOWN_IN = 'markdown-raw_html-raw_attribute';

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
    const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: timeoutMs, killSignal: 'SIGKILL' });
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
    child.on('error', (e) => reject(new PandocError(`pandoc could not start (${binary}): ${e.message}`)));
    child.on('close', (code, signal) => {
      if (code === 0) return resolve(Buffer.concat(out));
      if (outBytes > maxOutputBytes) return reject(new PandocError(`pandoc output exceeds ${maxOutputBytes} bytes`));
      if (signal) return reject(new PandocError(`pandoc killed by ${signal} (timeout ${timeoutMs} ms)`));
      reject(new PandocError(`pandoc exited with ${code}: ${err.trim()}`));
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  });
}

export function markdownToDocx(markdown: string, title: string, opts?: PandocOptions): Promise<Buffer> {
  return runPandoc(['-f', MARKDOWN_IN, '-t', 'docx', '--metadata', `title=${title}`, '-o', '-'], markdown, opts);
}
