import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT } from '../support/infra-synth';
import { terraformToolchain } from '../support/infra-terraform';

/**
 * `npm run state` against a real stack directory with real state: a stack of builtin
 * `terraform_data` resources, applied offline into a local backend, stands in for an
 * environment stack whose S3 backend needs AWS credentials.
 */
let outdir: string;
const env = () => ({ ...terraformToolchain().env, CDKTF_OUTDIR: outdir });
const state = (...args: string[]) =>
  spawnSync(process.execPath, [require.resolve('tsx/cli'), 'scripts/state.ts', ...args], { cwd: REPO_ROOT, env: env(), encoding: 'utf8' });

beforeAll(() => {
  outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'state-script-'));
  const dir = path.join(outdir, 'stacks', 'demo-data');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(outdir, 'manifest.json'), JSON.stringify({ stacks: { 'demo-data': { workingDirectory: 'stacks/demo-data' } } }));
  fs.writeFileSync(
    path.join(dir, 'cdk.tf.json'),
    JSON.stringify({
      terraform: { backend: { local: { path: 'demo.tfstate' } } },
      resource: { terraform_data: { queue: { input: 'doc-jobs' }, bucket: { input: 'reports' } } },
    }),
  );
  const apply = (args: string[]) => spawnSync('terraform', args, { cwd: dir, env: env(), encoding: 'utf8' });
  expect(apply(['init', '-input=false']).status).toBe(0);
  expect(apply(['apply', '-auto-approve', '-input=false']).status).toBe(0);
}, 60_000);

afterAll(() => fs.rmSync(outdir, { recursive: true, force: true }));

test('list prints every resource address in the stack state', () => {
  const result = state('demo-data', 'list');
  expect(result.status).toBe(0);
  expect(result.stdout.trim().split('\n').sort()).toEqual(['terraform_data.bucket', 'terraform_data.queue']);
});

test('show prints one resource with its attributes', () => {
  const result = state('demo-data', 'show', 'terraform_data.queue');
  expect(result.status).toBe(0);
  expect(result.stdout).toContain('doc-jobs');
});

/** The failure's log line (core/cli.ts); the usage follows it. */
const errorLine = (result: ReturnType<typeof state>) => JSON.parse(result.stderr.split('\n').find((l) => l.startsWith('{'))!);

test('an unknown stack is refused, naming the stacks there are', () => {
  const result = state('prod-nothing', 'list');
  expect(result.status).toBe(2);
  expect(errorLine(result)).toMatchObject({ level: 'error', field: 'stack', msg: expect.stringMatching(/stack: "prod-nothing" .*demo-data/) });
  expect(result.stderr).toContain('usage: npm run state -- <stack> list');
});

test('an unknown command and a show without address are refused, naming the field', () => {
  const message = (result: ReturnType<typeof state>) => errorLine(result).msg;
  expect(message(state('demo-data', 'rm'))).toMatch(/command: "rm" must be list or show/);
  expect(message(state('demo-data', 'show'))).toMatch(/address: show takes exactly one/);
});

test('a stack whose state is in S3, without AWS credentials: exit 2 naming them, before terraform runs', () => {
  const dir = path.join(outdir, 'stacks', 'demo-s3');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'cdk.tf.json'), JSON.stringify({ terraform: { backend: { s3: { bucket: 'docplatform-tfstate', key: 'demo/s3.tfstate', region: 'eu-west-3' } } } }));
  const manifest = path.join(outdir, 'manifest.json');
  const stacks = JSON.parse(fs.readFileSync(manifest, 'utf8')).stacks;
  fs.writeFileSync(manifest, JSON.stringify({ stacks: { ...stacks, 'demo-s3': { workingDirectory: 'stacks/demo-s3' } } }));
  const none = { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_PROFILE: '', AWS_EC2_METADATA_DISABLED: 'true', HOME: fs.mkdtempSync(path.join(os.tmpdir(), 'no-aws-')) };
  const result = spawnSync(process.execPath, [require.resolve('tsx/cli'), 'scripts/state.ts', 'demo-s3', 'list'], { cwd: REPO_ROOT, env: { ...env(), ...none }, encoding: 'utf8' });
  // terraform init printed its own error box (No valid credential sources found) and the run was exit 1.
  expect(result.status).toBe(2);
  expect(errorLine(result)).toMatchObject({ level: 'error', field: 'credentials', msg: expect.stringContaining('aws sso login') });
  expect(result.stderr).not.toContain('No valid credential sources');
  expect(fs.existsSync(path.join(dir, '.terraform'))).toBe(false);
}, 60_000);
