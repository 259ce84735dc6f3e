import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  AWS_PROVIDER,
  AWS_PROVIDER_VERSION,
  cliConfig,
  findProviderMirror,
  harnessOverride,
  mockedRemoteStates,
  mockVariables,
  prepareStack,
  terraformToolchain,
  validate,
} from '../support/infra-terraform';
import { synthDir, synthesizedStack } from '../support/infra-synth';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'harness-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const platform = `${process.platform}_${process.arch === 'x64' ? 'amd64' : process.arch}`;

test('a mirror is used only when it holds the pinned AWS provider for this platform', () => {
  const empty = path.join(tmp, 'empty');
  const other = path.join(tmp, 'other-version');
  const good = path.join(tmp, 'good');
  fs.mkdirSync(empty);
  fs.mkdirSync(path.join(other, AWS_PROVIDER, '5.0.0', platform), { recursive: true });
  fs.mkdirSync(path.join(good, AWS_PROVIDER, AWS_PROVIDER_VERSION, platform), { recursive: true });
  expect(findProviderMirror([empty, other])).toBeUndefined();
  expect(findProviderMirror([empty, other, good])).toBe(good);
});

test('the CLI config installs the AWS provider from the mirror only when there is one', () => {
  const withMirror = cliConfig('/mirror', '/cache');
  expect(withMirror).toContain('filesystem_mirror');
  expect(withMirror).toContain('path    = "/mirror"');
  expect(withMirror).toContain(`exclude = ["${AWS_PROVIDER}"]`);
  expect(withMirror).not.toContain('plugin_cache_dir');
  const withoutMirror = cliConfig(undefined, '/cache');
  expect(withoutMirror).not.toContain('provider_installation');
  expect(withoutMirror).toContain('plugin_cache_dir = "/cache"');
});

test('terraform runs with a CLI config of its own (never a missing TF_CLI_CONFIG_FILE) and fake credentials', () => {
  const { env } = terraformToolchain();
  expect(fs.existsSync(env.TF_CLI_CONFIG_FILE!)).toBe(true);
  expect(env.AWS_ACCESS_KEY_ID).toBe('test');
  expect(env.AWS_PROFILE).toBeUndefined();
});

test('the override swaps the S3 backend for a local one and adds the skip flags, leaving the stack untouched', () => {
  const stack = synthesizedStack('dev-data');
  const override: any = harnessOverride(stack);
  expect(override.terraform.backend).toEqual({ local: { path: 'harness.tfstate' } });
  expect(override.provider.aws[0]).toMatchObject({ skip_credentials_validation: true, skip_requesting_account_id: true });
  expect(stack.terraform.backend.s3).toBeDefined();
  expect(JSON.stringify(stack)).not.toContain('skip_credentials_validation');
});

test('mocked remote state answers every output the upstream stack exports, in a usable shape', () => {
  const states = mockedRemoteStates('dev-data');
  const outputs = states['cross-stack-reference-input-dev-network'];
  expect(Object.keys(outputs).sort()).toEqual(Object.keys(synthesizedStack('dev-network').output).sort());
  for (const [name, value] of Object.entries(outputs)) {
    if (name.endsWith('arn')) expect(value).toMatch(/^arn:aws:/);
  }
});

test('input variables without default get a value (compute image tag)', () => {
  expect(mockVariables({ variable: { image_tag: { type: 'string' }, with_default: { type: 'string', default: 'x' } } })).toEqual({ image_tag: 'harness-test' });
});

test('synth runs once: later calls reuse the same output', () => {
  expect(synthDir()).toBe(synthDir());
  expect(fs.existsSync(path.join(synthDir(), 'manifest.json'))).toBe(true);
});

test('terraform validate fails on a broken stack (the checks can fail)', async () => {
  const ws = await prepareStack('dev-network');
  try {
    const file = path.join(ws.dir, 'cdk.tf.json');
    const stack = JSON.parse(fs.readFileSync(file, 'utf8'));
    stack.resource.aws_vpc.vpc.cidr_blocks_typo = '10.0.0.0/16';
    fs.writeFileSync(file, JSON.stringify(stack));
    const result = await validate(ws);
    expect(result.code).not.toBe(0);
    expect(result.output).toMatch(/cidr_blocks_typo/);
  } finally {
    ws.dispose();
  }
}, 60_000);
