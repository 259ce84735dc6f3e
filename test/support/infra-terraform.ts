import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { manifest, stackDir, synthesizedStack, Variant } from './infra-synth';

/**
 * Runs terraform on synthesised stacks without an AWS account. Each run works on a copy of
 * the stack directory in a temp dir (parallel runs never share `.terraform`), with an
 * override file that swaps the S3 backend for a local one and adds the provider skip flags:
 * the committed stacks stay untouched. Offline through a local provider mirror when one is
 * found, through the registry otherwise.
 */

export const AWS_PROVIDER = 'registry.terraform.io/hashicorp/aws';
export const AWS_PROVIDER_VERSION = '5.100.0';
const MOCK_ACCOUNT = '123456789012';
const MOCK_REGION = 'eu-west-3';

export interface TerraformResult {
  command: string;
  code: number;
  output: string;
  ms: number;
}

/** Where terraform looks for plugins on its own (implied mirrors), plus this machine's layout. */
export function mirrorCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  const home = os.homedir();
  const dataDirs = (env.XDG_DATA_DIRS ?? '/usr/local/share:/usr/share').split(':').filter(Boolean);
  return [
    env.TF_PLUGIN_MIRROR,
    path.join(home, '.terraform.d', 'plugins'),
    path.join(env.XDG_DATA_HOME ?? path.join(home, '.local', 'share'), 'terraform', 'plugins'),
    ...dataDirs.map((dir) => path.join(dir, 'terraform', 'plugins')),
    '/opt/tf-plugins',
  ].filter((dir): dir is string => Boolean(dir));
}

const platform = (): string => `${process.platform}_${process.arch === 'x64' ? 'amd64' : process.arch}`;

/** The first mirror holding the pinned AWS provider for this platform, if any. */
export function findProviderMirror(candidates: string[] = mirrorCandidates()): string | undefined {
  return candidates.find((dir) => fs.existsSync(path.join(dir, AWS_PROVIDER, AWS_PROVIDER_VERSION, platform())));
}

/**
 * CLI config text: the mirror for the AWS provider (and the registry for anything else), or a
 * plugin cache. Not both: from an unpacked mirror `init` links the provider itself, while a cache
 * in front of it was re-linked by one stack's `init` while another stack's `validate` read
 * through it ("could not read package directory").
 */
export function cliConfig(mirror: string | undefined, pluginCacheDir: string): string {
  if (!mirror) return `plugin_cache_dir = ${JSON.stringify(pluginCacheDir)}\n`;
  return `provider_installation {
  filesystem_mirror {
    path    = ${JSON.stringify(mirror)}
    include = [${JSON.stringify(AWS_PROVIDER)}]
  }
  direct {
    exclude = [${JSON.stringify(AWS_PROVIDER)}]
  }
}
`;
}

interface Toolchain {
  env: NodeJS.ProcessEnv;
  mirror: string | undefined;
  root: string;
}

let toolchain: Toolchain | undefined;

/**
 * One CLI config per process, and a plugin cache when there is no mirror (so the registry's
 * 700 MB provider is downloaded once, not into every stack). The machine may point
 * TF_CLI_CONFIG_FILE at a file that does not exist; ours always replaces it.
 */
export function terraformToolchain(): Toolchain {
  if (toolchain) return toolchain;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'docplatform-tf-'));
  const pluginCache = path.join(os.tmpdir(), 'docplatform-tf-plugin-cache');
  const mirror = findProviderMirror();
  if (!mirror) fs.mkdirSync(pluginCache, { recursive: true });
  const configFile = path.join(root, 'terraform.rc');
  fs.writeFileSync(configFile, cliConfig(mirror, pluginCache));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TF_CLI_CONFIG_FILE: configFile,
    TF_IN_AUTOMATION: '1',
    TF_INPUT: '0',
    CHECKPOINT_DISABLE: '1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_REGION: MOCK_REGION,
    AWS_EC2_METADATA_DISABLED: 'true',
  };
  for (const name of ['AWS_PROFILE', 'AWS_SESSION_TOKEN', 'TF_PLUGIN_CACHE_DIR', 'TF_DATA_DIR', 'TF_WORKSPACE']) delete env[name];
  toolchain = { env, mirror, root };
  return toolchain;
}

export function terraform(dir: string, args: string[]): Promise<TerraformResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn('terraform', [...args, '-no-color'], { cwd: dir, env: terraformToolchain().env });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ command: `terraform ${args.join(' ')}`, code: code ?? 1, output, ms: Date.now() - started }),
    );
  });
}

async function withLock<T>(lock: string, fn: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      fs.mkdirSync(lock);
      break;
    } catch {
      const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 300_000) fs.rmSync(lock, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

/** Provider skip flags and a local backend, written next to the copied stack only. */
export function harnessOverride(stack: any): object {
  const providers: any[] = stack.provider?.aws ?? [];
  const flags = {
    skip_credentials_validation: true,
    skip_requesting_account_id: true,
    skip_metadata_api_check: 'true',
    skip_region_validation: true,
  };
  const override: any = {
    provider: { aws: providers.map((p) => (p.alias ? { alias: p.alias, ...flags } : flags)) },
  };
  if (stack.terraform?.backend) override.terraform = { backend: { local: { path: 'harness.tfstate' } } };
  return override;
}

/** Values for the stack's input variables that have no default (e.g. the compute image tag). */
export function mockVariables(stack: any): Record<string, unknown> {
  const byType = (type: unknown): unknown => {
    const t = String(type ?? 'string');
    if (t === 'number') return 1;
    if (t === 'bool') return true;
    if (t.startsWith('list') || t.startsWith('set') || t.startsWith('${list') || t.startsWith('${set')) return [];
    if (t.startsWith('map') || t.startsWith('${map') || t.startsWith('object') || t.startsWith('${object')) return {};
    return 'harness-test';
  };
  return Object.fromEntries(
    Object.entries<any>(stack.variable ?? {})
      .filter(([, def]) => !('default' in def))
      .map(([name, def]) => [name, byType(def.type)]),
  );
}

export interface Workspace {
  name: string;
  variant: Variant;
  dir: string;
  dispose(): void;
}

export interface StackOptions {
  /**
   * A Terraform override file (JSON) laid over the copy, e.g. `{ locals: { … } }` for values the
   * committed config leaves as placeholders (the bootstrap's GitHub ids).
   */
  override?: object;
  /** The stack as synthesised under a config variant (stacks/variants.ts); default: as committed. */
  variant?: Variant;
}

/** A private copy of a synthesised stack, initialised (local backend, mirror or registry). */
export async function prepareStack(name: string, options: StackOptions = {}): Promise<Workspace & { init: TerraformResult }> {
  const { root } = terraformToolchain();
  const variant = options.variant ?? 'committed';
  const stack = synthesizedStack(name, variant);
  const dir = fs.mkdtempSync(path.join(root, `${name}-`));
  fs.cpSync(stackDir(name, variant), dir, { recursive: true, filter: (src) => !src.includes(`${path.sep}.terraform`) });
  fs.writeFileSync(path.join(dir, 'harness_override.tf.json'), JSON.stringify(harnessOverride(stack), null, 2));
  if (options.override) fs.writeFileSync(path.join(dir, 'harness_options_override.tf.json'), JSON.stringify(options.override, null, 2));
  fs.writeFileSync(path.join(dir, 'harness.auto.tfvars.json'), JSON.stringify(mockVariables(stack), null, 2));
  // Terraform's plugin cache is not safe for concurrent installs; init takes under a second.
  const init = await withLock(path.join(os.tmpdir(), 'docplatform-tf-init.lock'), () => terraform(dir, ['init', '-input=false']));
  return { name, variant, dir, init, dispose: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

export const validate = (ws: Workspace) => terraform(ws.dir, ['validate']);

/** Plain offline plan: only for stacks without data sources (nothing to read from AWS). */
export const plan = (ws: Workspace) => terraform(ws.dir, ['plan', '-input=false', '-lock=false', '-refresh=false']);

/** How a stack is planned without AWS: plainly, or under `terraform test` with mocks. */
export function planMode(name: string, variant: Variant = 'committed'): 'plan' | 'test' {
  const data = synthesizedStack(name, variant).data ?? {};
  return Object.keys(data).length === 0 ? 'plan' : 'test';
}

const lastAttribute = (expression: unknown): string => {
  const match = /([A-Za-z0-9_]+)\}$/.exec(String(expression));
  return match ? match[1] : '';
};

/** A value of the right shape for a mocked upstream output, derived from what it points at. */
export function mockOutputValue(outputName: string, expression: unknown): unknown {
  const attribute = lastAttribute(expression);
  const slug = outputName.replace(/[^A-Za-z0-9-]/g, '-').toLowerCase();
  if (String(expression).startsWith('${[') || /_ids$/.test(attribute)) return [`mock-${slug}`];
  if (attribute === 'port') return 5432;
  if (attribute === 'arn' || attribute.endsWith('_arn')) return `arn:aws:mock:${MOCK_REGION}:${MOCK_ACCOUNT}:mock/${slug}`;
  if (attribute === 'url') return `https://mock.${MOCK_REGION}.amazonaws.com/${MOCK_ACCOUNT}/${slug}`;
  return `mock-${slug}`;
}

const REMOTE_STATE_PREFIX = 'cross-stack-reference-input-';

/** The outputs each `terraform_remote_state` of a stack would return, mocked from the upstream stack. */
export function mockedRemoteStates(name: string, overrides: Record<string, unknown> = {}, variant: Variant = 'committed'): Record<string, Record<string, unknown>> {
  const states = synthesizedStack(name, variant).data?.terraform_remote_state ?? {};
  const known = manifest(variant);
  return Object.fromEntries(
    Object.keys(states).map((source) => {
      const upstream = source.startsWith(REMOTE_STATE_PREFIX) ? source.slice(REMOTE_STATE_PREFIX.length) : '';
      if (!known[upstream]) throw new Error(`${name}: cannot tell which stack ${source} reads`);
      const outputs = synthesizedStack(upstream, variant).output ?? {};
      return [
        source,
        Object.fromEntries(
          Object.entries<any>(outputs).map(([output, def]) => [output, overrides[output] ?? mockOutputValue(output, def.value)]),
        ),
      ];
    }),
  );
}

const hcl = (value: unknown): string => JSON.stringify(value);

/** A `terraform test` file: mocked AWS provider, remote state outputs given, one planning run. */
export function tftest(name: string, overrides: Record<string, unknown> = {}, variant: Variant = 'committed'): string {
  const states = mockedRemoteStates(name, overrides, variant);
  const overridesHcl = Object.entries(states)
    .map(([source, outputs]) => {
      const lines = Object.entries(outputs).map(([key, value]) => `      ${hcl(key)} = ${hcl(value)}`);
      return `override_data {\n  target = data.terraform_remote_state.${source}\n  values = {\n    outputs = {\n${lines.join('\n')}\n    }\n  }\n}\n`;
    })
    .join('\n');
  const variables = Object.entries(mockVariables(synthesizedStack(name, variant)))
    .map(([key, value]) => `  ${key} = ${hcl(value)}\n`)
    .join('');
  return `mock_provider "aws" {}\n\nvariables {\n${variables}}\n\n${overridesHcl}\nrun "plan_offline" {\n  command = plan\n}\n`;
}

/** Plans the stack under `terraform test` with `mock_provider` and mocked remote state. */
export async function testPlan(ws: Workspace, overrides: Record<string, unknown> = {}): Promise<TerraformResult> {
  const testsDir = path.join(ws.dir, 'tests');
  fs.mkdirSync(testsDir, { recursive: true });
  fs.writeFileSync(path.join(testsDir, 'harness.tftest.hcl'), tftest(ws.name, overrides, ws.variant));
  return terraform(ws.dir, ['test']);
}

/** Runs `fn` over `items` with at most `limit` at a time (terraform is CPU-heavy on 2 cores). */
export async function inPool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export interface StackCheck {
  name: string;
  variant: Variant;
  mode: 'plan' | 'test';
  init: TerraformResult;
  validate: TerraformResult;
  plan: TerraformResult;
}

/** init → validate → plan (plain or under `terraform test`) on a private copy of a stack. */
export async function checkStack(name: string, options: StackOptions = {}): Promise<StackCheck> {
  const ws = await prepareStack(name, options);
  try {
    const { variant } = ws;
    const mode = planMode(name, variant);
    const skipped = (command: string): TerraformResult => ({ command, code: -1, output: 'not run: init failed', ms: 0 });
    if (ws.init.code !== 0) return { name, variant, mode, init: ws.init, validate: skipped('validate'), plan: skipped(mode) };
    const validation = await validate(ws);
    const planned = mode === 'plan' ? await plan(ws) : await testPlan(ws);
    return { name, variant, mode, init: ws.init, validate: validation, plan: planned };
  } finally {
    ws.dispose();
  }
}

/** A readable failure: the command and the tail of its output. */
export function describeRun(result: TerraformResult): string {
  return `${result.command} exited ${result.code} after ${result.ms} ms\n${result.output.slice(-4000)}`;
}
