import { startLocalEmulator, type LocalEmulator } from '../../scripts/local/emulator';
import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { content, getObject, putObject, runCli, s3 } from '../support/storage-move-harness';
import { standIn, type Seen } from './stand-in';

/**
 * A store under load answers SlowDown (503) or 429 for a while: each request is tried again with
 * the AWS SDK's standard retry strategy (object-requests.ts storeRetries), up to --max-attempts,
 * and one that never goes through is named with S3's answer.
 */
const COUNT = 6;
const SLOW_DOWN = { status: 503, code: 'SlowDown', message: 'Please reduce your request rate.' };

describe('storage:move when a store throttles', () => {
  let em: LocalEmulator;
  let db: TestDatabase;
  let stand: Awaited<ReturnType<typeof standIn>>;
  let refuse: (r: Seen) => typeof SLOW_DOWN | undefined = () => undefined;
  const tries = (method: string, bucket: string, key: string) => stand.seen.filter((s) => s.method === method && s.bucket === bucket && s.key === key).length;
  // Each source's objects under a target folder of the same name.
  const run = (folder: string, ...more: string[]) =>
    runCli(['--source', `s3://old/${folder}/`, '--source-endpoint', stand.endpoint, '--target', 'assets', '--target-prefix', folder, '--env', 'local', '--target-endpoint', stand.endpoint, '--database-url', db.url, ...more]);

  beforeAll(async () => {
    [em, db] = await Promise.all([startLocalEmulator({ buckets: ['old', 'assets'] }), createTestDatabase('stmove_throttle')]);
    stand = await standIn(em.endpoint, { refuse: (r) => refuse(r) });
    for (let i = 0; i < COUNT; i++) {
      await putObject(s3(em.endpoint), 'old', `slow/${i}.png`, content(i, 2000));
      await putObject(s3(em.endpoint), 'old', `stuck/${i}.png`, content(50 + i, 2000));
    }
  }, 60_000);
  afterAll(async () => {
    await stand?.close();
    await Promise.all([em?.stop(), db?.drop()]);
  });

  it('SlowDown 4 times in a row on a source GET and on a target PUT, 429 twice on the listing: everything is copied, exit 0', async () => {
    const answered = new Map<string, number>();
    const times = (id: string, n: number, answer: typeof SLOW_DOWN) => {
      const seen = (answered.get(id) ?? 0) + 1;
      answered.set(id, seen);
      return seen <= n ? answer : undefined;
    };
    refuse = (r) =>
      r.method === 'GET' && r.bucket === 'old' && r.key === 'slow/1.png'
        ? times('get', 4, SLOW_DOWN)
        : r.method === 'PUT' && r.bucket === 'assets' && r.key === 'slow/2.png'
          ? times('put', 4, SLOW_DOWN)
          : r.method === 'GET' && r.bucket === 'old' && r.query.get('list-type') === '2'
            ? times('list', 2, { status: 429, code: 'TooManyRequests', message: 'Too many requests.' })
            : undefined;
    const r = await run('slow');
    expect(r.stdout).toContain(`${COUNT} objects listed, ${COUNT} copied and verified, 0 already verified, 0 skipped, 0 failed`);
    expect(r.code).toBe(0);
    expect([tries('GET', 'old', 'slow/1.png'), tries('PUT', 'assets', 'slow/2.png'), tries('GET', 'old', '')]).toEqual([5, 5, 3]);
    expect((await getObject(s3(em.endpoint), 'assets', 'slow/2.png'))!.equals(content(2, 2000))).toBe(true);
  }, 90_000);

  it('a target that throttles one object for good: tried --max-attempts times, named with its answer and skipped, the rest moved, exit 2', async () => {
    refuse = (r) => (r.method === 'PUT' && r.bucket === 'assets' && r.key === 'stuck/3.png' ? SLOW_DOWN : undefined);
    const r = await run('stuck', '--max-attempts', '3');
    expect(r.stdout).toContain(`${COUNT} objects listed, ${COUNT - 1} copied and verified, 0 already verified, 1 skipped, 0 failed`);
    expect(r.stdout).toContain('  3.png: not copied, its key unchanged: PUT assets/stuck/3.png: Please reduce your request rate. (SlowDown, HTTP 503)');
    expect(r.code).toBe(2);
    expect(tries('PUT', 'assets', 'stuck/3.png')).toBe(3);
  }, 90_000);

  it.each(['0', '21', 'many'])('--max-attempts %s: exit 2 naming it', async (value) => {
    const r = await run('stuck', '--max-attempts', value);
    expect(JSON.parse(r.stderr.split('\n')[0])).toMatchObject({ field: '--max-attempts', msg: `--max-attempts: must be an integer from 1 to 20, got "${value}"` });
    expect(r.code).toBe(2);
  }, 30_000);
});
