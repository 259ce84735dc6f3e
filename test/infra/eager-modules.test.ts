import { execFileSync } from 'node:child_process';
import { build } from 'esbuild';
import * as fs from 'node:fs';
import { SourceMap } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { eagerModuleFactories } from '../../build/eager-modules';

/**
 * build/eager-modules.ts on a bundle of three CommonJS modules, minified as the functions are:
 * the factories become parenthesised function expressions (one with a bare parameter, one with
 * two), the one that reads its own `arguments` stays an arrow, the bundle prints what it printed,
 * and the source map still maps each token to where it came from.
 */
let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'eager-modules-'));
  const files: Record<string, string> = {
    'a.js': "const b = require('./b');\nmodule.exports = function greet(name) { return `hello ${name} ${b.kind}`; };\n",
    'b.js': 'exports.kind = typeof arguments;\nexports.self = this === module.exports;\n',
    'c.js': 'exports.n = 1;\n',
    'entry.js': "const greet = require('./a');\nconst c = require('./c');\nconsole.log(JSON.stringify({ out: greet('x'), self: require('./b').self, n: c.n }));\n",
  };
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Every mapping of a one-line bundle: the original position and the generated character it starts at. */
function mappings(file: string): string[] {
  const code = fs.readFileSync(file, 'utf8').split('\n')[0];
  const map = new SourceMap(JSON.parse(fs.readFileSync(`${file}.map`, 'utf8')));
  const out: string[] = [];
  for (let column = 0; column < code.length; column++) {
    const entry = map.findEntry(0, column) as { generatedColumn?: number; originalSource: string; originalLine: number; originalColumn: number };
    if (entry.generatedColumn === column) out.push(`${path.basename(entry.originalSource)}:${entry.originalLine}:${entry.originalColumn} ${code[column]}`);
  }
  return out;
}

test('module factories are compiled with the script, the bundle runs as before and its source map follows', async () => {
  const outfile = path.join(dir, 'out.js');
  await build({ entryPoints: [path.join(dir, 'entry.js')], bundle: true, platform: 'node', format: 'cjs', minify: true, sourcemap: 'linked', outfile, logLevel: 'silent' });
  const before = { output: execFileSync(process.execPath, [outfile]).toString(), mappings: mappings(outfile) };

  expect(eagerModuleFactories(outfile)).toBe(2);

  const code = fs.readFileSync(outfile, 'utf8');
  expect(code.match(/\(\(function\([\w$]+(,[\w$]+)?\)\{/g)).toHaveLength(2);
  // b.js reads its own `arguments` (the script's, from an arrow): left as it was.
  expect(code).toMatch(/\(\([\w$]+,[\w$]+\)=>\{[\w$]+\.kind=typeof arguments/);
  expect(execFileSync(process.execPath, [outfile]).toString()).toBe(before.output);
  expect(JSON.parse(before.output)).toEqual({ out: 'hello x object', self: true, n: 1 });
  const after = mappings(outfile);
  expect(after.length).toBeGreaterThan(10);
  expect(after).toEqual(before.mappings);
});

test('a bundle without CommonJS modules is left as it is', async () => {
  const entry = path.join(dir, 'esm.mjs');
  fs.writeFileSync(entry, 'export const answer = 42;\nconsole.log(answer);\n');
  const outfile = path.join(dir, 'esm-out.js');
  await build({ entryPoints: [entry], bundle: true, platform: 'node', format: 'cjs', minify: true, sourcemap: 'linked', outfile, logLevel: 'silent' });
  const code = fs.readFileSync(outfile, 'utf8');
  expect(eagerModuleFactories(outfile)).toBe(0);
  expect(fs.readFileSync(outfile, 'utf8')).toBe(code);
});
