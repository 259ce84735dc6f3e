import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileSource, type SourceObject } from '../../migrations/storage-move/storage';

/**
 * A folder that cannot be read (a mount's lost+found is root's alone; as root every folder can be
 * read, so the test removes one while the listing is under way, as a cleanup job on the old server
 * would) is named and the listing goes on past it: it ended the listing, and the run (exit 3),
 * with every folder after it not copied.
 */
describe('storage:move file source listing', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'storage-move-files-'));
    for (const f of ['a/1.png', 'b/2.png', 'c/3.png', 'd.css']) {
      await mkdir(join(dir, f, '..'), { recursive: true });
      await writeFile(join(dir, f), 'x');
    }
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('a folder gone or unreadable when its turn comes is named, and the folders after it are listed', async () => {
    const listed: SourceObject[] = [];
    for await (const o of fileSource(dir).list()) {
      listed.push(o);
      if (o.key === 'a/1.png') await rm(join(dir, 'b'), { recursive: true });
    }
    expect(listed.map((o) => [o.key, o.unreadable])).toEqual([
      ['a/1.png', undefined],
      ['b/', 'a folder it cannot read (ENOENT): nothing under it copied'],
      ['c/3.png', undefined],
      ['d.css', undefined],
    ]);
  });

  it('a name that is not UTF-8 (an old server\'s Latin-1) is named by its bytes; the names beside it are listed', async () => {
    const sub = join(dir, 'latin1');
    await mkdir(sub);
    await writeFile(Buffer.concat([Buffer.from(`${sub}/caf`), Buffer.from([0xe9]), Buffer.from('.png')]), 'x');
    await writeFile(join(sub, 'ok \uFFFD.png'), 'x');
    const listed: SourceObject[] = [];
    for await (const o of fileSource(sub).list()) listed.push(o);
    expect(listed.map((o) => [o.key, o.unreadable])).toEqual([
      ['caf\uFFFD.png', 'its name is not UTF-8 (bytes 636166e92e706e67), which a key must be: rename it (e.g. convmv -f latin1 -t utf8), then run again'],
      ['ok \uFFFD.png', undefined],
    ]);
  });

  it('the folder itself unreadable: --source names it', async () => {
    await expect(fileSource(join(dir, 'gone')).list().next()).rejects.toThrow(/--source: file:\/\/.*gone: a folder it cannot read \(ENOENT\)/);
  });
});
