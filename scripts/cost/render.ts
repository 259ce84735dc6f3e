import { CostReport, LineItem, PricedCharge } from './estimate';

export function usd(value: number): string {
  if (value === 0) return '0.00';
  if (value < 0.005) return '<0.01';
  return value.toFixed(2);
}

function quantity(value: number): string {
  if (Number.isInteger(value)) return value.toLocaleString('en-US');
  return value >= 100 ? Math.round(value).toLocaleString('en-US') : Number(value.toPrecision(3)).toString();
}

function describeCharges(charges: PricedCharge[]): string {
  return charges
    .filter((c) => c.quantity > 0)
    .map((c) => `${quantity(c.quantity)} ${c.what} ($${usd(c.usd)})`)
    .join('; ');
}

function basis(item: LineItem): string {
  if (item.status !== 'priced') return `${item.status === 'free' ? 'free' : 'UNPRICED'}: ${item.reason}`;
  const idle = describeCharges(item.idle.charges);
  const traffic = describeCharges(item.traffic.charges);
  const parts = [idle ? `idle: ${idle}` : 'idle: nothing billed', traffic && traffic !== idle ? `traffic: ${traffic}` : ''];
  return [...parts.filter(Boolean), ...item.notes].join(' | ');
}

const sortItems = (items: LineItem[]): LineItem[] =>
  [...items].sort((a, b) => a.layer.localeCompare(b.layer) || b.traffic.usd - a.traffic.usd || a.address.localeCompare(b.address));

function textTable(header: string[], rows: string[][], rightAligned: Set<number>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function renderText(report: CostReport): string {
  const trafficHeader = `traffic $/mo (${report.profile})`;
  const rows = sortItems(report.items).map((item) => [
    item.layer,
    item.count === 1 ? item.address : `${item.address} x${item.count}`,
    item.status,
    usd(item.idle.usd),
    usd(item.traffic.usd),
    basis(item),
  ]);
  const layers = Object.entries(report.byLayer).sort(([a], [b]) => a.localeCompare(b));
  const layerRows = [
    ...layers.map(([layer, t]) => [layer, usd(t.idleUsd), usd(t.trafficUsd)]),
    ['TOTAL', usd(report.total.idleUsd), usd(report.total.trafficUsd)],
  ];
  const out = [
    `Monthly cost of ${report.label} (USD, eu-west-3, Free Tier not deducted)`,
    '',
    textTable(['layer', 'resource', 'status', 'idle $/mo', trafficHeader, 'basis'], rows, new Set([3, 4])),
    '',
    textTable(['layer', 'idle $/mo', trafficHeader], layerRows, new Set([1, 2])),
    '',
    `Always-free allowances would cover $${usd(report.alwaysFree.idleUsd)} of the idle and $${usd(report.alwaysFree.trafficUsd)} of the traffic figure (shared by every environment of the account; not deducted above).`,
  ];
  out.push(
    report.unpriced.length === 0
      ? 'Unpriced resources: none.'
      : `Unpriced resources (${report.unpriced.length}), NOT in the totals:\n${report.unpriced.map((i) => `  - ${i.stack}/${i.address}: ${i.reason}`).join('\n')}`,
  );
  if (report.unconfirmedPrices.length > 0) out.push(`Prices used whose Paris figure is not confirmed: ${report.unconfirmedPrices.join(', ')}.`);
  return `${out.join('\n')}\n`;
}

const cell = (text: string): string => text.replace(/\|/g, '\\|');

export function renderMarkdown(report: CostReport): string {
  const trafficHeader = `With traffic (${report.profile}) $/mo`;
  const layers = Object.entries(report.byLayer).sort(([a], [b]) => a.localeCompare(b));
  const lines = [
    `## Monthly cost of ${report.label}`,
    '',
    'USD, eu-west-3, AWS Free Tier not deducted.',
    '',
    `| Layer | Idle $/mo | ${trafficHeader} |`,
    '|---|---:|---:|',
    ...layers.map(([layer, t]) => `| ${layer} | ${usd(t.idleUsd)} | ${usd(t.trafficUsd)} |`),
    `| **Total** | **${usd(report.total.idleUsd)}** | **${usd(report.total.trafficUsd)}** |`,
    '',
    `Always-free allowances would cover $${usd(report.alwaysFree.idleUsd)} idle / $${usd(report.alwaysFree.trafficUsd)} with traffic (shared across the account's environments, not deducted).`,
    '',
    report.unpriced.length === 0
      ? 'Unpriced resources: none.'
      : `**Unpriced resources (${report.unpriced.length}), not in the totals:** ${report.unpriced.map((i) => `\`${i.stack}/${i.address}\` (${cell(i.reason ?? '')})`).join(', ')}`,
    '',
    '<details><summary>Per resource</summary>',
    '',
    `| Layer | Resource | Status | Idle $/mo | ${trafficHeader} | Basis |`,
    '|---|---|---|---:|---:|---|',
    ...sortItems(report.items).map(
      (i) => `| ${i.layer} | \`${i.address}\`${i.count === 1 ? '' : ` x${i.count}`} | ${i.status} | ${usd(i.idle.usd)} | ${usd(i.traffic.usd)} | ${cell(basis(i))} |`,
    ),
    '',
    '</details>',
  ];
  if (report.unconfirmedPrices.length > 0) lines.push('', `Prices whose Paris figure is not confirmed: ${report.unconfirmedPrices.map((k) => `\`${k}\``).join(', ')}.`);
  return `${lines.join('\n')}\n`;
}
