import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { environments } from '../../stacks/config';
import { manifest, REPO_ROOT } from '../support/infra-synth';

/**
 * The `cdktf deploy` commands the runbooks give (every line of a fenced block of docs/deploy.md,
 * docs/operations.md and docs/data-migration.md that runs one, and every inline one), against the synthesised stacks' dependencies: cdktf refuses
 * a deploy that names a stack without the stacks it depends on ("The following dependencies are
 * not included in the stacks to run: … Either add them or add the --ignore-missing-stack-dependencies
 * flag", cdktf-cli's deploy), so each command names them or passes that flag, as the workflows do.
 */
const RUNBOOKS = ['docs/deploy.md', 'docs/operations.md', 'docs/data-migration.md'];

function deployCommands(file: string): string[] {
  const commands: string[] = [];
  let fenced = false;
  for (const line of readFileSync(join(REPO_ROOT, file), 'utf8').split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    else if (fenced && /^\s*(TF_VAR_\w+=\S+\s+)?npx cdktf deploy\b/.test(line)) commands.push(line.trim().replace(/\s+#.*$/, ''));
    else if (!fenced) for (const inline of line.matchAll(/`((?:TF_VAR_\w+=\S+\s+)?npx cdktf deploy\b[^`]*)`/g)) commands.push(inline[1].trim());
  }
  return commands;
}

test('the runbooks give cdktf deploy commands, and each names the stacks it needs or lets cdktf go without them', () => {
  const stacks = manifest();
  const commands = RUNBOOKS.flatMap((file) => deployCommands(file).map((command) => ({ file, command })));
  expect(commands.length).toBeGreaterThan(2);
  for (const { file, command } of commands) {
    const words = command.replace(/^.*?npx cdktf deploy\s+/, '').split(/\s+/);
    if (words.includes('--ignore-missing-stack-dependencies')) continue;
    for (const env of Object.keys(environments)) {
      const named = words.filter((w) => !w.startsWith('-')).map((w) => w.replace(/"/g, '').replace(/\$\{?ENV\}?/g, env));
      for (const stack of named) expect({ file, command, stack, known: stack in stacks }).toEqual({ file, command, stack, known: true });
      const missing = named.flatMap((stack) => stacks[stack].dependencies).filter((dep) => !named.includes(dep));
      expect({ file, command, env, missing }).toEqual({ file, command, env, missing: [] });
    }
  }
});
