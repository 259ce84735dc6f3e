import { appendFileSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { integerOption, ownEntry, parseOptions, runCli, UsageError } from '../../core/cli';
import { INTERNAL_SERVICES, ServiceName as LambdaServiceName } from '../../core/contract';
import { createLogger, stdoutSink } from '../../core/logger';
import { bootstrap, EnvironmentConfig, environments, namePrefix } from '../../stacks/config';
import { stateKey } from '../../stacks/backend';
import { demandsOf } from '../preflight/demands';
import { aliasPosition, lastRelease, parseSnapshot, parseTarget, restore, rollback, snapshot } from './lambda-aliases';
import { joinUrl, SECRET_STEM_OF_SETTING, secretStates, smokeTest } from './smoke';
import { checkInternalHealth, httpTargets, lambdaTargets } from './internal-health';
import { localPort } from '../local/defaults';
import { originVerdict, readState } from './origin-guard';

/**
 * The release CLI the workflows call (and ops, by hand):
 *   status   --env dev [--functions all|a,b]
 *   snapshot --env dev --out FILE [--functions …]     record the live versions before a deploy
 *   restore  --file FILE                              put them back after a failed deploy
 *   rollback --env dev --functions all|a,b [--to previous|N]
 *   smoke    --url BASE [--path /health …] [--refused /b2b/batches …] [--env dev]
 *   internal --env dev | --local                      each internal service's health through its live alias
 *   origin   --env dev                                before a deploy: may its smoke test be skipped?
 * Output is the platform's log format (core/logger.ts), one JSON line per event on stdout:
 * `{"time":…,"level":"info","msg":"alias-moved","functionName":…,"from":"4","to":"3"}`; a
 * failure is a `level: "error"` line whose `msg` is the message. Usage errors exit 2 (no AWS
 * credentials too, naming them), failures 1. `rollback` and `restore` move every alias they can
 * when one cannot move, with an `alias-not-moved` (`alias-not-restored`) line for it, and exit 1.
 *
 * `smoke` checks each --path for a health `{"status":"ok"}` and each --refused path for the
 * service's own 401 to a request without credentials (a service without a public health route).
 * It passes a health that says `degraded` with the settings it misses (secrets with no value
 * yet: the first deploy) with a `smoke-degraded` warning line giving, with `--env`, the command that
 * puts each value; and with `--env`, a path through the edge (`/api/…`) of an environment whose
 * origin secret is not set up (`api.originVerifyPatternSetArn` unset: its web ACL refuses every
 * request) is skipped with a `smoke-skipped` warning. With `--env` it then describes every secret
 * of the environment's data stack and warns (`smoke-secrets-missing`) naming each without a value,
 * with the command that puts it: the health reached is one service's, which misses only its own
 * secrets. In GitHub Actions these warnings are also annotations and lines of the job summary.
 *
 * `internal` sends `GET /health` to each internal service (core-llm, theme, order, client: no
 * route reaches them) the way their callers do (internal-health.ts): with `--env`, Lambda Invoke
 * of `docplatform-<env>-<service>:live`; with `--local`, HTTP to `npm run dev`'s port of each
 * (PORT_<NAME> moves one). It needs no origin secret, so it runs on the first deploy too. Exit 1
 * naming each service that did not answer `ok` (`internal-failed`); `degraded` passes with the
 * same warning as the smoke test's (`internal-degraded`).
 *
 * `origin` (origin-guard.ts) reads the web ACL in the environment's compute state, the one that
 * runs now: exit 1 (`origin-secret-dropped`) when it checks a pattern set that this commit's
 * config no longer names; with neither, the first-time setup, a warning (`origin-secret-unset`)
 * that the smoke test through CloudFront will be skipped; with the config's, `origin-secret-set`.
 */

const log = createLogger({}, 'info', stdoutSink);

/** A GitHub Actions warning annotation and a job summary line (nothing outside Actions); the JSON line says the same. */
function annotate(title: string, lines: string[]): void {
  if (process.env.GITHUB_ACTIONS !== 'true') return;
  const escape = (text: string) => text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  process.stdout.write(`::warning title=${escape(title).replace(/:/g, '%3A').replace(/,/g, '%2C')}::${escape(lines.join('\n'))}\n`);
  const summary = process.env.GITHUB_STEP_SUMMARY;
  if (summary) appendFileSync(summary, `### ${title}\n\n${lines.map((l) => (l.startsWith('aws ') ? `    ${l}` : l)).join('\n\n')}\n\n`);
}

/** The command that puts each missing setting's secret (the preflight's, docs/deploy.md "Secret values"). */
export function putCommands(config: EnvironmentConfig | undefined, missing: string[]): string[] {
  const known = config ? demandsOf(config).secrets : [];
  return missing.map((setting) => {
    const stem = SECRET_STEM_OF_SETTING[setting];
    if (!stem) return `${setting}: not a secret this platform creates (see docs/runtime-config.md)`;
    if (!config) return `aws secretsmanager put-secret-value --secret-id docplatform-<env>-${stem} --secret-string …   (${setting}; --env names the environment)`;
    const name = `${namePrefix(config.env)}-${stem}`;
    return known.find((s) => s.name === name)?.putCommand ?? `aws secretsmanager put-secret-value --region ${config.region} --secret-id ${name} --secret-string …`;
  });
}

/**
 * One line per check of a deploy step (`<step>-ok`, `-failed`, `-degraded`). A service that
 * answers while secrets have no value yet passes, with what puts each: the routes that need one
 * answer 503 until then. `answering` words who answers, for the annotation.
 */
function reportChecks<R extends { ok: boolean; missing?: string[] }>(step: 'smoke' | 'internal', config: EnvironmentConfig | undefined, results: R[], answering: (result: R) => string): void {
  for (const result of results) {
    if (!result.ok) log.error(`${step}-failed`, { ...result });
    else if (result.missing) {
      const commands = putCommands(config, result.missing);
      log.warn(`${step}-degraded`, { ...result, commands });
      annotate(`Secrets without a value${config ? ` in ${config.env}` : ''}: ${result.missing.join(', ')}`, [
        `${answering(result)} that need ${result.missing.join(', ')} answer 503 until their values are put (read again within 30 s, no deploy needed):`,
        ...commands,
      ]);
    } else log.info(`${step}-ok`, { ...result });
  }
}

/**
 * Warns naming each secret of the environment that has no value, and what gives it one. Never
 * fails the smoke test: the services start without them (their routes answer 503 until put).
 */
async function warnSecretsWithoutValue(config: EnvironmentConfig): Promise<void> {
  const secrets = demandsOf(config).secrets;
  const client = new SecretsManagerClient({ region: config.region });
  let states;
  try {
    states = await secretStates(client, secrets.map((s) => s.name));
  } catch (error) {
    const reason = `secretsmanager:DescribeSecret failed (${(error as Error).name}: ${(error as Error).message}); \`npm run preflight -- --env ${config.env}\` lists the secrets without a value`;
    log.warn('smoke-secrets-unchecked', { env: config.env, reason });
    annotate(`Secrets of ${config.env} not checked`, [reason]);
    return;
  } finally {
    client.destroy();
  }
  const lacking = states.filter((s) => s.state !== 'value');
  if (lacking.length === 0) {
    log.info('smoke-secrets-ok', { env: config.env, secrets: states.length });
    return;
  }
  const commands = lacking.map(({ name, state }) => {
    const put = secrets.find((s) => s.name === name)!.putCommand;
    if (state === 'absent') return `${name} does not exist: \`cdktf deploy ${config.env}-data\` creates it, then ${put}`;
    if (state === 'deleted') return `${name} is scheduled for deletion: aws secretsmanager restore-secret --region ${config.region} --secret-id ${name}, then ${put}`;
    return put;
  });
  const names = lacking.map((s) => s.name);
  log.warn('smoke-secrets-missing', { env: config.env, secrets: names, commands });
  annotate(`Secrets of ${config.env} with no value: ${names.join(', ')}`, [
    `What reads them answers 503 naming the setting until each is put (read again within 30 s, no deploy needed):`,
    ...commands,
  ]);
}

function environment(name: string | undefined) {
  if (!name) throw new UsageError('--env', 'required');
  const config = ownEntry(environments, name);
  if (!config) throw new UsageError('--env', `must be one of ${Object.keys(environments).join(', ')}, got "${name}"`);
  return config;
}

/** `all` or a comma list of service names → the Lambda function names of the environment. */
export function functionNames(env: string, list: string | undefined): string[] {
  const services = Object.keys(environments[env].lambdas) as LambdaServiceName[];
  const wanted = !list || list.trim() === 'all' ? services : list.split(',').map((s) => s.trim()).filter(Boolean);
  if (wanted.length === 0) throw new UsageError('--functions', 'empty');
  for (const name of wanted) {
    if (!services.includes(name as LambdaServiceName)) {
      throw new UsageError('--functions', `unknown service "${name}" (services: ${services.join(', ')})`);
    }
  }
  return wanted.map((service) => `${namePrefix(env)}-${service}`);
}

export async function main(argv: string[]): Promise<number> {
  try {
    return await release(argv);
  } catch (err) {
    // The SDK's credential chain found nothing: by hand, the person must log in first (exit 2, as npm run ops says it), not retry.
    if ((err as Error).name !== 'CredentialsProviderError') throw err;
    throw new UsageError('credentials', `none found: log in (aws sso login, AWS_PROFILE) or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (${(err as Error).message})`);
  }
}

/**
 * The options each command reads. Another is refused, not ignored: `rollback --functions order
 * --out 41` (meant as --to) would roll back to the previous version instead of 41.
 */
const OPTIONS_OF: Record<string, string[]> = {
  status: ['env', 'functions'],
  snapshot: ['env', 'functions', 'out'],
  restore: ['file'],
  rollback: ['env', 'functions', 'to'],
  smoke: ['url', 'path', 'refused', 'attempts', 'delay-ms', 'env'],
  internal: ['env', 'local', 'attempts', 'delay-ms'],
  origin: ['env'],
};

const USAGE = `usage: npm run release -- <command> [options]
  status   --env ENV [--functions all|a,b]
  snapshot --env ENV --out FILE [--functions all|a,b]   record the live versions before a deploy
  restore  --file FILE                                  put them back after a failed deploy
  rollback --env ENV --functions all|a,b [--to previous|N]
  smoke    --url BASE [--path /health …] [--refused /b2b/batches …] [--env ENV] [--attempts N] [--delay-ms N]
  internal --env ENV | --local [--attempts N] [--delay-ms N]   each internal service's health through its live alias
  origin   --env ENV                                    before a deploy: may its smoke test be skipped?`;

async function release(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values } = parseOptions({
    args: rest,
    options: {
      env: { type: 'string' },
      functions: { type: 'string' },
      to: { type: 'string' },
      out: { type: 'string' },
      file: { type: 'string' },
      url: { type: 'string' },
      path: { type: 'string', multiple: true },
      refused: { type: 'string', multiple: true },
      attempts: { type: 'string' },
      'delay-ms': { type: 'string' },
      local: { type: 'boolean' },
    },
  });
  const takes = ownEntry(OPTIONS_OF, command ?? '');
  for (const [option, value] of Object.entries(values)) {
    if (takes && value !== undefined && !takes.includes(option)) throw new UsageError(`--${option}`, `not an option of ${command} (it takes ${takes.map((o) => `--${o}`).join(', ')})`);
  }

  switch (command) {
    case 'status': {
      const config = environment(values.env);
      const client = new LambdaClient({ region: config.region });
      for (const name of functionNames(config.env, values.functions)) log.info('alias', { ...(await aliasPosition(client, name)) });
      return 0;
    }
    case 'snapshot': {
      const config = environment(values.env);
      if (!values.out) throw new UsageError('--out', 'required');
      const client = new LambdaClient({ region: config.region });
      const taken = snapshot(client, functionNames(config.env, values.functions));
      const record = { region: config.region, ...(await taken) };
      mkdirSync(dirname(values.out), { recursive: true });
      writeFileSync(values.out, `${JSON.stringify(record, null, 2)}\n`);
      log.info('snapshot', { file: values.out, positions: record.positions.length });
      return 0;
    }
    case 'restore': {
      if (!values.file) throw new UsageError('--file', 'required');
      let text: string;
      try {
        text = readFileSync(values.file, 'utf8');
      } catch {
        throw new UsageError('--file', `cannot read "${values.file}"`);
      }
      const recorded = parseSnapshot(text, values.file);
      const region = (JSON.parse(text) as { region?: string }).region;
      const client = new LambdaClient({ region: region ?? environments.dev.region });
      const { moves, failed } = await restore(client, recorded);
      for (const move of moves) log.info('alias-restored', { ...move });
      for (const f of failed) log.error('alias-not-restored', { ...f });
      log.info('restore-done', { moved: moves.length, failed: failed.length });
      return failed.length === 0 ? 0 : 1;
    }
    case 'rollback': {
      const config = environment(values.env);
      if (!values.functions) throw new UsageError('--functions', 'required ("all" or a comma list)');
      const target = parseTarget(values.to);
      const client = new LambdaClient({ region: config.region });
      let names = functionNames(config.env, values.functions);
      if (target === 'previous' && names.length > 1) {
        // Several functions back to "previous": the last release's, not every function's own previous version.
        const { inRelease, left } = await lastRelease(client, names);
        for (const l of left) log.info('alias-left', { ...l, reason: 'not changed by the last release: its previous version is an older release' });
        names = inRelease;
      }
      const { moves, failed } = await rollback(client, names, target);
      for (const move of moves) log.info('alias-moved', { ...move });
      for (const f of failed) log.error('alias-not-moved', { ...f });
      log.info('rollback-done', { moved: moves.length, failed: failed.length });
      return failed.length === 0 ? 0 : 1;
    }
    case 'smoke': {
      if (!values.url) throw new UsageError('--url', 'required');
      const paths = values.path?.length ? values.path : ['/health'];
      const attempts = integerOption('--attempts', values.attempts, { min: 1, max: 1000 });
      const delayMs = integerOption('--delay-ms', values['delay-ms'], { min: 0, max: 600_000 });
      const refusedPaths = values.refused ?? [];
      const urls = paths.map((p) => joinUrl(values.url!, p));
      const refusedUrls = refusedPaths.map((p) => joinUrl(values.url!, p));
      const config = values.env === undefined ? undefined : environment(values.env);
      if (config && [...paths, ...refusedPaths].some((p) => /^\/?api\//.test(p)) && !config.api.originVerifyPatternSetArn) {
        const reason =
          `the API of ${config.env} refuses every request until its origin secret is set up (api.originVerifyPatternSetArn is unset in stacks/config.ts: ` +
          `docs/deploy.md, "Origin secret"); the smoke test runs once it is`;
        log.warn('smoke-skipped', { env: config.env, urls: [...urls, ...refusedUrls], reason });
        annotate(`Smoke test skipped: ${config.env} has no origin secret yet`, [reason]);
        await warnSecretsWithoutValue(config);
        return 0;
      }
      const results = await Promise.all([
        ...urls.map((url) => smokeTest(url, { attempts, delayMs })),
        ...refusedUrls.map((url) => smokeTest(url, { attempts, delayMs, expect: 'refused' })),
      ]);
      reportChecks('smoke', config, results, (r) => `${r.url} answers, but the routes`);
      if (config) await warnSecretsWithoutValue(config);
      return results.every((r) => r.ok) ? 0 : 1;
    }
    case 'internal': {
      if (values.local && values.env !== undefined) throw new UsageError('--local', 'names the local run: give it or --env, not both');
      const config = values.local ? undefined : environment(values.env);
      const attempts = integerOption('--attempts', values.attempts, { min: 1, max: 1000 });
      const delayMs = integerOption('--delay-ms', values['delay-ms'], { min: 0, max: 600_000 });
      // The health check retries an invoke that fails; credentials that are not there never come, so they are looked for once, first.
      if (config) await new LambdaClient({ region: config.region }).config.credentials();
      const targets = config
        ? lambdaTargets(config.region, Object.fromEntries(INTERNAL_SERVICES.map((s) => [s, `${namePrefix(config.env)}-${s}`])))
        : httpTargets(Object.fromEntries(INTERNAL_SERVICES.map((s) => [s, `http://127.0.0.1:${localPort(s)}`])));
      const results = await checkInternalHealth(targets, INTERNAL_SERVICES, { attempts, delayMs });
      reportChecks('internal', config, results, (r) => `${r.service} (${r.target}) answers, but its routes`);
      return results.every((r) => r.ok) ? 0 : 1;
    }
    case 'origin': {
      const config = environment(values.env);
      const key = stateKey(config.env, 'compute');
      const s3 = new S3Client({ region: bootstrap.region });
      let verdict;
      try {
        verdict = originVerdict(config.api.originVerifyPatternSetArn, await readState(s3, bootstrap.stateBucketName, key));
      } finally {
        s3.destroy();
      }
      if (verdict.kind === 'set') {
        log.info('origin-secret-set', { env: config.env, patternSet: verdict.arn });
        return 0;
      }
      if (verdict.kind === 'dropped') {
        log.error('origin-secret-dropped', {
          env: config.env,
          deployed: verdict.deployed,
          reason:
            `the deployed API of ${config.env} checks the origin secret (pattern set ${verdict.deployed}), and this commit's stacks/config.ts names none ` +
            `(api.originVerifyPatternSetArn): deployed, its web ACL would refuse every request while the smoke test is skipped. Put the ARN back (docs/deploy.md, "Origin secret")`,
        });
        return 1;
      }
      const reason =
        `${config.env} has no origin secret yet (api.originVerifyPatternSetArn unset, and ${verdict.deployed === 'no state' ? `no ${config.env}-compute state` : 'none in the deployed web ACL'}): ` +
        `its API refuses every request, and this deploy's smoke test through CloudFront will be skipped. First-time setup, step 9 (docs/deploy.md) sets it up`;
      log.warn('origin-secret-unset', { env: config.env, deployed: verdict.deployed, reason });
      annotate(`No origin secret in ${config.env}: the smoke test will be skipped`, [reason]);
      return 0;
    }
    default:
      throw new UsageError('command', `unknown command "${command ?? ''}" (status, snapshot, restore, rollback, smoke, internal, origin)`);
  }
}

if (require.main === module) runCli(() => main(process.argv.slice(2)), { log, usage: USAGE });
