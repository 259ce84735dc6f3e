import type { EnvironmentConfig } from '../../stacks/config';
import { CostReport } from './estimate';
import { usd } from './render';

/** The resources that are the database itself (what differs between the engines, alarms and log group aside). */
const DATABASE_TYPES = new Set(['aws_db_instance', 'aws_rds_cluster', 'aws_rds_cluster_instance']);

export interface EngineCost {
  env: string;
  engine: EnvironmentConfig['database']['engine'];
  /** How the engine is sized in that environment, e.g. `db.t4g.micro, 20 GB gp3` or `0-2 ACU, pauses after 300 s`. */
  sizing: string;
  database: { idleUsd: number; trafficUsd: number };
  environment: { idleUsd: number; trafficUsd: number };
  unpriced: string[];
}

export function sizingOf(config: EnvironmentConfig): string {
  const d = config.database;
  if (d.engine === 'rds-instance') return `${d.instanceClass}${d.multiAz ? ' Multi-AZ' : ''}, ${d.allocatedStorageGb} GB gp3`;
  const pause = d.aurora.minAcu === 0 ? `, pauses after ${d.aurora.secondsUntilAutoPause} s idle` : '';
  return `${d.aurora.minAcu}-${d.aurora.maxAcu} ACU${d.aurora.reader ? ', writer + reader' : ''}${pause}`;
}

/** One row of the comparison: the database's own lines and the whole environment, idle and under traffic. */
export function engineCost(config: EnvironmentConfig, report: CostReport): EngineCost {
  const database = report.items.filter((i) => DATABASE_TYPES.has(i.type));
  const total = (pick: (i: (typeof database)[number]) => number) => Math.round(database.reduce((t, i) => t + pick(i), 0) * 100) / 100;
  return {
    env: config.env,
    engine: config.database.engine,
    sizing: sizingOf(config),
    database: { idleUsd: total((i) => i.idle.usd), trafficUsd: total((i) => i.traffic.usd) },
    environment: { idleUsd: report.total.idleUsd, trafficUsd: report.total.trafficUsd },
    unpriced: database.filter((i) => i.status !== 'priced').map((i) => `${i.address}: ${i.reason}`),
  };
}

/** The engines side by side, per environment: the database's cost and the environment's total, idle and under the profile. */
export function renderEngines(rows: EngineCost[], profile: string): string {
  const header = ['env', 'database.engine', 'sizing', 'database idle $/mo', `database ${profile} $/mo`, 'environment idle $/mo', `environment ${profile} $/mo`];
  const cells = rows.map((r) => [r.env, r.engine, r.sizing, usd(r.database.idleUsd), usd(r.database.trafficUsd), usd(r.environment.idleUsd), usd(r.environment.trafficUsd)]);
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((cell, i) => (i >= 3 ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join('  ').trimEnd();
  const unpriced = rows.flatMap((r) => r.unpriced.map((u) => `UNPRICED (${r.env}, ${r.engine}): ${u}`));
  return [
    `Database engines side by side (USD/month, eu-west-3, Free Tier not deducted; database = the instance, or the cluster and its instances)`,
    '',
    line(header),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...cells.map(line),
    ...(unpriced.length > 0 ? ['', ...unpriced] : []),
    '',
  ].join('\n');
}
