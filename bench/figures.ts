import { cpus, loadavg } from 'node:os';

/**
 * What every benchmark under bench/ ends with besides its table: one JSON line of its figures,
 * `{"bench": …, "at": …, "node": …, "cpus": …, "loadAverage": [1, 5, 15 min], …figures}`, so that
 * runs can be compared line by line (`grep '^{"bench"'`). The machine may be shared: the load
 * average travels with the figures.
 */
export const loadAverage = (): number[] => loadavg().map((l) => Number(l.toFixed(2)));

export const formatLoad = (): string => loadAverage().join(' ');

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Rounds every number in the figures to `digits` decimals (the JSON line need not carry float noise). */
const rounded = (value: unknown, digits: number): unknown => {
  if (typeof value === 'number') return Number(value.toFixed(digits));
  if (Array.isArray(value)) return value.map((v) => rounded(v, digits));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, rounded(v, digits)]));
  return value;
};

export function printFigures(bench: string, figures: Record<string, unknown>, digits = 2): void {
  const line = { bench, at: new Date().toISOString(), node: process.version, cpus: cpus().length, loadAverage: loadAverage(), ...(rounded(figures, digits) as object) };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}
