import { Finding, Status } from './finding';
import { PreflightReport } from './run';

const LABEL: Record<Status, string> = { ok: 'ok', warning: 'WARN', error: 'ERROR', skipped: 'skip' };

/**
 * The report as a text table: one row per finding (status, check, what was found), the fix on
 * the line below a warning or an error, and a closing verdict.
 */
export function renderTable(report: PreflightReport): string {
  const checkWidth = Math.max('CHECK'.length, ...report.findings.map((f) => f.check.length));
  const statusWidth = 6;
  const row = (status: string, check: string, text: string) => `${status.padEnd(statusWidth)}  ${check.padEnd(checkWidth)}  ${text}`;
  const indent = ' '.repeat(statusWidth + 2 + checkWidth + 2);
  const lines = [
    `preflight ${report.env}: account ${report.account ?? 'unknown'}, region ${report.region}${report.caller ? `, as ${report.caller}` : ''}`,
    '',
    row('STATUS', 'CHECK', 'FINDING'),
  ];
  for (const f of report.findings) {
    lines.push(row(LABEL[f.status], f.check, f.message));
    if (f.fix) lines.push(`${indent}fix: ${f.fix}`);
  }
  lines.push('', verdict(report));
  return `${lines.join('\n')}\n`;
}

function verdict(report: PreflightReport): string {
  const counts = `${report.errors} error${report.errors === 1 ? '' : 's'}, ${report.warnings} warning${report.warnings === 1 ? '' : 's'}`;
  return report.ok ? `${counts}: nothing checked here stops the deploy of ${report.env}` : `${counts}: the deploy of ${report.env} would fail; fix the errors first`;
}

/** The report as JSON (`--json`): the same findings, for a pipeline to read. */
export function renderJson(report: PreflightReport): string {
  const findings: Finding[] = report.findings.map((f) => ({ check: f.check, status: f.status, message: f.message, ...(f.fix ? { fix: f.fix } : {}) }));
  return `${JSON.stringify({ ...report, findings }, null, 2)}\n`;
}
