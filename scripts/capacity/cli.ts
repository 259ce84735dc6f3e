import { resolve } from 'node:path';
import { ownEntry, parseOptions, runCli, UsageError } from '../../core/cli';
import { createLogger, stderrSink } from '../../core/logger';
import { environments } from '../../stacks/config';
import { DEFAULT_PRICE_FILE, loadPriceTable } from '../cost/priceTable';
import { DEFAULT_OUT_DIR, needsSynthesis, synthesize } from '../cost/synthesis';
import { readSynthesizedEnvironment } from '../cost/terraformInput';
import { trafficOption } from '../cost/traffic';
import { readPlatformLimits } from './limits';
import { capacityReport } from './model';
import { renderCapacity } from './render';

const USAGE = `usage: npm run capacity -- --env <${Object.keys(environments).join('|')}> [--traffic FILE] [--format table|json] [--out DIR]`;

const log = createLogger({ component: 'capacity' }, 'info', stderrSink);

function run(argv: string[]): number {
  const { values } = parseOptions({
    args: argv,
    options: {
      env: { type: 'string' },
      traffic: { type: 'string' },
      format: { type: 'string', default: 'table' },
      out: { type: 'string' },
    },
  });
  if (!values.env) throw new UsageError('--env', 'required');
  if (!ownEntry(environments, values.env)) throw new UsageError('--env', `unknown environment "${values.env}" (known: ${Object.keys(environments).join(', ')})`);
  if (values.format !== 'table' && values.format !== 'json') throw new UsageError('--format', `"${values.format}" is not table or json`);
  const profile = trafficOption(values.traffic);
  // An output directory named with --out is read as it is; the default one is kept in step with the stacks.
  const outDir = resolve(values.out ?? DEFAULT_OUT_DIR);
  if (values.out === undefined && needsSynthesis(outDir, values.env)) synthesize(outDir, log);
  const resources = readSynthesizedEnvironment(outDir, values.env);
  if (resources.length === 0) throw new UsageError('--out', `no stack named ${values.env}-<layer> in ${outDir}/stacks`);
  const report = capacityReport(readPlatformLimits(values.env, resources), profile, loadPriceTable(DEFAULT_PRICE_FILE));
  process.stdout.write(values.format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : renderCapacity(report));
  return 0;
}

runCli(() => run(process.argv.slice(2)), { log, usage: USAGE });
