import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalEmulator, type LocalEmulator } from '../../scripts/local/emulator';
import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { content, getObject, listKeys, runCli, s3 } from '../support/storage-move-harness';

/** A local folder as old servers kept one: files and folders linked from elsewhere, a stale link, a link back up, a FIFO. */
describe('storage:move from a local folder with symbolic links', () => {
  let em: LocalEmulator;
  let db: TestDatabase;
  let root: string;
  const c = () => s3(em.endpoint);

  beforeAll(async () => {
    [em, db, root] = await Promise.all([startLocalEmulator({ buckets: ['assets'] }), createTestDatabase('stmove_links'), mkdtemp(join(tmpdir(), 'storage-move-links-'))]);
    const src = join(root, 'assets');
    const shared = join(root, 'shared');
    await mkdir(join(src, 'img'), { recursive: true });
    await mkdir(join(shared, 'fonts'), { recursive: true });
    await writeFile(join(src, 'img', 'a.png'), content(1, 2000));
    await writeFile(join(shared, 'logo.svg'), content(2, 3000));
    await writeFile(join(shared, 'fonts', 'inter.woff2'), content(3, 4000));
    await symlink(join(shared, 'logo.svg'), join(src, 'logo.svg'));
    await symlink(join(shared, 'fonts'), join(src, 'fonts'));
    await symlink(join(root, 'gone.css'), join(src, 'style.css'));
    await symlink('..', join(src, 'img', 'up'));
    execFileSync('mkfifo', [join(src, 'pipe')]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([em?.stop(), db?.drop(), rm(root, { recursive: true, force: true })]);
  });

  it('linked files and folders are copied under the link\'s key; a stale link, a loop and a FIFO are named, skipped, exit 2', async () => {
    const r = await runCli(['--source', `file://${root}/assets`, '--target', 'assets', '--env', 'local', '--target-endpoint', em.endpoint, '--database-url', db.url]);
    expect(await listKeys(c(), 'assets')).toEqual(['fonts/inter.woff2', 'img/a.png', 'logo.svg']);
    expect((await getObject(c(), 'assets', 'logo.svg'))!.equals(content(2, 3000))).toBe(true);
    expect((await getObject(c(), 'assets', 'fonts/inter.woff2'))!.equals(content(3, 4000))).toBe(true);
    expect(r.stdout).toContain(`style.css: a symbolic link to ${join(root, 'gone.css')} that does not resolve (ENOENT)`);
    expect(r.stdout).toContain(`img/up: a symbolic link to ${join(root, 'assets')}, a folder it is in: not followed (a loop)`);
    expect(r.stdout).toContain('pipe: not a regular file');
    expect(r.stdout).toContain('3 copied and verified, 0 already verified, 3 skipped');
    expect(r.code).toBe(2);
    const followed = r.stderr.split('\n').filter((l) => l.includes('"link_followed"')).map((l) => JSON.parse(l) as { key: string; to: string; level: string });
    expect(followed.map((l) => [l.level, l.key, l.to])).toEqual([
      ['warn', 'fonts', join(root, 'shared', 'fonts')],
      ['warn', 'logo.svg', join(root, 'shared', 'logo.svg')],
    ]);
  }, 30_000);
});
