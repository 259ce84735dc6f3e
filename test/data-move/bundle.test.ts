import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCliProcess } from '../support/cli-process';

const REPO = join(__dirname, '../..');

describe('npm run db:move runs the CLI bundle with plain node', () => {
  it('is the data-move entry of build/run-cli.cjs, and the bundle answers as the CLI does', async () => {
    expect(JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).scripts['db:move']).toBe('exec node build/run-cli.cjs data-move');
    const help = await runCliProcess(join(REPO, 'build/run-cli.cjs'), ['data-move', '--help']);
    expect(help).toMatchObject({ code: 0, stdout: expect.stringMatching(/^usage: npm run db:move/) });
    const bad = await runCliProcess(join(REPO, 'build/run-cli.cjs'), ['data-move', '--source', 'nope', '--target', 'postgres://h/db']);
    expect(bad).toMatchObject({ code: 2, stderr: expect.stringMatching(/^\{.*"msg":"--source: is not a URL/) });
    const inputs: string[] = JSON.parse(readFileSync(join(REPO, '.build/cli/data-move.inputs.json'), 'utf8'));
    expect(inputs).toEqual(expect.arrayContaining(['migrations/data-move/cli.ts', 'migrations/data-move/indexes.ts', 'core/logger.ts']));
  }, 60_000);
});
