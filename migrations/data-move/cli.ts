import { runCli } from '../../core/cli';
import { parse, USAGE } from './args';
import { runCopy } from './copy';
import { commandLine, exitOnFailure } from './errors';
import { log, logger } from './log';
import { cutover, replicationStatus, rollback, startReplication } from './replicate';
import { unfinishedRun } from './state';
import { formatReport, verify } from './verify';

const SWITCH_OVER_STEPS = `switch-over steps:
  1. point the application at RDS: put the RDS URL in the database secret/config of every service and deploy
     (Lambda aliases and the worker services pick it up on their next start)
  2. smoke-test: GET /b2c/themes, one order end to end, worker logs free of database errors
  3. the old database stays read-only; keep it until the rollback window closes (docs/data-migration.md)
  rollback: npm run db:move -- rollback --source … --target …  then point the application back at the old database`;

/** Runs one command; returns the process exit code. Output: report on stdout, JSON log on stderr. */
export async function main(argv: string[]): Promise<number> {
  const args = commandLine(parse, argv, USAGE);
  if (typeof args === 'number') return args;
  try {
    switch (args.command) {
      case 'copy': {
        const result = await runCopy(args);
        process.stdout.write(`${formatReport(result.report)}\n`);
        log('copy_finished', {
          ok: result.report.ok,
          rows: result.rows,
          megabytes: +(result.bytes / 1e6).toFixed(1),
          seconds: result.seconds,
          verifySeconds: result.report.seconds,
        });
        return result.report.ok ? 0 : 1;
      }
      case 'verify': {
        const report = await verify(args);
        process.stdout.write(`${formatReport(report)}\n`);
        const run = await unfinishedRun(args.targetUrl);
        if (!run) return report.ok ? 0 : 1;
        process.stdout.write(
          `the target holds an unfinished ${run.mode} run from ${run.source} (phase ${run.phase}): ` +
            (run.mode === 'copy'
              ? 'the move is not done; run the same db:move command without --verify-only to finish it (it resumes, verifies and removes _data_move); until then db:migrate leaves this database alone\n'
              : 'replication is still set up; cutover ends it, rollback undoes it\n'),
        );
        log('move_unfinished', { mode: run.mode, phase: run.phase }, 'warn');
        // A copy that never ended is not a target to switch over to, whatever its tables hold.
        return report.ok && run.mode !== 'copy' ? 0 : 1;
      }
      case 'replicate':
        await startReplication(args);
        process.stdout.write('replication running: watch it with the status command, then run cutover\n');
        return 0;
      case 'status':
        process.stdout.write(`${JSON.stringify(await replicationStatus(args))}\n`);
        return 0;
      case 'cutover': {
        const result = await cutover(args);
        process.stdout.write(`${formatReport(result.report)}\n`);
        process.stdout.write(`cutover done: source writes blocked for ${result.downtimeSeconds.toFixed(1)} s\n${SWITCH_OVER_STEPS}\n`);
        log('cutover_finished', { downtimeSeconds: result.downtimeSeconds, catchUpSeconds: result.catchUpSeconds });
        return 0;
      }
      case 'rollback':
        await rollback(args);
        process.stdout.write('rolled back: the source accepts writes again; replication objects removed\n');
        return 0;
    }
  } catch (err) {
    return exitOnFailure(err);
  }
}

// main ends every failure itself (exitOnFailure); the shell's are for what escapes it.
if (require.main === module) runCli(() => main(process.argv.slice(2)), { log: logger, usage: USAGE, failedCode: 3 });
