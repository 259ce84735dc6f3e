import { failure, ownEntry, parseOptions, runCli, UsageError } from '../../core/cli';
import { createLogger, Logger, LogSink, stderrSink } from '../../core/logger';
import { bootstrap, EnvironmentConfig, environments } from '../../stacks/config';
import { createClients, destroyClients } from './clients';
import { renderJson, renderTable } from './report';
import { BootstrapInput, exitCodeOf, runPreflight } from './run';

/**
 * `npm run preflight -- --env <env> [--json] [--endpoint URL]`: read-only checks of the AWS account
 * the credentials reach, before the first deploy of an environment: region, account, the GitHub
 * OIDC provider, the state bucket's name, the Lambda concurrency, Fargate and Elastic IP quotas,
 * the edge certificate, the cost allocation tags and the environment's secrets (docs/deploy.md,
 * "Before the first deploy"). The report (a table, or JSON with --json) goes to stdout, log lines
 * to stderr (core/logger.ts). Exit 0: nothing checked would fail the deploy (warnings allowed);
 * 1: an error; 2: bad input, named in the message, the usage after it (core/cli.ts).
 */

const USAGE = `usage: npm run preflight -- --env <${Object.keys(environments).join('|')}> [--json] [--endpoint URL]`;

export interface CliIo {
  stdout: (text: string) => void;
  log: Logger;
  /** Where the usage goes after a usage error's line (stderr). */
  stderr?: LogSink;
  environments: Record<string, EnvironmentConfig>;
  bootstrap: BootstrapInput;
}

const defaultIo = (): CliIo => ({
  stdout: (text) => void process.stdout.write(text),
  log: createLogger({ component: 'preflight' }, 'info', stderrSink),
  environments,
  bootstrap,
});

function parse(argv: string[], known: Record<string, EnvironmentConfig>) {
  const { values } = parseOptions({
    args: argv,
    options: { env: { type: 'string' }, json: { type: 'boolean', default: false }, endpoint: { type: 'string' } },
  });
  if (!values.env) throw new UsageError('--env', `required (one of ${Object.keys(known).join(', ')})`);
  const config = ownEntry(known, values.env);
  if (!config) throw new UsageError('--env', `must be one of ${Object.keys(known).join(', ')}, got "${values.env}"`);
  if (values.endpoint !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(values.endpoint);
    } catch {
      url = undefined;
    }
    if (!url || !/^https?:$/.test(url.protocol)) throw new UsageError('--endpoint', `must be an absolute http(s) URL, got "${values.endpoint}"`);
  }
  return { config, json: values.json, endpoint: values.endpoint };
}

export async function main(argv: string[], io: CliIo = defaultIo()): Promise<number> {
  let request;
  try {
    request = parse(argv, io.environments);
  } catch (e) {
    return failure(e, { log: io.log, usage: USAGE, usageSink: io.stderr });
  }

  const clients = createClients({ region: request.config.region, endpoint: request.endpoint });
  try {
    const report = await runPreflight(request.config, io.bootstrap, clients);
    io.stdout(request.json ? renderJson(report) : renderTable(report));
    io.log.info('preflight-done', { env: report.env, account: report.account, errors: report.errors, warnings: report.warnings });
    return exitCodeOf(report);
  } catch (e) {
    return failure(e, { log: io.log });
  } finally {
    destroyClients(clients);
  }
}

if (require.main === module) {
  const io = defaultIo();
  runCli(() => main(process.argv.slice(2), io), { log: io.log, usage: USAGE });
}
