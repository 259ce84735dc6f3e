import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The import rule of docs/architecture.md, enforced: each layer names the layers it may import,
 * and every relative import (static, dynamic or `require`) of every TypeScript file is checked
 * against it. Package imports are not checked here: the bundle tests bound what a Lambda carries.
 */
const ROOT = path.resolve(__dirname, '../..');
const SKIPPED = new Set(['node_modules', '.git', 'cdktf.out', '.build', 'dist', '.scratch', '.local']);

type Layer = 'contract' | 'core' | 'functions' | 'containers' | 'migrations' | 'stacks' | 'modules' | 'build' | 'scripts' | 'bench' | 'test' | 'app' | 'frontend';

/** What each layer may import (itself always). */
const ALLOWED: Record<Layer, Layer[]> = {
  contract: [],
  core: ['contract'],
  functions: ['core', 'contract'],
  containers: ['core', 'contract'],
  migrations: ['core', 'contract'],
  modules: ['contract', 'build'],
  stacks: ['contract', 'modules', 'build'],
  build: ['contract'],
  app: ['stacks', 'contract'],
  scripts: ['core', 'contract', 'functions', 'containers', 'migrations', 'stacks', 'modules', 'build'],
  bench: ['core', 'contract', 'functions', 'containers', 'migrations', 'stacks', 'modules', 'build', 'scripts', 'test'],
  test: ['core', 'contract', 'functions', 'containers', 'migrations', 'stacks', 'modules', 'build', 'scripts'],
  // The Angular client is its own npm project: the platform reaches it only as docs/api/openapi.json.
  frontend: [],
};

/** A test belongs to the test layer wherever it sits (unit tests live beside their source). */
function layerOf(rel: string): Layer | undefined {
  if (rel.endsWith('.test.ts')) return 'test';
  if (rel === 'core/contract.ts') return 'contract';
  if (rel === 'main.ts') return 'app';
  const top = rel.split('/')[0];
  return (Object.keys(ALLOWED) as Layer[]).find((l) => l === top);
}

function sources(dir = ROOT, out: string[] = []): string[] {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (SKIPPED.has(entry.name)) continue;
    const abs = path.join(dir, entry.name);
    if (entry.isDirectory()) sources(abs, out);
    else if (/\.ts$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(abs);
  }
  return out;
}

const IMPORT = /(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)(['"])(\.{1,2}\/[^'"]+)\1/gm;

function resolve(from: string, spec: string): string {
  const base = path.resolve(path.dirname(from), spec);
  for (const candidate of [base, `${base}.ts`, path.join(base, 'index.ts')]) {
    if (fs.existsSync(candidate) && fs.statSync(candidate).isFile()) return path.relative(ROOT, candidate);
  }
  return path.relative(ROOT, base);
}

/** The imports of one file that its layer may not make. */
function violationsOf(rel: string, text: string): string[] {
  const from = layerOf(rel);
  if (!from) return [];
  const found: string[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const target = resolve(path.join(ROOT, rel), m[2]);
    const to = layerOf(target);
    if (!to || to === from || ALLOWED[from].includes(to)) continue;
    found.push(`${rel} (${from}) imports ${target} (${to})`);
  }
  return found;
}

/** The service or worker folder of a runtime file (`functions/order/app.ts` → `functions/order`); none for their shared glue. */
function unitOf(rel: string): string | undefined {
  const [top, unit] = rel.split('/');
  return (top === 'functions' || top === 'containers') && unit !== 'shared' && rel.split('/').length > 2 ? `${top}/${unit}` : undefined;
}

/** Imports of one service's (or worker's) folder into another's: what two of them share lives in core/ or their shared/ folder. */
function crossUnitImportsOf(rel: string, text: string): string[] {
  const from = unitOf(rel);
  if (!from || rel.endsWith('.test.ts')) return [];
  return [...text.matchAll(IMPORT)]
    .map((m) => resolve(path.join(ROOT, rel), m[2]))
    .filter((target) => unitOf(target) !== undefined && unitOf(target) !== from)
    .map((target) => `${rel} imports ${target}`);
}

describe('import rule (docs/architecture.md)', () => {
  test('every layer imports only the layers it stands on', () => {
    const found = sources().flatMap((file) => violationsOf(path.relative(ROOT, file), fs.readFileSync(file, 'utf8')));
    expect(found).toEqual([]);
  });

  test("no service or worker imports another's folder", () => {
    const found = sources().flatMap((file) => crossUnitImportsOf(path.relative(ROOT, file), fs.readFileSync(file, 'utf8')));
    expect(found).toEqual([]);
    expect(crossUnitImportsOf('functions/gateway-b2c/app.ts', "import { CreateB2cOrder } from '../order/schemas';\n")).toEqual([
      'functions/gateway-b2c/app.ts imports functions/order/schemas',
    ]);
  });

  test('the contract imports nothing at all, not even packages', () => {
    const text = fs.readFileSync(path.join(ROOT, 'core/contract.ts'), 'utf8');
    expect(text).not.toMatch(/^\s*import\s|require\(/m);
  });

  test.each([
    ['functions/theme/app.ts', "import { environments } from '../../stacks/config';", 'stacks/config.ts (stacks)'],
    ['core/db.ts', "const t = await import('../test/support/postgres');", 'test/support/postgres.ts (test)'],
    ['containers/shared/consumer.ts', "import { LOCAL_PORTS } from '../../scripts/local/defaults';", 'scripts/local/defaults.ts (scripts)'],
    ['stacks/data.ts', "import { createDb } from '../core/db';", 'core/db.ts (core)'],
    ['modules/koa-lambda.ts', "import { readConfig } from '../core/config';", 'core/config.ts (core)'],
    ['core/config.ts', "import type { ServiceContext } from '../functions/shared/http';", 'functions/shared/http.ts (functions)'],
  ])('the rule catches %s importing what it may not', (rel, line, target) => {
    expect(violationsOf(rel, `${line}\n`)).toEqual([`${rel} (${layerOf(rel)}) imports ${target}`]);
  });
});
