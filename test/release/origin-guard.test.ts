import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { CreateBucketCommand, DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Testing } from 'cdktf';
import { EDGE_HEADERS } from '../../core/contract';
import { RegionalWebAcl } from '../../modules/web-acl';
import { emulatorS3Client, startLocalEmulator, LocalEmulator } from '../../scripts/local/emulator';
import { deployedPatternSetArns, originVerdict, readState } from '../../scripts/release/origin-guard';
import { stateKey } from '../../stacks/backend';
import { bootstrap, dev } from '../../stacks/config';

/**
 * The smoke test through CloudFront is skipped only in the first-time setup (no origin secret
 * yet, the API refusing everyone): the deploy first reads the web ACL that runs now, from the
 * compute state in S3 (fauxqs here, through the real SDK), and stops when this commit's config
 * drops a pattern set the deployed ACL checks.
 */

const REPO = resolve(__dirname, '../..');
const ARN = 'arn:aws:wafv2:eu-west-3:123456789012:regional/regexpatternset/docplatform-dev-origin-verify/0a1b2c3d';

/** The web ACL block as the module synthesises it. */
function synthesisedAcl(patternSetArn: string | undefined): Record<string, unknown> {
  const out = JSON.parse(
    Testing.synthScope((scope) => {
      new RegionalWebAcl(scope, 'waf', {
        name: 'docplatform-dev-api',
        rateLimitPer5Min: dev.api.wafRateLimitPer5Min,
        resourceArn: 'arn:aws:apigateway:eu-west-3::/restapis/abc123/stages/v1',
        clientIpHeader: EDGE_HEADERS.clientIp,
        originVerify: { headerName: EDGE_HEADERS.originVerify, patternSetArn },
      });
    }),
  );
  return Object.values<Record<string, unknown>>(out.resource.aws_wafv2_web_acl)[0];
}

/** Terraform state keeps every nested block as a list of objects: the configuration's blocks, each wrapped so. */
const asStateAttributes = (node: unknown): unknown => {
  if (Array.isArray(node)) return node.map(asStateAttributes);
  if (typeof node !== 'object' || node === null) return node;
  return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, typeof v === 'object' && v !== null && !Array.isArray(v) ? [asStateAttributes(v)] : asStateAttributes(v)]));
};

const stateWith = (patternSetArn: string | undefined) => ({
  version: 4,
  terraform_version: '1.11.4',
  resources: [
    { mode: 'managed', type: 'aws_lambda_alias', name: 'live', instances: [{ attributes: { name: 'live', arn: 'arn:aws:lambda:eu-west-3:123456789012:function:docplatform-dev-order:live' } }] },
    { mode: 'managed', type: 'aws_wafv2_web_acl', name: 'waf_acl', instances: [{ attributes: asStateAttributes(synthesisedAcl(patternSetArn)) }] },
  ],
});

test('the deployed pattern set is read out of the web ACL’s rules, and nothing else’s ARNs', () => {
  expect(deployedPatternSetArns(stateWith(ARN))).toEqual([ARN]);
  expect(deployedPatternSetArns(stateWith(undefined))).toEqual([]);
  expect(deployedPatternSetArns({ version: 4, resources: [] })).toEqual([]);
});

test('skipping is the first-time setup only: a deployed pattern set the config dropped stops the deploy', () => {
  expect(originVerdict(ARN, stateWith(undefined))).toEqual({ kind: 'set', arn: ARN });
  expect(originVerdict(ARN, undefined)).toEqual({ kind: 'set', arn: ARN });
  expect(originVerdict(undefined, undefined)).toEqual({ kind: 'bootstrap', deployed: 'no state' });
  expect(originVerdict(undefined, stateWith(undefined))).toEqual({ kind: 'bootstrap', deployed: 'no pattern set' });
  expect(originVerdict(undefined, stateWith(ARN))).toEqual({ kind: 'dropped', deployed: ARN });
});

describe('the state in S3, and the CLI the deploy runs', () => {
  let emulator: LocalEmulator;
  let s3: S3Client;
  const key = stateKey('dev', 'compute');
  const put = (body: string) => s3.send(new PutObjectCommand({ Bucket: bootstrap.stateBucketName, Key: key, Body: body }));

  const origin = (env: Record<string, string> = {}): Promise<{ code: number; lines: Array<Record<string, any>>; stdout: string }> =>
    new Promise((done) => {
      execFile(
        process.execPath,
        [require.resolve('tsx/cli'), 'scripts/release/aliases.ts', 'origin', '--env', 'dev'],
        {
          cwd: REPO,
          env: { ...process.env, AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local', AWS_MAX_ATTEMPTS: '1', AWS_ENDPOINT_URL_S3: emulator.endpoint, GITHUB_ACTIONS: '', ...env },
        },
        (error, stdout) => done({ code: error ? Number(error.code ?? 1) : 0, lines: stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)), stdout }),
      );
    });

  beforeAll(async () => {
    emulator = await startLocalEmulator({ buckets: [] });
    s3 = emulatorS3Client(emulator.endpoint);
    await s3.send(new CreateBucketCommand({ Bucket: bootstrap.stateBucketName }));
  }, 60_000);

  afterAll(async () => {
    s3?.destroy();
    await emulator?.stop();
  });

  beforeEach(async () => {
    await s3.send(new DeleteObjectCommand({ Bucket: bootstrap.stateBucketName, Key: key }));
  });

  test('readState: no object is no state; an object is parsed; anything but JSON is an error naming it', async () => {
    expect(await readState(s3, bootstrap.stateBucketName, key)).toBeUndefined();
    await put(JSON.stringify(stateWith(ARN)));
    expect(deployedPatternSetArns(await readState(s3, bootstrap.stateBucketName, key))).toEqual([ARN]);
    await put('<html>');
    await expect(readState(s3, bootstrap.stateBucketName, key)).rejects.toThrow(`s3://${bootstrap.stateBucketName}/${key} is not a Terraform state`);
  });

  // dev's committed config has no pattern set yet (it is set at first-time step 9).
  test('dev without a pattern set: a warning while nothing deployed checks one, exit 1 once the deployed ACL does', async () => {
    expect(dev.api.originVerifyPatternSetArn).toBeUndefined();
    const first = await origin({ GITHUB_ACTIONS: 'true', GITHUB_STEP_SUMMARY: '' });
    expect(first.code).toBe(0);
    expect(first.lines.find((l) => l.msg === 'origin-secret-unset')).toMatchObject({ level: 'warn', deployed: 'no state' });
    expect(first.stdout).toMatch(/^::warning title=No origin secret in dev%3A the smoke test will be skipped::/m);

    await put(JSON.stringify(stateWith(undefined)));
    const beforeStep9 = await origin();
    expect(beforeStep9.code).toBe(0);
    expect(beforeStep9.lines.find((l) => l.msg === 'origin-secret-unset')).toMatchObject({ deployed: 'no pattern set' });

    await put(JSON.stringify(stateWith(ARN)));
    const dropped = await origin();
    expect(dropped.code).toBe(1);
    expect(dropped.lines.find((l) => l.msg === 'origin-secret-dropped')).toMatchObject({ level: 'error', deployed: ARN, reason: expect.stringContaining('Put the ARN back') });
  });

  test('a state bucket that cannot be read fails the step, never reads as "no state"', async () => {
    const unreadable = await origin({ AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9' });
    expect(unreadable.code).toBe(1);
    expect(unreadable.lines.some((l) => l.msg === 'origin-secret-unset')).toBe(false);
  });
});
