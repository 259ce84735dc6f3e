import type { InspectReport, RedriveReport } from './dlq';
import type { RequeueReport, StuckReport } from './orders';

/** The `--format table` view of each result: a few summary lines, then one row per item. */
export function table(rows: Record<string, unknown>[], columns: string[]): string {
  const cell = (v: unknown): string => (v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join('\n');
}

const block = (summary: string[], body: string | undefined): string => [...summary, ...(body ? ['', body] : [])].join('\n') + '\n';

export function renderInspect(r: InspectReport): string {
  return block(
    [
      `${r.dlq}: ${r.dlqMessages.visible} waiting, ${r.dlqMessages.inFlight} held${r.oldestAgeSeconds !== undefined ? `; oldest sampled ${r.oldestAgeSeconds} s old` : ''}`,
      `${r.queue}: ${r.queueMessages.visible} waiting, ${r.queueMessages.inFlight} in flight, ${r.queueMessages.delayed} delayed; maxReceiveCount ${r.maxReceiveCount ?? 'none'}`,
      `sampled ${r.sampled} (released)`,
    ],
    r.sample.length > 0 ? table(r.sample as unknown as Record<string, unknown>[], ['messageId', 'orderId', 'batchId', 'requestId', 'receiveCount', 'sentAt', 'firstReceivedAt', 'ageSeconds']) : undefined,
  );
}

export function renderRedrive(r: RedriveReport): string {
  return block(
    [
      `${r.dryRun ? 'would move' : 'moved'} ${r.moved} from ${r.dlq} to ${r.queue}${r.failed.length > 0 ? `; ${r.failed.length} not moved` : ''}; ${r.leftInDlq} left in the DLQ`,
      ...r.failed.map((f) => `not moved: ${f.messageId} (${f.code ?? 'error'}: ${f.message ?? ''})`),
    ],
    r.messages.length > 0 ? table(r.messages as unknown as Record<string, unknown>[], ['messageId', 'newMessageId', 'orderId', 'batchId', 'requestId', 'receiveCount', 'sentAt']) : undefined,
  );
}

export function renderStuck(r: StuckReport): string {
  return block(
    [
      `${r.count} order(s) paid/queued/generating without a sign of life for over ${r.olderThanMinutes} min${r.truncated ? ` (first ${r.orders.length} shown)` : ''}`,
      `sweeper: acts after ${r.sweeper.stuckAfterMinutes} min, at most ${r.sweeper.maxRequeues} re-sends, every ${r.sweeper.sweepEverySeconds} s in each running doc-generation task; doc-jobs backlog ${r.docJobsBacklog}`,
    ],
    r.orders.length > 0 ? table(r.orders as unknown as Record<string, unknown>[], ['orderId', 'status', 'requeues', 'idleMinutes', 'batchId', 'batchRow', 'sweeper', 'why']) : undefined,
  );
}

export function renderRequeue(r: RequeueReport): string {
  const rows = [...r.sent.map((s) => ({ ...s, result: 'sent', why: s.note })), ...r.skipped.map((s) => ({ ...s, result: 'skipped' }))];
  return block([`${r.sent.length} doc job(s) sent to ${r.queue} under request id ${r.requestId}; ${r.skipped.length} skipped`], table(rows, ['orderId', 'status', 'result', 'why']));
}
