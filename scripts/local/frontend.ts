import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { OPENAPI_PATH } from '../openapi/document';

/**
 * The reference Angular client in `frontend/` (its own package.json and lock), built the way the
 * local edge serves it: `ng build` into `frontend/dist/browser`. `npm run dev` and the browser
 * test call `ensureFrontendBuild`, which installs the client's packages when they are missing or
 * older than its lock (`npm ci --prefix frontend`) and builds only when the output is missing or
 * older than anything it is built from, the OpenAPI document its API client is generated from
 * included.
 */
/** Set to `off`, `npm run dev` serves `frontend/dist/browser` as it is: the tests that start it do, the browser test building the client itself. */
export const FRONTEND_BUILD_SWITCH = 'LOCAL_FRONTEND_BUILD';
export const FRONTEND_DIR = join(__dirname, '..', '..', 'frontend');
export const FRONTEND_BUILD_DIR = join(FRONTEND_DIR, 'dist', 'browser');
const OPENAPI_DOCUMENT = join(__dirname, '..', '..', OPENAPI_PATH);
const BUILD_INPUTS = ['src', 'angular.json', 'tsconfig.json', 'package.json', 'package-lock.json'].map((p) => join(FRONTEND_DIR, p));

export interface FrontendBuild {
  installed: boolean;
  built: boolean;
  /** Seconds spent installing and building (0 when both were up to date). */
  installSeconds: number;
  buildSeconds: number;
}

/** Newest modification time under a path, in ms (0 when it does not exist). */
function newest(path: string): number {
  if (!existsSync(path)) return 0;
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return readdirSync(path).reduce((max, name) => Math.max(max, newest(join(path, name))), stat.mtimeMs);
}

function run(args: string[], onProgress: (line: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    // NG_CLI_ANALYTICS: the CLI never stops to ask, whatever its global config says.
    const child = spawn('npm', args, { cwd: FRONTEND_DIR, env: { ...process.env, NG_CLI_ANALYTICS: 'false' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code === 0) return resolve();
      onProgress(out.trimEnd());
      reject(new Error(`npm ${args.join(' ')} in frontend/ exited with ${code}`));
    });
  });
}

export async function ensureFrontendBuild(onProgress: (line: string) => void = () => undefined): Promise<FrontendBuild> {
  const result: FrontendBuild = { installed: false, built: false, installSeconds: 0, buildSeconds: 0 };
  const installedLock = join(FRONTEND_DIR, 'node_modules', '.package-lock.json');
  if (newest(installedLock) < newest(join(FRONTEND_DIR, 'package-lock.json'))) {
    onProgress('frontend: installing its packages (npm ci --prefix frontend)…');
    const started = Date.now();
    await run(['ci', '--no-audit', '--no-fund'], onProgress);
    result.installed = true;
    result.installSeconds = (Date.now() - started) / 1000;
  }
  const output = newest(join(FRONTEND_BUILD_DIR, 'index.html'));
  if (output === 0 || output < Math.max(newest(OPENAPI_DOCUMENT), ...BUILD_INPUTS.map(newest))) {
    onProgress('frontend: building the Angular client (ng build)…');
    const started = Date.now();
    await run(['run', 'build'], onProgress);
    result.built = true;
    result.buildSeconds = (Date.now() - started) / 1000;
  }
  return result;
}
