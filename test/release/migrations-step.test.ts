import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { environments, namePrefix } from '../../stacks/config';
import { migrationTargets } from '../../scripts/release/migration-targets';
import { allResources, synthesizedStack } from '../support/infra-synth';

/**
 * The deploy's migration step (docs/deploy.md): the targeted apply of the compute stack that
 * precedes the rest of it, and the script that runs `npm run db:migrate` as the migration task.
 */
const REPO = resolve(__dirname, '../..');

describe.each(Object.values(environments).map((c) => c.env))('%s-compute: the targeted apply before the migrations', (env) => {
  const name = `${env}-compute`;
  const stack = synthesizedStack(name);
  const prefix = namePrefix(env);
  const targets = migrationTargets(stack, name);
  const targeted = new Set(targets.map((t) => t.slice('-target='.length)));
  const resourcesOf = (type: string) => Object.entries<any>(stack.resource[type] ?? {}).map(([n, config]) => ({ address: `${type}.${n}`, config }));

  test('holds the migration task with its roles, policies and log group, the image repositories and the cluster', () => {
    const [task] = resourcesOf('aws_ecs_task_definition').filter((t) => t.config.family === `${prefix}-db-move`);
    expect(targeted.has(task.address)).toBe(true);
    for (const ref of [task.config.execution_role_arn, task.config.task_role_arn]) expect(targeted.has(/\$\{([^}]+)\.arn\}/.exec(ref)![1])).toBe(true);
    const roles = resourcesOf('aws_iam_role').filter((r) => r.config.name.startsWith(`${prefix}-db-move-`));
    expect(roles).toHaveLength(2);
    for (const policy of resourcesOf('aws_iam_role_policy').filter((p) => roles.some((r) => p.config.role === `\${${r.address}.id}`))) {
      expect(targeted.has(policy.address)).toBe(true);
    }
    expect(resourcesOf('aws_cloudwatch_log_group').filter((g) => targeted.has(g.address)).map((g) => g.config.name)).toEqual([`/ecs/${prefix}-db-move`]);
    expect(resourcesOf('aws_ecr_repository').filter((r) => targeted.has(r.address)).map((r) => r.config.name).sort()).toEqual(
      ['b2b-batch', 'doc-generation', 'migration'].map((i) => `${prefix}-${i}`),
    );
    expect(resourcesOf('aws_ecs_cluster').every((c) => targeted.has(c.address))).toBe(true);
    expect(Object.keys(stack.data.terraform_remote_state).every((n) => targeted.has(`data.terraform_remote_state.${n}`))).toBe(true);
  });

  test('moves no alias and touches no function or worker service: the new code starts only after the migrations', () => {
    const kinds = new Set(allResources(stack).filter((r) => targeted.has(r.address)).map((r) => r.type));
    for (const kind of ['aws_lambda_function', 'aws_lambda_alias', 'aws_ecs_service', 'aws_api_gateway_deployment']) expect(kinds.has(kind)).toBe(false);
    const workerTasks = resourcesOf('aws_ecs_task_definition').filter((t) => t.config.family !== `${prefix}-db-move`);
    expect(workerTasks.filter((t) => targeted.has(t.address))).toEqual([]);
  });

  test('the outputs the migration run reads depend on targeted things only', () => {
    const refs = (value: unknown) => [...JSON.stringify(value).matchAll(/\$\{(data\.terraform_remote_state\.[A-Za-z0-9_-]+|[a-z_]+\.[A-Za-z0-9_-]+)/g)].map((m) => m[1]);
    for (const output of ['cluster_name', 'migration_task_family', 'migration_run_network', 'ecr_migration_url', 'ecr_doc_generation_url', 'ecr_b2b_batch_url']) {
      const used = refs(stack.output[output].value);
      expect({ output, used: used.length > 0 }).toEqual({ output, used: true });
      for (const address of used) expect({ output, address, targeted: targeted.has(address) }).toEqual({ output, address, targeted: true });
    }
  });
});

describe('run-migrations.sh', () => {
  const TASK = 'arn:aws:ecs:eu-west-3:123456789012:task/docplatform-test/0123456789abcdef';

  /** A copy of the two scripts with stand-ins for terraform and aws on PATH; `state` drives the fake task. */
  function sandbox(state: { exitCode?: number; polls?: number; noStart?: boolean }) {
    const dir = mkdtempSync(join(tmpdir(), 'run-migrations-'));
    mkdirSync(join(dir, 'scripts/release'), { recursive: true });
    mkdirSync(join(dir, 'cdktf.out/stacks/test-compute'), { recursive: true });
    mkdirSync(join(dir, 'bin'));
    for (const s of ['run-migrations.sh', 'stack-output.sh']) copyFileSync(join(REPO, 'scripts/release', s), join(dir, 'scripts/release', s));
    writeFileSync(join(dir, 'cdktf.out/stacks/test-compute/cdk.tf.json'), '{}');
    writeFileSync(join(dir, 'state.json'), JSON.stringify({ polls: state.polls ?? 0 }));
    const fake = (name: string, body: string) => {
      writeFileSync(join(dir, 'bin', name), `#!/usr/bin/env bash\necho "${name} $*" >> "${dir}/calls.log"\n${body}\n`);
      chmodSync(join(dir, 'bin', name), 0o755);
    };
    fake(
      'terraform',
      `case "$*" in
  *init*) exit 0 ;;
  *"output -raw cluster_name"*) printf docplatform-test ;;
  *"output -raw migration_task_family"*) printf docplatform-test-db-move ;;
  *"output -json migration_run_network"*) echo '{"subnets":["subnet-a","subnet-b"],"securityGroups":["sg-migration"]}' ;;
  *) echo "unexpected terraform $*" >&2; exit 9 ;;
esac`,
    );
    const container = state.exitCode === undefined ? '{"name":"app"}' : `{"name":"app","exitCode":${state.exitCode}}`;
    fake(
      'aws',
      `case "$*" in
  "ecs run-task"*) ${state.noStart ? `echo '{"tasks":[],"failures":[{"reason":"RESOURCE:ENI"}]}'` : `echo '{"tasks":[{"taskArn":"${TASK}"}],"failures":[]}'`} ;;
  *"--query tasks[0].lastStatus"*)
    n=$(jq .polls "${dir}/state.json"); if [ "$n" -gt 0 ]; then echo "{\\"polls\\":$((n-1))}" > "${dir}/state.json"; echo RUNNING; else echo STOPPED; fi ;;
  "ecs describe-tasks"*) echo '{"tasks":[{"stoppedReason":"CannotPullContainerError: pull image manifest has been retried","containers":[{"name":"scratch-permissions","exitCode":0},${container}]}]}' ;;
  "ecs stop-task"*) echo '{}' ;;
  *) echo "unexpected aws $*" >&2; exit 9 ;;
esac`,
    );
    return dir;
  }

  function runIn(dir: string, args: string[] = [], env: Record<string, string> = {}): Promise<{ code: number; output: string; calls: string[] }> {
    return new Promise((done) => {
      execFile('bash', ['scripts/release/run-migrations.sh', 'test', ...args], { cwd: dir, env: { PATH: `${join(dir, 'bin')}:${process.env.PATH}`, MIGRATION_POLL_SECONDS: '0', GITHUB_RUN_ID: '42', ...env } }, (error, stdout, stderr) => {
        const calls = readFileSync(join(dir, 'calls.log'), 'utf8').trim().split('\n');
        done({ code: error ? Number(error.code ?? 1) : 0, output: stdout + stderr, calls });
      });
    });
  }

  test('runs db:migrate -- --when-empty skip as the migration task on on-demand Fargate in the migration network, waits, and exits 0', async () => {
    const r = await runIn(sandbox({ exitCode: 0, polls: 2 }));
    expect(r.code).toBe(0);
    const run = r.calls.find((c) => c.startsWith('aws ecs run-task'))!;
    expect(run).toContain('--cluster docplatform-test --task-definition docplatform-test-db-move --launch-type FARGATE');
    expect(run).toContain('awsvpcConfiguration={subnets=[subnet-a,subnet-b],securityGroups=[sg-migration],assignPublicIp=DISABLED}');
    expect(run).toContain('--overrides {"containerOverrides":[{"name":"app","command":["npm","run","db:migrate","--","--when-empty","skip"]}]}');
    expect(run).toContain('--started-by deploy-42');
    expect(r.calls.filter((c) => c.includes('tasks[0].lastStatus'))).toHaveLength(3);
    expect(r.output).toContain('stream app/app/0123456789abcdef');
  });

  test('the task’s own exit code is the step’s; options replace the default ones', async () => {
    const r = await runIn(sandbox({ exitCode: 1 }), ['--when-empty', 'migrate']);
    expect(r.code).toBe(1);
    expect(r.calls.find((c) => c.startsWith('aws ecs run-task'))).toContain('"command":["npm","run","db:migrate","--","--when-empty","migrate"]');
    expect(r.output).toMatch(/db:migrate exited 1/);
  });

  test('a task that never ran its container, or never started, is exit 3 with the reason', async () => {
    const never = await runIn(sandbox({}));
    expect(never.code).toBe(3);
    expect(never.output).toMatch(/the migration never ran: CannotPullContainerError/);
    const refused = await runIn(sandbox({ noStart: true }));
    expect(refused.code).toBe(3);
    expect(refused.output).toMatch(/the task did not start: \[\{"reason":"RESOURCE:ENI"\}\]/);
  });

  test('a task that does not stop in time is stopped, exit 3', async () => {
    const r = await runIn(sandbox({ exitCode: 0, polls: 1000 }), [], { MIGRATION_TIMEOUT_SECONDS: '0' });
    expect(r.code).toBe(3);
    expect(r.calls.some((c) => c.startsWith('aws ecs stop-task'))).toBe(true);
  });
});
