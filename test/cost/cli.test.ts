import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { allResources, REPO_ROOT, stackNames, synthDir } from '../support/infra-synth';
import { prepareStack, terraform } from '../support/infra-terraform';

const CLI = path.join(REPO_ROOT, 'scripts', 'cost', 'cli.ts');

function cost(args: string[]): { code: number; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [require.resolve('tsx/cli'), CLI, ...args], { cwd: REPO_ROOT, encoding: 'utf8' });
  return { code: result.status ?? 1, stdout: result.stdout, stderr: result.stderr };
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'cost-cli-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('npm run cost', () => {
  it('reports every synthesised resource of dev, idle and under traffic, as JSON', () => {
    const run = cost(['--env', 'dev', '--out', synthDir(), '--json']);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout);
    const synthesized = stackNames().filter((s) => s.startsWith('dev-')).flatMap((s) => allResources(s).map((r) => `${s}/${r.address}`));
    expect(report.items.map((i: any) => `${i.stack}/${i.address}`).sort()).toEqual(synthesized.sort());
    for (const item of report.items) expect(['priced', 'free', 'unpriced']).toContain(item.status);
    expect(report.total.trafficUsd).toBeGreaterThan(report.total.idleUsd);
    expect(Object.keys(report.byLayer).sort()).toEqual(stackNames().filter((s) => s.startsWith('dev-')).map((s) => s.slice(4)).sort());
  });

  it('prints a per-resource and per-layer table, and Markdown for a job summary', () => {
    const text = cost(['--env', 'prod', '--out', synthDir()]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^layer\s+resource\s+status\s+idle \$\/mo\s+traffic \$\/mo \(launch\)/m);
    expect(text.stdout).toMatch(/^TOTAL\s+\d+\.\d\d\s+\d+\.\d\d$/m);
    const markdown = cost(['--env', 'prod', '--out', synthDir(), '--markdown', '--decisions']);
    expect(markdown.code).toBe(0);
    expect(markdown.stdout).toContain('| **Total** |');
    expect(markdown.stdout).toContain('| Egress for private subnets |');
  });

  it('lists unpriced resources instead of dropping them', () => {
    const stack = path.join(tmp, 'out', 'stacks', 'dev-extra');
    fs.mkdirSync(stack, { recursive: true });
    fs.writeFileSync(path.join(stack, 'cdk.tf.json'), JSON.stringify({ resource: { aws_neptune_cluster: { graph: {} }, aws_vpc: { vpc: {} } } }));
    const run = cost(['--env', 'dev', '--out', path.join(tmp, 'out')]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('Unpriced resources (1), NOT in the totals:\n  - dev-extra/aws_neptune_cluster.graph: no pricing rule for this resource type');
  });

  it('--engines prints the RDS instance and the Aurora Serverless v2 cluster side by side for every environment, idle and under launch', () => {
    const run = cost(['--engines', '--out', synthDir(), '--variant-out', synthDir('aurora'), '--json']);
    expect(run.code).toBe(0);
    const { profile, engines } = JSON.parse(run.stdout);
    expect(profile).toBe('launch');
    expect(engines.map((e: any) => `${e.env} ${e.engine}`)).toEqual(['dev rds-instance', 'dev aurora-serverless-v2', 'prod rds-instance', 'prod aurora-serverless-v2']);
    const of = (env: string, engine: string) => engines.find((e: any) => e.env === env && e.engine === engine);
    for (const e of engines) expect({ row: `${e.env} ${e.engine}`, unpriced: e.unpriced, priced: e.database.idleUsd > 0 }).toEqual({ row: `${e.env} ${e.engine}`, unpriced: [], priced: true });
    // Dev sleeps at 0 ACU: idle it pays storage and the secret only; prod's 0.5 ACU floor runs all month.
    expect(of('dev', 'aurora-serverless-v2').database.idleUsd).toBeLessThan(1);
    expect(of('prod', 'aurora-serverless-v2').database.idleUsd).toBeGreaterThan(of('prod', 'rds-instance').database.idleUsd);
    expect(of('dev', 'aurora-serverless-v2').environment.idleUsd).toBeLessThan(of('dev', 'rds-instance').environment.idleUsd);
    const text = cost(['--engines', '--env', 'dev', '--out', synthDir(), '--variant-out', synthDir('aurora')]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^dev\s+rds-instance\s+db\.t4g\.micro, 20 GB gp3\s+\d+\.\d\d/m);
    expect(text.stdout).toMatch(/^dev\s+aurora-serverless-v2\s+0-2 ACU, pauses after 300 s idle\s+\d+\.\d\d/m);
    const half = cost(['--engines', '--out', synthDir()]);
    expect(half.code).toBe(2);
    expect(half.stderr).toMatch(/--out and --variant-out go together/);
  });

  it('names the faulty field of bad input and exits 2 without a stack trace', () => {
    const unknownEnv = cost(['--env', 'staging', '--out', synthDir()]);
    expect(unknownEnv.code).toBe(2);
    expect(unknownEnv.stderr).toContain('--env: unknown environment \\"staging\\"');
    // The log line is core/logger.ts's {time, level, msg, ...base}, with the field (core/cli.ts); the usage text follows it.
    const [line, usage] = unknownEnv.stderr.split('\n');
    expect(JSON.parse(line)).toEqual({
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      level: 'error',
      msg: expect.stringContaining('--env: unknown environment "staging"'),
      component: 'cost',
      field: '--env',
      exitCode: 2,
    });
    expect(usage).toMatch(/^usage: npm run cost -- --env/);
    expect(unknownEnv.stderr).not.toMatch(/at .*\.ts:\d+/);

    const badProfile = path.join(tmp, 'bad-traffic.json');
    fs.writeFileSync(badProfile, JSON.stringify({ name: 'bad' }));
    const badTraffic = cost(['--env', 'dev', '--out', synthDir(), '--traffic', badProfile]);
    expect(badTraffic.code).toBe(2);
    expect(badTraffic.stderr).toMatch(/--traffic: traffic profile .*bad-traffic\.json: field (description|volume)/);

    const bogus = cost(['--env', 'dev', '--bogus']);
    expect(bogus.code).toBe(2);
    expect(JSON.parse(bogus.stderr.split('\n')[0])).toMatchObject({ level: 'error', field: '--bogus', msg: expect.stringMatching(/^--bogus: unknown option/) });
    expect(bogus.stderr).not.toMatch(/at .*\.ts:\d+/);
  });

  it('a --prices or --plan file that is missing, not JSON or not of its shape is exit 2 naming the option, not exit 1', () => {
    const notJson = path.join(tmp, 'not-json.txt');
    fs.writeFileSync(notJson, 'plan:\n');
    const wrongShape = path.join(tmp, 'wrong-shape.json');
    fs.writeFileSync(wrongShape, JSON.stringify({ format_version: '1.2' }));
    const cases: [string, string[], RegExp][] = [
      ['--prices', ['--env', 'dev', '--out', synthDir(), '--prices', path.join(tmp, 'no-prices.json')], /^--prices: price table .*no-prices\.json: cannot read it as JSON \(ENOENT/],
      ['--prices', ['--env', 'dev', '--out', synthDir(), '--prices', notJson], /^--prices: price table .*not-json\.txt: cannot read it as JSON/],
      ['--prices', ['--env', 'dev', '--out', synthDir(), '--prices', wrongShape], /^--prices: price table .*wrong-shape\.json: region: /],
      ['--prices', ['--engines', '--out', synthDir(), '--variant-out', synthDir('aurora'), '--prices', path.join(tmp, 'no-prices.json')], /^--prices: price table .*no-prices\.json: cannot read it as JSON \(ENOENT/],
      ['--plan', ['--plan', path.join(tmp, 'no-plan.json')], /^--plan: plan .*no-plan\.json: cannot read it as JSON \(ENOENT/],
      ['--plan', ['--plan', notJson], /^--plan: plan .*not-json\.txt: cannot read it as JSON/],
      ['--plan', ['--plan', wrongShape], /^--plan: plan .*wrong-shape\.json: no planned_values\.root_module/],
    ];
    for (const [field, args, msg] of cases) {
      const run = cost(args);
      expect({ args, code: run.code }).toEqual({ args, code: 2 });
      expect(JSON.parse(run.stderr.split('\n')[0])).toMatchObject({ level: 'error', field, msg: expect.stringMatching(msg) });
      expect(run.stderr).not.toMatch(/at .*\.ts:\d+/);
    }
  });

  it('exits 1 with --fail-over-budget when idle exceeds the budget (2 is bad input)', () => {
    const stack = path.join(tmp, 'expensive', 'stacks', 'dev-data');
    fs.mkdirSync(stack, { recursive: true });
    fs.writeFileSync(path.join(stack, 'cdk.tf.json'), JSON.stringify({ resource: { aws_elasticache_serverless_cache: { cache: { engine: 'redis' } } } }));
    const run = cost(['--env', 'dev', '--out', path.join(tmp, 'expensive'), '--fail-over-budget']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('idle monthly cost exceeds the budget');
  });

  it('--fail-over-budget and --decisions need --env, and --engines refuses what it does not take: exit 2 naming the option, nothing printed', () => {
    // Priced alone, this plan is over any budget (a Redis OSS cache's 1 GB minimum): a check that passed it would pass anything.
    const plan = path.join(tmp, 'expensive-plan.json');
    fs.writeFileSync(
      plan,
      JSON.stringify({ planned_values: { root_module: { resources: [{ address: 'aws_elasticache_serverless_cache.cache', mode: 'managed', type: 'aws_elasticache_serverless_cache', name: 'cache', values: { engine: 'redis' } }] } } }),
    );
    const engines = ['--engines', '--out', synthDir(), '--variant-out', synthDir('aurora')];
    const cases: [string[], string][] = [
      [['--plan', plan, '--fail-over-budget'], '--fail-over-budget'],
      [['--plan', plan, '--decisions'], '--decisions'],
      [[...engines, '--fail-over-budget'], '--fail-over-budget'],
      [[...engines, '--plan', plan], '--plan'],
      [[...engines, '--naive'], '--naive'],
      [[...engines, '--markdown'], '--markdown'],
    ];
    for (const [args, field] of cases) {
      const run = cost(args);
      expect({ args, code: run.code, stdout: run.stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(JSON.parse(run.stderr.split('\n')[0])).toMatchObject({ level: 'error', field, msg: expect.stringMatching(new RegExp(`^${field}: (needs --env|not an option of --engines)`)) });
    }
    // With the environment named, the same plan is measured against its budget.
    expect(cost(['--plan', plan, '--env', 'dev', '--fail-over-budget']).code).toBe(1);
  });

  it('prices a real Terraform plan (terraform show -json) like the synthesised stack it came from', async () => {
    const workspace = await prepareStack('dev-network');
    try {
      expect(workspace.init.code).toBe(0);
      const planned = await terraform(workspace.dir, ['plan', '-input=false', '-lock=false', '-refresh=false', '-out=cost.tfplan']);
      expect(planned.code).toBe(0);
      const shown = spawnSync('terraform', ['show', '-json', 'cost.tfplan'], { cwd: workspace.dir, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: (await import('../support/infra-terraform')).terraformToolchain().env });
      const planFile = path.join(tmp, 'dev-network.json');
      fs.writeFileSync(planFile, shown.stdout);

      const fromPlan = JSON.parse(cost(['--plan', planFile, '--json']).stdout);
      const fromSynth = JSON.parse(cost(['--env', 'dev', '--out', synthDir(), '--json']).stdout);
      expect(fromPlan.unpriced).toEqual([]);
      expect(new Set(fromPlan.items.map((i: any) => i.layer))).toEqual(new Set(['network']));
      expect(fromPlan.total.idleUsd).toBeCloseTo(fromSynth.byLayer.network.idleUsd, 6);
    } finally {
      workspace.dispose();
    }
  });
});
