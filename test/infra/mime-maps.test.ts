import { execFileSync } from 'node:child_process';
import { build } from 'esbuild';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { extendBase, REPO_ROOT } from '../../build/esbuild-base';
import { lazyMimeMaps } from '../../build/functions';

/**
 * `lazyMimeMaps` (build/functions.ts): both copies of mime-types a function bundles (koa's 3.x,
 * accepts' 2.x) fill their tables on the first read instead of at load, and answer exactly what
 * the same bundle without the patch answers.
 */
let dir: string;

const ENTRY = `
const copies = { koa: require('mime-types'), accepts: require('accepts/node_modules/mime-types') };
const out = {};
for (const [name, mime] of Object.entries(copies)) {
  const lazy = typeof Object.getOwnPropertyDescriptor(mime, 'types').get === 'function';
  out[name] = {
    lazy,
    contentTypes: ['json', 'html', 'application/json', 'text/plain', 'file.csv'].map((t) => mime.contentType(t)),
    lookups: ['json', 'x.pdf', 'a/b.mp4', 'woff2', 'nope'].map((t) => mime.lookup(t)),
    extensions: ['text/html', 'application/json', 'image/svg+xml', 'application/x-nope'].map((t) => mime.extension(t)),
    charsets: ['text/html', 'application/json', 'image/png'].map((t) => mime.charset(t)),
    types: mime.types,
    byType: mime.extensions,
  };
}
console.log(JSON.stringify(out));
`;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mime-maps-'));
  fs.writeFileSync(path.join(dir, 'entry.js'), ENTRY);
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function run(name: string, plugins: NonNullable<Parameters<typeof extendBase>[0]['plugins']>) {
  const outfile = path.join(dir, name, 'out.js');
  await build(extendBase({ entryPoints: [path.join(dir, 'entry.js')], outfile, nodePaths: [path.join(REPO_ROOT, 'node_modules')], plugins }));
  return JSON.parse(execFileSync(process.execPath, [outfile]).toString());
}

test('both mime-types copies fill their tables on first read, with the entries they filled at load', async () => {
  const [eager, lazy] = await Promise.all([run('eager', []), run('lazy', [lazyMimeMaps])]);
  for (const copy of ['koa', 'accepts']) {
    expect(eager[copy].lazy).toBe(false);
    expect(lazy[copy].lazy).toBe(true);
    expect(Object.keys(lazy[copy].types).length).toBeGreaterThan(1000);
    expect({ ...lazy[copy], lazy: undefined }).toEqual({ ...eager[copy], lazy: undefined });
  }
  expect(lazy.koa.contentTypes[0]).toBe('application/json; charset=utf-8');
}, 30_000);
