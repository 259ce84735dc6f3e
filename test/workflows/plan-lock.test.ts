import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DeleteObjectsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { parse } from 'yaml';
import { emulatorS3Client, LocalEmulator, startLocalEmulator } from '../../scripts/local/emulator';
import { until } from '../support/workers-harness';

/**
 * A pull request's plan must never be able to stop a deploy. GitHub cancels a running plan when
 * the pull request gets a new push (plan.yml's concurrency) or when it runs past its timeout, and
 * a cancelled step's processes end with SIGKILL after 10 s: a terraform plan that holds the state
 * lock (the S3 backend's `<key>.tflock`, use_lockfile as stacks/backend.ts sets it) leaves it
 * behind, and every later deploy of that stack fails to acquire it until someone force-unlocks.
 *
 * The real terraform, with the plan arguments plan.yml gives it (TF_CLI_ARGS_plan), on an S3
 * backend in fauxqs: a plan caught mid-refresh (an upstream remote state that never answers)
 * and killed must leave no lock object in the state bucket. The same plan without those
 * arguments leaves one, which shows the check can fail.
 */
jest.setTimeout(90_000);

const REPO = resolve(__dirname, '../..');
const planArgs: string = parse(readFileSync(join(REPO, '.github/workflows/plan.yml'), 'utf8')).jobs.plan.env.TF_CLI_ARGS_plan;
const KEY = 'dev/compute.tfstate';

describe('a cancelled pull-request plan', () => {
  let emulator: LocalEmulator;
  let hanging: Server;
  let dir: string;
  const env = { ...process.env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', TF_IN_AUTOMATION: '1', TF_CLI_CONFIG_FILE: '/dev/null' };

  beforeAll(async () => {
    emulator = await startLocalEmulator({ buckets: ['state'] });
    // An upstream stack's state that never comes: the plan waits there, holding whatever it holds.
    hanging = createServer(() => undefined);
    await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
    dir = mkdtempSync(join(tmpdir(), 'plan-lock-'));
    writeFileSync(
      join(dir, 'main.tf.json'),
      JSON.stringify({
        terraform: {
          backend: {
            s3: {
              bucket: 'state',
              key: KEY,
              region: 'eu-west-3',
              use_lockfile: true,
              use_path_style: true,
              endpoints: { s3: emulator.endpoint },
              skip_credentials_validation: true,
              skip_requesting_account_id: true,
              skip_metadata_api_check: true,
              skip_region_validation: true,
            },
          },
        },
        data: { terraform_remote_state: { upstream: { backend: 'http', config: { address: `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/state` } } } },
        resource: { terraform_data: { reads: { input: '${data.terraform_remote_state.upstream.outputs}' } } },
      }),
    );
    const init = spawnSync('terraform', ['init', '-input=false', '-no-color'], { cwd: dir, env, encoding: 'utf8' });
    expect(init.stdout + init.stderr).toContain('Terraform has been successfully initialized');
  });
  afterAll(async () => {
    hanging?.closeAllConnections();
    await new Promise<void>((r) => (hanging ? hanging.close(() => r()) : r()));
    await emulator?.stop();
  });

  afterEach(async () => {
    const keys = await stateObjects();
    if (keys.length === 0) return;
    const s3 = emulatorS3Client(emulator.endpoint);
    try {
      await s3.send(new DeleteObjectsCommand({ Bucket: 'state', Delete: { Objects: keys.map((Key) => ({ Key })) } }));
    } finally {
      s3.destroy();
    }
  });

  const stateObjects = async (): Promise<string[]> => {
    const s3 = emulatorS3Client(emulator.endpoint);
    try {
      return ((await s3.send(new ListObjectsV2Command({ Bucket: 'state' }))).Contents ?? []).map((o) => o.Key!);
    } finally {
      s3.destroy();
    }
  };

  /** A plan with these TF_CLI_ARGS_plan, killed once it waits on the upstream state; the state bucket's objects then. */
  const killedPlan = async (args: string | undefined): Promise<string[]> => {
    let output = '';
    const plan: ChildProcess = spawn('terraform', ['plan', '-input=false', '-no-color'], { cwd: dir, env: { ...env, TF_CLI_ARGS_plan: args ?? '' } });
    plan.stdout!.on('data', (b: Buffer) => (output += b.toString()));
    plan.stderr!.on('data', (b: Buffer) => (output += b.toString()));
    const exited = new Promise<void>((r) => plan.once('exit', () => r()));
    await until(() => output.includes('data.terraform_remote_state.upstream: Reading...'), 30_000, `the plan to read the upstream state (${output})`);
    plan.kill('SIGKILL');
    await exited;
    return stateObjects();
  };

  test(`with plan.yml's TF_CLI_ARGS_plan (${planArgs}), a plan killed mid-run leaves no state lock`, async () => {
    expect(await killedPlan(planArgs)).not.toContain(`${KEY}.tflock`);
  });

  test('without it, the same killed plan leaves the lock that every deploy of the stack would then wait on', async () => {
    expect(await killedPlan(undefined)).toContain(`${KEY}.tflock`);
  });
});
