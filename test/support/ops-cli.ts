import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../scripts/ops/cli';
import { CliResult, runCliProcess } from './cli-process';

/** What the ops CLI answered in process: exit code, stdout (parsed when it is JSON) and its log lines. */
export interface OpsRun {
  code: number;
  out: string;
  json: any;
  logs: Record<string, unknown>[];
}

/** `npm run ops -- <argv> --env <env> --endpoint <endpoint>` in this process, against an emulator. */
export const opsAgainst =
  (env: string, endpoint: () => string) =>
  async (...argv: string[]): Promise<OpsRun> => {
    let out = '';
    const logs: Record<string, unknown>[] = [];
    const code = await main([...argv, '--env', env, '--endpoint', endpoint()], {
      stdout: (text) => void (out += text),
      logSink: (line) => void logs.push(line.startsWith('{') ? JSON.parse(line) : { usage: line }),
      env: { AWS_ACCESS_KEY_ID: 'test' },
    });
    let json: any;
    try {
      json = JSON.parse(out);
    } catch {
      json = undefined;
    }
    return { code, out, json, logs };
  };

const OPS_CLI = join(__dirname, '..', '..', 'scripts', 'ops', 'cli.ts');

/**
 * The ops CLI in its own process, Secrets Manager answered at `secretsUrl`, with AWS credentials
 * or none at all (no keys, no profile, no instance metadata), and no DATABASE_URL of the machine.
 */
export const opsProcess = (args: string[], secretsUrl: string, credentials = true): Promise<CliResult> =>
  runCliProcess(OPS_CLI, args, {
    env: {
      HOME: mkdtempSync(join(tmpdir(), 'ops-home-')),
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secretsUrl,
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_PROFILE: '',
      AWS_SESSION_TOKEN: '',
      DATABASE_URL: '',
      ...(credentials ? { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' } : { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '' }),
    },
  });

/** The first error line among a CLI's JSON log lines on stderr. */
export const errorLine = (stderr: string): any =>
  stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
    .find((l) => l.level === 'error');
