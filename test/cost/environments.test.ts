import { environments } from '../../stacks/config';
import { allResources, resources, stackNames, synthDir } from '../support/infra-synth';
import { CONFIG_VARIANTS } from '../../stacks/variants';
import { estimateCosts } from '../../scripts/cost/estimate';
import { loadPriceTable } from '../../scripts/cost/priceTable';
import { readSynthesizedEnvironment } from '../../scripts/cost/terraformInput';
import { loadTrafficProfile } from '../../scripts/cost/traffic';

/**
 * The budget guard: every environment, as synthesised from the current stacks, must cost no more
 * idle than the budget its config declares, and must carry the AWS Budget that watches it.
 */
const prices = loadPriceTable();
const profile = loadTrafficProfile();

describe.each(Object.values(environments).map((config) => [config.env, config] as const))('environment %s', (env, config) => {
  const report = () => estimateCosts({ label: env, resources: readSynthesizedEnvironment(synthDir(), env), prices, profile });

  it(`costs at most its budget of config.budget.monthlyUsd idle`, () => {
    const { total } = report();
    expect({ env, idleUsd: total.idleUsd, withinBudget: total.idleUsd <= config.budget.monthlyUsd }).toEqual({ env, idleUsd: total.idleUsd, withinBudget: true });
  });

  it('on the other database engine (the aurora variant) it still costs at most its budget idle, every resource priced', () => {
    const aurora = estimateCosts({ label: `${env} (aurora)`, resources: readSynthesizedEnvironment(synthDir('aurora'), env), prices, profile });
    expect(CONFIG_VARIANTS.aurora(config).database.engine).toBe('aurora-serverless-v2');
    expect(aurora.items.some((i) => i.type === 'aws_rds_cluster_instance' && i.status === 'priced')).toBe(true);
    expect(aurora.unpriced.map((i) => `${i.stack}/${i.address}: ${i.reason}`)).toEqual([]);
    expect({ env, idleUsd: aurora.total.idleUsd, withinBudget: aurora.total.idleUsd <= config.budget.monthlyUsd }).toEqual({ env, idleUsd: aurora.total.idleUsd, withinBudget: true });
  });

  it('prices every resource it deploys (none unpriced, so the guard cannot miss a cost)', () => {
    expect(report().unpriced.map((i) => `${i.stack}/${i.address}: ${i.reason}`)).toEqual([]);
  });

  it('accounts for every synthesised resource', () => {
    const synthesized = stackNames().filter((s) => s.startsWith(`${env}-`)).flatMap((s) => allResources(s).map((r) => `${s}/${r.address}`));
    expect(report().items.map((i) => `${i.stack}/${i.address}`).sort()).toEqual(synthesized.sort());
  });

  it('has a monthly AWS Budget at config.budget.monthlyUsd alerting at 80% forecast and 100% actual', () => {
    const budgets = stackNames()
      .filter((s) => s.startsWith(`${env}-`))
      .flatMap((s) => resources(s, 'aws_budgets_budget'))
      .map((b) => b.config)
      .filter((b) => b.budget_type === 'COST' && b.time_unit === 'MONTHLY');
    expect(budgets).toHaveLength(1);
    const [budget] = budgets;
    expect({ amount: Number(budget.limit_amount), unit: budget.limit_unit }).toEqual({ amount: config.budget.monthlyUsd, unit: 'USD' });
    const alerts = (budget.notification ?? []).map((n: any) => `${n.notification_type} ${n.comparison_operator} ${n.threshold} ${n.threshold_type}`).sort();
    expect(alerts).toEqual(expect.arrayContaining(['ACTUAL GREATER_THAN 100 PERCENTAGE', 'FORECASTED GREATER_THAN 80 PERCENTAGE']));
  });
});
