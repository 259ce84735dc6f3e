import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CORE = join(__dirname, '../../core');
const DB_PASSWORD = 'Knex-Pw-4f1c9e';

/**
 * What the database and Redis clients print themselves, in a process of their own as a worker,
 * a service or a CLI is: knex wrote its warnings with console.log (a failed connection attempt
 * with its stack, a deprecation), outside the one line format and so past its redaction.
 */
const PROGRAM = `
import { createDb } from ${JSON.stringify(join(CORE, 'db'))};
import { createLogger } from ${JSON.stringify(join(CORE, 'logger'))};
import { createRedis } from ${JSON.stringify(join(CORE, 'redis'))};

(async () => {
  // A worker's or a CLI's client: no logger given.
  const worker = createDb({ database: { url: 'postgres://app:${DB_PASSWORD}@127.0.0.1:9/app', port: 5432, poolMax: 1 }, secrets: {} });
  await worker.raw('select 1').catch(() => undefined);
  await worker.destroy();
  // A service's client: the service's logger, as its runtime passes it.
  const service = createDb({ database: { url: 'postgres://app:${DB_PASSWORD}@127.0.0.1:9/app', port: 5432, poolMax: 1 }, secrets: {} }, createLogger({ service: 'theme' }));
  service().toString();
  await service.destroy();
  const redis = createRedis({ redis: { url: 'redis://127.0.0.1:9', keyPrefix: 'x:' } } as never);
  await redis.connect().catch(() => undefined);
  redis.disconnect();
})();
`;

test("knex's warnings and deprecations come out as the logger's JSON lines, redacted; no other line is printed", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'driver-lines-'));
  try {
    const file = join(dir, 'program.ts');
    writeFileSync(file, PROGRAM);
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', file], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (b: Buffer) => (out += b.toString()));
      child.stderr.on('data', (b: Buffer) => (err += b.toString()));
      child.on('error', reject);
      child.on('close', (c) => resolve({ code: c, stdout: out, stderr: err }));
    });
    expect(code).toBe(0);
    const lines = [...stdout.split('\n'), ...stderr.split('\n')].filter((l) => l.trim() !== '');
    for (const line of lines) expect({ line, json: /^\{"time":"[^"]+","level":"(debug|info|warn|error)","msg":/.test(line) }).toEqual({ line, json: true });
    const parsed = lines.map((l) => JSON.parse(l));
    const stderrLines = stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(stderrLines).toContainEqual(expect.objectContaining({ level: 'warn', msg: 'knex warning', detail: expect.stringContaining('Acquire connection error') }));
    expect(stderrLines.find((l) => l.msg === 'knex warning')!.detail).toContain('ECONNREFUSED 127.0.0.1:9');
    expect(parsed).toContainEqual(expect.objectContaining({ level: 'warn', msg: 'knex warning', service: 'theme', detail: expect.stringContaining('without a tableName is deprecated') }));
    expect(stdout + stderr).not.toContain(DB_PASSWORD);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 60_000);
