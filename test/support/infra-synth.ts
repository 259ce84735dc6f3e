import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ConfigVariant } from '../../stacks/variants';

/**
 * Synthesises the cdktf app once for every jest worker (and every later run while the sources
 * are unchanged): the output is cached under the temp dir, keyed by a hash of what the app
 * reads. A directory lock lets concurrent workers wait for the one synth in progress.
 *
 * Every function takes an optional variant (stacks/variants.ts): the same
 * environments synthesised with one switch of their config turned, e.g. `aurora`; without one,
 * the committed config (main.ts).
 */
export type Variant = 'committed' | ConfigVariant;

export const REPO_ROOT = path.resolve(__dirname, '../..');
const SOURCES = ['main.ts', 'cdktf.json', 'package-lock.json', 'core', 'stacks', 'modules', 'functions', 'containers', 'build', 'scripts/synth-variant.ts'];
const SKIPPED_DIRS = new Set(['node_modules', 'cdktf.out', 'dist', '.build', '.git']);
const LOCK_STALE_MS = 180_000;
const WAIT_LIMIT_MS = 240_000;

export interface ManifestStack {
  name: string;
  dependencies: string[];
  workingDirectory: string;
  synthesizedStackPath: string;
}

function hashSources(): string {
  const hash = createHash('sha256');
  const visit = (rel: string): void => {
    const abs = path.join(REPO_ROOT, rel);
    if (!fs.existsSync(abs)) return;
    if (fs.statSync(abs).isDirectory()) {
      for (const entry of fs.readdirSync(abs).sort()) {
        if (!SKIPPED_DIRS.has(entry)) visit(path.join(rel, entry));
      }
      return;
    }
    hash.update(rel).update('\0').update(fs.readFileSync(abs)).update('\0');
  };
  SOURCES.forEach(visit);
  return hash.digest('hex').slice(0, 16);
}

const sleep = (ms: number): void => {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
};

function synthInto(outdir: string, variant: Variant): void {
  const entry = variant === 'committed' ? ['main.ts'] : ['scripts/synth-variant.ts', variant];
  try {
    execFileSync(process.execPath, [require.resolve('tsx/cli'), ...entry], {
      cwd: REPO_ROOT,
      env: { ...process.env, CDKTF_OUTDIR: outdir, CHECKPOINT_DISABLE: '1' },
      stdio: 'pipe',
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (error) {
    const { stderr, stdout } = error as { stderr?: Buffer; stdout?: Buffer };
    throw new Error(`cdktf synth (tsx ${entry.join(' ')}) failed:\n${stderr?.toString() ?? ''}${stdout?.toString() ?? ''}`);
  }
}

const cachedDirs = new Map<Variant, string>();

/** The directory holding manifest.json and stacks/<name>/cdk.tf.json of the current sources. */
export function synthDir(variant: Variant = 'committed'): string {
  const cached = cachedDirs.get(variant);
  if (cached) return cached;
  const root = path.join(os.tmpdir(), 'docplatform-synth');
  fs.mkdirSync(root, { recursive: true });
  const dir = path.join(root, variant === 'committed' ? hashSources() : `${hashSources()}-${variant}`);
  const lock = `${dir}.lock`;
  const started = Date.now();
  while (!fs.existsSync(path.join(dir, 'manifest.json'))) {
    try {
      fs.mkdirSync(lock);
    } catch {
      const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > LOCK_STALE_MS) fs.rmSync(lock, { recursive: true, force: true });
      if (Date.now() - started > WAIT_LIMIT_MS) throw new Error(`timed out waiting for the synth lock ${lock}`);
      sleep(200);
      continue;
    }
    try {
      const staging = `${dir}.tmp-${process.pid}`;
      fs.rmSync(staging, { recursive: true, force: true });
      synthInto(staging, variant);
      fs.rmSync(dir, { recursive: true, force: true });
      fs.renameSync(staging, dir);
    } finally {
      fs.rmSync(lock, { recursive: true, force: true });
    }
  }
  cachedDirs.set(variant, dir);
  return dir;
}

export function manifest(variant: Variant = 'committed'): Record<string, ManifestStack> {
  return JSON.parse(fs.readFileSync(path.join(synthDir(variant), 'manifest.json'), 'utf8')).stacks;
}

/** Every synthesised stack, in manifest order (bootstrap, then each environment's layers; a variant has no bootstrap). */
export function stackNames(variant: Variant = 'committed'): string[] {
  return Object.keys(manifest(variant));
}

/** Stacks of one layer across environments, e.g. `stacksOfLayer('data')` → dev-data, prod-data. */
export function stacksOfLayer(layer: string, variant: Variant = 'committed'): string[] {
  return stackNames(variant).filter((name) => name.endsWith(`-${layer}`));
}

/**
 * A stack of a variant as one name, `dev-data@aurora`, for the helpers that take a stack name
 * (the provider-call table, the sufficiency rows): every function here reads the variant from it.
 */
export const variantStack = (name: string, variant: Variant): string => (variant === 'committed' ? name : `${name}@${variant}`);

/** `dev-network` in the variant of `dev-compute@aurora`: `dev-network@aurora` (an upstream read from the same synth). */
export const sameVariant = (of: string, name: string): string => variantStack(name, splitName(of, 'committed')[1]);

function splitName(name: string, variant: Variant): [string, Variant] {
  const [stack, named] = name.split('@');
  return [stack, (named as Variant | undefined) ?? variant];
}

export function stackDir(nameOrVariantStack: string, variantOrDefault: Variant = 'committed'): string {
  const [name, variant] = splitName(nameOrVariantStack, variantOrDefault);
  const entry = manifest(variant)[name];
  if (!entry) throw new Error(`no synthesised stack named "${name}" in the ${variant} synth (have: ${stackNames(variant).join(', ')})`);
  return path.join(synthDir(variant), entry.workingDirectory);
}

const parsed = new Map<string, any>();

/** The parsed cdk.tf.json of a stack. */
export function synthesizedStack(nameOrVariantStack: string, variantOrDefault: Variant = 'committed'): any {
  const [name, variant] = splitName(nameOrVariantStack, variantOrDefault);
  const key = `${variant}/${name}`;
  if (!parsed.has(key)) {
    parsed.set(key, JSON.parse(fs.readFileSync(path.join(stackDir(name, variant), 'cdk.tf.json'), 'utf8')));
  }
  return parsed.get(key);
}

export interface Block {
  /** Terraform address, e.g. `aws_db_instance.db`. */
  address: string;
  name: string;
  config: any;
}

const blocks = (section: any, type: string, kind: 'resource' | 'data'): Block[] =>
  Object.entries(section?.[type] ?? {}).map(([name, config]) => ({
    address: kind === 'data' ? `data.${type}.${name}` : `${type}.${name}`,
    name,
    config,
  }));

/** The resources of one type in a stack (accepts a stack name or a parsed stack). */
export function resources(stack: string | any, type: string): Block[] {
  const json = typeof stack === 'string' ? synthesizedStack(stack) : stack;
  return blocks(json.resource, type, 'resource');
}

export function dataSources(stack: string | any, type: string): Block[] {
  const json = typeof stack === 'string' ? synthesizedStack(stack) : stack;
  return blocks(json.data, type, 'data');
}

/** Every resource of a stack, whatever its type. */
export function allResources(stack: string | any): Array<Block & { type: string }> {
  const json = typeof stack === 'string' ? synthesizedStack(stack) : stack;
  return Object.keys(json.resource ?? {}).flatMap((type) => resources(json, type).map((r) => ({ ...r, type })));
}

/** A policy document written with JSON.stringify in a stack (references stay `${...}` strings). */
export function parsePolicy(policy: string): { Statement: any[] } {
  return JSON.parse(policy);
}

/** `${aws_sqs_queue.x.arn}` → `aws_sqs_queue.x`: which resource an expression points at. */
export function referencedAddress(expression: string): string | undefined {
  const match = /^\$\{((?:data\.)?[a-z0-9_]+\.[A-Za-z0-9_-]+)[.\[}]/.exec(expression);
  return match?.[1];
}

/** The stacks a variant synthesises differently from the committed config (the others need no second check). */
export function stacksChangedBy(variant: ConfigVariant): string[] {
  return stackNames(variant).filter((name) => JSON.stringify(synthesizedStack(name, variant)) !== JSON.stringify(synthesizedStack(name)));
}
