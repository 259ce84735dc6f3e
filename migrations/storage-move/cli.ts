import { runCli } from '../../core/cli';
import { commandLine, exitOnFailure } from '../data-move/errors';
import { log, logger } from '../data-move/log';
import { parse, USAGE } from './args';
import { exitCodeOf, formatReport, run } from './move';

/** `npm run storage:move`: report on stdout, JSON log lines on stderr; exit 0 ok, 1 mismatch, 2 bad input, 3 unexpected. */
export async function main(argv: string[]): Promise<number> {
  const args = commandLine(parse, argv, USAGE);
  if (typeof args === 'number') return args;
  try {
    const report = await run(args);
    process.stdout.write(`${formatReport(report)}\n`);
    const code = exitCodeOf(report);
    log(args.verifyOnly ? 'verify_finished' : 'move_finished', {
      ok: code === 0,
      ...(report.interrupted ? { interrupted: report.interrupted } : {}),
      listed: report.listed,
      copied: report.copied,
      alreadyDone: report.alreadyDone,
      skipped: report.skipped.length,
      problems: report.problems.length,
      megabytes: +(report.bytes / 1e6).toFixed(1),
      seconds: report.seconds,
    }, code === 0 ? 'info' : 'error');
    return code;
  } catch (err) {
    return exitOnFailure(err);
  }
}

// main ends every failure itself (exitOnFailure); the shell's are for what escapes it.
if (require.main === module) runCli(() => main(process.argv.slice(2)), { log: logger, usage: USAGE, failedCode: 3 });
