import { join, resolve } from 'node:path';
import { ownEntry, parseOptions, runCli, UsageError } from '../../core/cli';
import { createLogger, stderrSink } from '../../core/logger';
import { environments, EnvironmentConfig } from '../../stacks/config';
import { CONFIG_VARIANTS } from '../../stacks/variants';
import { engineCost, renderEngines } from './engines';
import { costDecisions, renderDecisions } from './decisions';
import { CostReport, estimateCosts } from './estimate';
import { naiveVariant } from './naive';
import { DEFAULT_PRICE_FILE, loadPriceTable } from './priceTable';
import { renderMarkdown, renderText } from './render';
import { readPlan, readSynthesizedEnvironment, synthesizedStacksOf, TfResource } from './terraformInput';
import { DEFAULT_OUT_DIR, needsSynthesis, synthesize } from './synthesis';
import { trafficOption } from './traffic';

const USAGE = `usage: npm run cost -- --env <${Object.keys(environments).join('|')}> [--traffic FILE] [--markdown | --json] [--naive]
                     [--plan PLAN.json ...] [--out DIR] [--synth] [--decisions] [--fail-over-budget] [--prices FILE]
       npm run cost -- --engines [--env <${Object.keys(environments).join('|')}>] [--traffic FILE] [--json] [--out DIR --variant-out DIR]
                     (the database engines side by side; --variant-out: the aurora variant's synthesised output)`;

/** Log lines go to stderr: stdout carries the report. */
const log = createLogger({ component: 'cost' }, 'info', stderrSink);

/** A file named on the command line that cannot be read as what it should be is the person's to fix: exit 2 naming its option. */
function fromOption<T>(option: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    throw new UsageError(option, (error as Error).message);
  }
}

function run(argv: string[]): number {
  const { values } = parseOptions({
    args: argv,
    options: {
      env: { type: 'string' },
      traffic: { type: 'string' },
      markdown: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      naive: { type: 'boolean', default: false },
      plan: { type: 'string', multiple: true },
      out: { type: 'string' },
      synth: { type: 'boolean', default: false },
      decisions: { type: 'boolean', default: false },
      'fail-over-budget': { type: 'boolean', default: false },
      prices: { type: 'string', default: DEFAULT_PRICE_FILE },
      engines: { type: 'boolean', default: false },
      'variant-out': { type: 'string' },
    },
  });
  if (values.markdown && values.json) throw new UsageError('--markdown', 'not with --json');
  // Refused rather than ignored: `--engines --fail-over-budget` would always pass a CI step.
  if (values.engines) {
    const taken = (['plan', 'naive', 'decisions', 'fail-over-budget', 'markdown', 'synth'] as const).find((o) => (o === 'plan' ? values.plan !== undefined : values[o]));
    if (taken) throw new UsageError(`--${taken}`, 'not an option of --engines');
    return compareEngines({ env: values.env, traffic: values.traffic, priceFile: values.prices, json: values.json, out: values.out, variantOut: values['variant-out'] });
  }
  const plans = values.plan ?? [];
  if (!values.env && plans.length === 0) throw new UsageError('--env', 'required (or give --plan)');
  const config = values.env ? ownEntry(environments, values.env) : undefined;
  if (values.env && !config) throw new UsageError('--env', `unknown environment "${values.env}" (known: ${Object.keys(environments).join(', ')})`);
  // Both read the environment's config: without --env a plan alone has no budget, and the check would pass whatever it costs.
  for (const option of ['decisions', 'fail-over-budget'] as const) {
    if (values[option] && !config) throw new UsageError(`--${option}`, `needs --env (the environment whose ${option === 'decisions' ? 'config the decisions price' : 'config.budget.monthlyUsd it compares with'})`);
  }

  const prices = fromOption('--prices', () => loadPriceTable(resolve(values.prices)));
  const profile = trafficOption(values.traffic);

  let resources: TfResource[];
  let source: string;
  if (plans.length > 0) {
    resources = fromOption('--plan', () => plans.flatMap((file) => readPlan(resolve(file))));
    source = `plan ${plans.join(', ')}`;
  } else {
    // An output directory named with --out is priced as it is; the default one is kept in step with the stacks.
    const outDir = resolve(values.out ?? DEFAULT_OUT_DIR);
    const stale = values.out === undefined ? needsSynthesis(outDir, values.env!) : synthesizedStacksOf(outDir, values.env!).length === 0;
    if (values.synth || stale) synthesize(outDir, log);
    const stacks = synthesizedStacksOf(outDir, values.env!);
    if (stacks.length === 0) throw new UsageError('--env', `no stack named ${values.env}-<layer> in ${outDir}/stacks after synthesis`);
    resources = readSynthesizedEnvironment(outDir, values.env!);
    source = `stacks ${stacks.map((s) => s.stack).join(', ')}`;
  }
  if (values.naive) resources = naiveVariant(resources, config?.network.azCount ?? 2);

  const label = `${values.env ?? 'plan'}${values.naive ? ' with naive defaults' : ''} (${source})`;
  const report: CostReport = estimateCosts({ label, resources, prices, profile });

  if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else process.stdout.write(values.markdown ? renderMarkdown(report) : renderText(report));
  if (values.decisions) process.stdout.write(`\n${renderDecisions(costDecisions(prices, config!, report, profile))}`);

  if (values['fail-over-budget'] && config && report.total.idleUsd > config.budget.monthlyUsd) {
    log.error('idle monthly cost exceeds the budget', { env: config.env, idleUsd: report.total.idleUsd, budgetUsd: config.budget.monthlyUsd });
    return 1;
  }
  return 0;
}

interface EnginesOptions {
  env?: string;
  traffic?: string;
  priceFile: string;
  json: boolean;
  out?: string;
  variantOut?: string;
}

/**
 * `--engines`: each environment priced as committed and under the `aurora` variant (every
 * environment on Aurora Serverless v2), side by side. By default the committed output is
 * cdktf.out and the variant's cdktf.out/variants/aurora, each synthesised again when older than
 * the stacks; directories named with --out and --variant-out are priced as they are.
 */
function compareEngines({ env, traffic, priceFile, json, out, variantOut }: EnginesOptions): number {
  if (env && !ownEntry(environments, env)) throw new UsageError('--env', `unknown environment "${env}" (known: ${Object.keys(environments).join(', ')})`);
  if ((out === undefined) !== (variantOut === undefined)) throw new UsageError(out === undefined ? '--variant-out' : '--out', '--out and --variant-out go together with --engines');
  const configs = env ? [environments[env]] : Object.values(environments);
  const prices = fromOption('--prices', () => loadPriceTable(resolve(priceFile)));
  const profile = trafficOption(traffic);
  const committedDir = resolve(out ?? DEFAULT_OUT_DIR);
  const auroraDir = resolve(variantOut ?? join(DEFAULT_OUT_DIR, 'variants', 'aurora'));
  const priceIn = (outDir: string, config: EnvironmentConfig, variant?: string) => {
    if (out === undefined && needsSynthesis(outDir, config.env)) synthesize(outDir, log, variant);
    if (synthesizedStacksOf(outDir, config.env).length === 0) throw new UsageError('--env', `no stack named ${config.env}-<layer> in ${outDir}/stacks`);
    return estimateCosts({ label: config.env, resources: readSynthesizedEnvironment(outDir, config.env), prices, profile });
  };
  const rows = configs.flatMap((config) => [
    engineCost(config, priceIn(committedDir, config)),
    engineCost(CONFIG_VARIANTS.aurora(config), priceIn(auroraDir, config, 'aurora')),
  ]);
  process.stdout.write(json ? `${JSON.stringify({ profile: profile.name, engines: rows }, null, 2)}\n` : renderEngines(rows, profile.name));
  return 0;
}

runCli(() => run(process.argv.slice(2)), { log, usage: USAGE });
