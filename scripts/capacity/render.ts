import { CapacityReport } from './model';

const rate = (perSecond: number): string => {
  if (!Number.isFinite(perSecond)) return '∞';
  if (perSecond >= 1) return `${perSecond.toFixed(1)}/s`;
  return `${(perSecond * 60).toFixed(1)}/min`;
};
const times = (n: number): string => (Number.isFinite(n) ? `${n >= 100 ? n.toFixed(0) : n.toFixed(1)}×` : '—');
const count = (n: number): string => (n >= 1e6 ? `${(n / 1e6).toFixed(1)} M` : n >= 1e3 ? `${(n / 1e3).toFixed(0)} k` : n.toFixed(0));

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

export function renderCapacity(report: CapacityReport): string {
  const flows = table(
    ['flow', 'ceiling', 'per month', 'set by', 'raise with', 'peak (profile)', 'headroom'],
    report.flows.map((f) => [f.flow, `${rate(f.perSecond)} ${f.unit}`, count(f.perMonth), f.limit, f.knob, rate(f.peakPerSecond), times(f.headroom)]),
  );
  const limits = table(
    ['limit', 'capacity', 'at peak', 'used', 'breaks at', 'knob', 'raise', 'USD/month'],
    report.limits.map((l) => [
      l.limit.name,
      `${l.limit.capacity.toFixed(l.limit.capacity < 10 ? 2 : 0)} ${l.limit.unit}`,
      l.demand.toFixed(3),
      `${(l.utilisation * 100).toFixed(1)}%`,
      times(l.breaksAt),
      l.limit.knob,
      l.limit.raise.step,
      l.limit.raise.monthlyUsd.toFixed(2),
    ]),
  );
  const breaking = report.firstToBreak
    .map((b) => `at ${b.multiple}× the profile: ${b.limits.length === 0 ? 'every limit holds' : b.limits.join(', ')}`)
    .join('\n');
  const checks = report.checks.map((c) => `${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}`).join('\n');
  return `Capacity of ${report.env} under the ${report.profile} profile (peak = ${report.assumptions.peakToAverage.value}× the month's average)\n\n${flows}\n\n${limits}\n\n${breaking}\n\n${checks}\n`;
}
