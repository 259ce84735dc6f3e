import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Logger } from '../../core/logger';
import { synthesizedStacksOf } from './terraformInput';

export const REPO_ROOT = resolve(__dirname, '..', '..');
/** The output the CLIs read unless told otherwise. */
export const DEFAULT_OUT_DIR = join(REPO_ROOT, 'cdktf.out');
/** What the synthesised stacks are made from: output older than any of these may describe the wrong platform. */
const STACK_SOURCES = ['main.ts', 'cdktf.json', 'stacks', 'modules', 'scripts/synth-variant.ts'];

function newestMtimeMs(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((entry) => newestMtimeMs(join(path, entry))));
}

/** True when the output in `outDir` misses a layer of the environment or predates a change to the stacks. */
export function needsSynthesis(outDir: string, env: string): boolean {
  const layers = synthesizedStacksOf(outDir, env).map((s) => s.layer);
  if (!['network', 'data', 'compute', 'edge'].every((layer) => layers.includes(layer))) return true;
  const manifest = join(outDir, 'manifest.json');
  if (!existsSync(manifest)) return true;
  const sources = STACK_SOURCES.map((p) => join(REPO_ROOT, p)).filter(existsSync);
  return statSync(manifest).mtimeMs < Math.max(...sources.map(newestMtimeMs));
}

/** Synthesises main.ts, or with a variant scripts/synth-variant.ts (stacks/variants.ts), into `outDir`. */
export function synthesize(outDir: string, log: Logger, variant?: string): void {
  log.info('synthesizing the stacks', { outDir, ...(variant ? { variant } : {}) });
  mkdirSync(outDir, { recursive: true });
  const entry = variant ? ['scripts/synth-variant.ts', variant] : ['main.ts'];
  const result = spawnSync('npx', ['tsx', ...entry], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, CDKTF_OUTDIR: outDir }, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`synthesis failed (npx tsx ${entry.join(' ')}):\n${result.stderr}`);
}
