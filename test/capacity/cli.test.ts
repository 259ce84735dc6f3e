import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { environments } from '../../stacks/config';
import { REPO_ROOT, synthDir, Variant } from '../support/infra-synth';

const CLI = path.join(REPO_ROOT, 'scripts', 'capacity', 'cli.ts');

function capacity(args: string[]): { code: number; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [require.resolve('tsx/cli'), CLI, ...args], { cwd: REPO_ROOT, encoding: 'utf8' });
  return { code: result.status ?? 1, stdout: result.stdout, stderr: result.stderr };
}

const FLOWS = ['B2C order', 'B2B batch row', 'document render', 'theme list'];

describe('npm run capacity on the synthesised environments', () => {
  const cases: [string, Variant][] = Object.keys(environments).flatMap((env): [string, Variant][] => [[env, 'committed'], [env, 'aurora']]);

  it.each(cases)('%s (%s): a ceiling, its limit and its knob for every flow, and every check of the configuration holds', (env, variant) => {
    const run = capacity(['--env', env, '--out', synthDir(variant), '--format', 'json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.flows.map((f: { flow: string }) => f.flow)).toEqual(FLOWS);
    for (const flow of report.flows) {
      expect(flow.perSecond).toBeGreaterThan(0);
      expect(flow.knob).toMatch(/^[a-z]/);
      // launch traffic fits every environment with room to spare at its peak.
      if (flow.peakPerSecond > 0) expect(flow.headroom).toBeGreaterThan(10);
    }
    expect(report.limits.map((l: { limit: { name: string } }) => l.limit.name)).toContain('database connections');
    for (const check of report.checks) expect(check).toMatchObject({ ok: true });
  });

  it('prints a table of the flows and of the limits, the first to saturate at 10× and 100×', () => {
    const run = capacity(['--env', 'prod', '--out', synthDir()]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^flow\s+ceiling\s+per month\s+set by\s+raise with/m);
    expect(run.stdout).toMatch(/^limit\s+capacity\s+at peak\s+used\s+breaks at\s+knob/m);
    expect(run.stdout).toMatch(/^at 10× the profile: /m);
    expect(run.stdout).toMatch(/^at 100× the profile: /m);
  });

  it.each([
    [['--env', 'nope'], /--env: unknown environment .*nope/],
    [[], /--env: required/],
    [['--env', 'dev', '--traffic', '/no/such/profile.json'], /--traffic: traffic profile \/no\/such\/profile.json/],
    [['--env', 'dev', '--format', 'xml'], /--format: .*xml.* is not table or json/],
    [['--env', 'dev', '--out', '/no/such/dir'], /--out: no stack named dev-<layer>/],
  ])('bad input %j: exit 2 naming it', (args, message) => {
    const run = capacity(args);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});
