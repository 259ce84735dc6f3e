import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A small front-end build as Angular's esbuild builder lays one out (hashed bundles, an
 * index.html that loads them, unhashed assets), for the edge and publish tests.
 */
export const FIXTURE_FILES: Record<string, string> = {
  'index.html': '<!doctype html><html><head><link rel="stylesheet" href="styles-5INURTSO.css"></head><body><app-root></app-root><script src="main-X7KQ2ZPA.js" type="module"></script></body></html>\n',
  'main-X7KQ2ZPA.js': 'console.log("app");\n',
  'styles-5INURTSO.css': 'body { margin: 0; }\n',
  'favicon.ico': '\u0000\u0000\u0001\u0000',
  'media/logo-ABCD2345.svg': '<svg xmlns="http://www.w3.org/2000/svg"/>\n',
};

export function writeFrontendFixture(): string {
  const dir = mkdtempSync(join(tmpdir(), 'frontend-dist-'));
  for (const [key, text] of Object.entries(FIXTURE_FILES)) {
    mkdirSync(join(dir, key, '..'), { recursive: true });
    writeFileSync(join(dir, key), text);
  }
  return dir;
}
