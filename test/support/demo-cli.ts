import { parseOptions, runCli } from '../../core/cli';
import { createLogger, stderrSink } from '../../core/logger';

/** The smallest CLI on core/cli.ts, for its test: `--fail` throws, `--code N` exits N. */
runCli(
  () => {
    const { values } = parseOptions({ args: process.argv.slice(2), options: { fail: { type: 'boolean' }, code: { type: 'string' } } });
    if (values.fail) throw new Error('it broke');
    process.stdout.write('done\n');
    return Number(values.code ?? 0);
  },
  { log: createLogger({ component: 'demo' }, 'info', stderrSink), usage: 'usage: demo [--fail] [--code N]' },
);
