import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const REPO = join(__dirname, '../..');

describe('npm run storage:move runs the CLI bundle with plain node', () => {
  it('builds .build/cli/storage-move.js when missing or stale, records its inputs, and runs it', () => {
    expect(JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).scripts['storage:move']).toBe('exec node build/run-cli.cjs storage-move');
    const usage = execFileSync(process.execPath, [join(REPO, 'build/run-cli.cjs'), 'storage-move', '--help'], { encoding: 'utf8' });
    expect(usage).toMatch(/^usage: npm run storage:move/);
    const bundle = statSync(join(REPO, '.build/cli/storage-move.js'));
    const inputs: string[] = JSON.parse(readFileSync(join(REPO, '.build/cli/storage-move.inputs.json'), 'utf8'));
    expect(inputs).toEqual(expect.arrayContaining(['migrations/storage-move/cli.ts', 'migrations/storage-move/upload.ts', 'core/contract.ts', 'package-lock.json']));
    for (const f of inputs) expect(statSync(join(REPO, f)).mtimeMs).toBeLessThanOrEqual(bundle.mtimeMs);
  }, 60_000);

  it('writes only JSON lines on stderr: no AWS SDK notice about the Node version (the CLIs run through runCli suppress it)', () => {
    const none = { AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_PROFILE: '', AWS_EC2_METADATA_DISABLED: 'true', HOME: mkdtempSync(join(tmpdir(), 'no-aws-')) };
    const env: NodeJS.ProcessEnv = { ...process.env, ...none, DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres' };
    delete env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED;
    const run = spawnSync(process.execPath, [join(REPO, 'build/run-cli.cjs'), 'storage-move', '--source', 's3://old-bucket/docs/', '--target', 'assets', '--env', 'dev', '--dry-run'], { env, encoding: 'utf8', timeout: 30_000 });
    expect(run.status).toBe(2);
    const lines = run.stderr.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('usage:') && !l.startsWith(' '));
    expect(lines.filter((l) => !l.startsWith('{'))).toEqual([]);
    expect(JSON.parse(lines[0])).toMatchObject({ level: 'error', field: '--source' });
  }, 60_000);

  it("compiles the bundle with V8's code cache of an earlier run, made anew when it is another bundle's", () => {
    const help = () => execFileSync(process.execPath, [join(REPO, 'build/run-cli.cjs'), 'storage-move', '--help'], { encoding: 'utf8' });
    help();
    const cache = join(REPO, '.build/cli/storage-move.js.v8cache');
    const digest = createHash('sha256').update(readFileSync(join(REPO, '.build/cli/storage-move.js'))).digest();
    expect(readFileSync(cache).subarray(0, 32).equals(digest)).toBe(true);
    // A cache made from other code is not used: the run answers as ever, and leaves this bundle's.
    writeFileSync(cache, Buffer.concat([randomBytes(32), Buffer.from([1]), randomBytes(4096)]));
    expect(help()).toMatch(/^usage: npm run storage:move/);
    expect(readFileSync(cache).subarray(0, 32).equals(digest)).toBe(true);
  }, 60_000);
});
