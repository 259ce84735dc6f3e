import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, UsageError } from '../../core/cli';
import { createLogger, stderrSink } from '../../core/logger';

/**
 * The `-target` arguments of a deploy's first, partial apply of the compute stack: what the
 * migration task needs to run the new commit's schema migrations before the rest of the stack —
 * the functions with their `live` aliases, the worker services — moves to that commit
 * (docs/deploy.md). That is the image repositories (the images are pushed next), the ECS cluster,
 * the migration task (definition, both roles and their policies, log group) and the upstream
 * stacks' remote state, so that the `migration_run_network` output is current too (Terraform
 * updates only the outputs whose inputs are targeted).
 *
 *   npx tsx scripts/release/migration-targets.ts <stack>      e.g. dev-compute; one per line
 *
 * Exit 2 (core/cli.ts) when the stack is not named, not synthesised, or holds no migration task.
 *
 * Resources are chosen by construct path (`<stack>/db-move/…`, `<stack>/ecr-<image>/…`,
 * `<stack>/cluster`), as stacks/compute.ts names them; test/release/migration-targets.test.ts
 * holds the two together.
 */
export const MIGRATION_CONSTRUCTS = /^(db-move|ecr-[a-z0-9-]+|cluster)(\/|$)/;

interface Block {
  '//'?: { metadata?: { path?: string } };
}
export interface StackJson {
  resource?: Record<string, Record<string, Block>>;
  data?: Record<string, Record<string, Block>>;
}

export function migrationTargets(stack: StackJson, stackName: string): string[] {
  const targets: string[] = [];
  for (const [type, blocks] of Object.entries(stack.resource ?? {})) {
    for (const [name, block] of Object.entries(blocks)) {
      const path = block['//']?.metadata?.path ?? '';
      if (path.startsWith(`${stackName}/`) && MIGRATION_CONSTRUCTS.test(path.slice(stackName.length + 1))) targets.push(`-target=${type}.${name}`);
    }
  }
  for (const name of Object.keys(stack.data?.terraform_remote_state ?? {})) targets.push(`-target=data.terraform_remote_state.${name}`);
  return targets.sort();
}

function main(stackName: string | undefined): number {
  if (!stackName) throw new UsageError('stack', 'missing');
  const file = join('cdktf.out', 'stacks', stackName, 'cdk.tf.json');
  let stack: StackJson;
  try {
    stack = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError('stack', `cannot read ${file} (run npx cdktf synth): ${(err as Error).message}`);
  }
  const targets = migrationTargets(stack, stackName);
  if (!targets.some((t) => t.startsWith('-target=aws_ecs_task_definition.'))) throw new UsageError('stack', `no migration task definition in ${stackName}`);
  process.stdout.write(`${targets.join('\n')}\n`);
  return 0;
}

if (require.main === module) {
  runCli(() => main(process.argv[2]), { log: createLogger({ component: 'migration-targets' }, 'info', stderrSink), usage: 'usage: migration-targets.ts <stack>' });
}
