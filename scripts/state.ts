import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { runCli, UsageError } from '../core/cli';
import { createLogger, stderrSink } from '../core/logger';

/**
 * Ops access to Terraform state of one synthesised stack, through its own backend (S3 with
 * native locking): `npm run state -- <stack> list [address-prefix...]` or
 * `npm run state -- <stack> show <address>`. Read-only by design: state surgery (mv, rm,
 * import) stays a deliberate `terraform` session in `cdktf.out/stacks/<stack>`.
 */

const USAGE = 'usage: npm run state -- <stack> list [address...] | npm run state -- <stack> show <address>';

/** Log lines go to stderr: stdout carries terraform's output. */
const log = createLogger({}, 'info', stderrSink);

interface Request {
  stack: string;
  command: 'list' | 'show';
  args: string[];
}

function parseRequest(argv: string[], known: string[]): Request {
  const [stack, command, ...args] = argv;
  if (!stack) throw new UsageError('stack', 'missing');
  if (!known.includes(stack)) {
    throw new UsageError('stack', `"${stack}" is not a synthesised stack (have: ${known.join(', ') || 'none; run npm run synth'})`);
  }
  if (command !== 'list' && command !== 'show') throw new UsageError('command', `"${command ?? ''}" must be list or show`);
  if (command === 'show' && args.length !== 1) throw new UsageError('address', 'show takes exactly one resource address');
  return { stack, command, args };
}

function synthesizedStacks(outdir: string): string[] {
  const manifestPath = path.join(outdir, 'manifest.json');
  if (!fs.existsSync(manifestPath)) return [];
  return Object.keys(JSON.parse(fs.readFileSync(manifestPath, 'utf8')).stacks);
}

function run(cwd: string, args: string[], quiet: boolean): number {
  const result = spawnSync('terraform', args, { cwd, stdio: quiet ? ['ignore', 'pipe', 'inherit'] : 'inherit' });
  if (result.error) throw new UsageError('terraform', `cannot run it (${result.error.message}); install Terraform >= 1.10`);
  return result.status ?? 1;
}

/**
 * A state in S3 needs AWS credentials, which terraform init would otherwise report in a box of
 * its own and exit 1: no credentials is the caller's to fix, exit 2 naming them, as npm run ops and
 * npm run release say it. The same default chain (environment, profile, SSO, roles) terraform reads.
 */
async function assertCredentials(dir: string): Promise<void> {
  const backend = (JSON.parse(fs.readFileSync(path.join(dir, 'cdk.tf.json'), 'utf8')) as { terraform?: { backend?: Record<string, { region?: string }> } }).terraform?.backend ?? {};
  if (!backend.s3) return;
  try {
    await defaultProvider({ parentClientConfig: { region: backend.s3.region } })();
  } catch (err) {
    if ((err as Error).name !== 'CredentialsProviderError') throw err;
    throw new UsageError('credentials', `none found for the state in S3: log in (aws sso login, AWS_PROFILE) or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (${(err as Error).message})`);
  }
}

async function main(argv: string[]): Promise<number> {
  const outdir = path.resolve(process.env.CDKTF_OUTDIR ?? 'cdktf.out');
  const request = parseRequest(argv, synthesizedStacks(outdir));
  const dir = path.join(outdir, 'stacks', request.stack);
  await assertCredentials(dir);
  // `init` is idempotent and quick once done; it also picks up a changed backend after a synth.
  const init = run(dir, ['init', '-input=false'], true);
  if (init !== 0) return init;
  return run(dir, ['state', request.command, ...request.args], false);
}

runCli(() => main(process.argv.slice(2)), { log, usage: USAGE });
