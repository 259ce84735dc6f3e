import type { BatchRequeueReport, StuckBatchesReport } from './batches';
import type { ListReport, RedriveReport, ShowReport } from './dlq';
import type { KeysReport, RevokeReport, RotateReport } from './keys';
import type { FailedReport, RequeueReport, RetryReport, StuckReport } from './orders';
import type { StoryReport } from './story';
import type { WorkersReport } from './workers';

/** The `--format table` view of each result: a few summary lines, then one row per item. */
export function table(rows: Record<string, unknown>[], columns: string[]): string {
  const cell = (v: unknown): string => (v === undefined || v === null ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
  return [line(columns), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join('\n');
}

const block = (summary: string[], body: string | undefined): string => [...summary, ...(body ? ['', body] : [])].join('\n') + '\n';

export function renderList(r: ListReport): string {
  const rows = r.dlqs.map((d) => ({ ...d, oldestAge: d.oldestAgeSeconds === undefined ? '' : `${d.oldestAgeSeconds} s` }));
  return block([`${r.dlqs.reduce((n, d) => n + d.visible, 0)} message(s) waiting in the DLQs; from ${r.source}`], table(rows, ['dlq', 'visible', 'inFlight', 'oldestAge', 'queue']));
}

export function renderShow(r: ShowReport): string {
  const rows = r.sample.map((m) => ({
    ...m,
    status: typeof m.recorded === 'object' ? m.recorded.status : m.recorded,
    lastError: typeof m.recorded === 'object' ? m.recorded.error : undefined,
  }));
  return block(
    [
      `${r.dlq}: ${r.dlqMessages.visible} waiting, ${r.dlqMessages.inFlight} held${r.oldestAgeSeconds !== undefined ? `; oldest sampled ${r.oldestAgeSeconds} s old` : ''}`,
      `${r.queue}: ${r.queueMessages.visible} waiting, ${r.queueMessages.inFlight} in flight, ${r.queueMessages.delayed} delayed; maxReceiveCount ${r.maxReceiveCount ?? 'none'}`,
      `sampled ${r.sampled} (released)${r.database ? '' : '; no database given (--database-url): the orders\' last errors are not shown'}`,
    ],
    rows.length > 0
      ? table(rows as unknown as Record<string, unknown>[], ['messageId', 'orderId', 'batchId', 'requestId', 'receiveCount', 'sentAt', 'ageSeconds', ...(r.database ? ['status', 'lastError'] : [])])
      : undefined,
  );
}

export function renderRedrive(r: RedriveReport): string {
  return block(
    [
      ...(r.interrupted ? [`INTERRUPTED (${r.interrupted}): stopped after the messages in hand; run it again for the rest`] : []),
      `${r.dryRun ? 'would move' : 'moved'} ${r.moved} from ${r.dlq} to ${r.queue}${r.dryRun ? (r.messages.length < r.moved ? ` (${r.messages.length} listed below)` : '') : ` at most ${r.ratePerSecond} a second`}${r.failed.length > 0 ? `; ${r.failed.length} not moved` : ''}${r.diedAgain > 0 ? `; ${r.diedAgain} died again before the run ended (their cause is not fixed: dlq show), not moved again` : ''}; ${r.leftInDlq} left in the DLQ${r.heldInDlq > 0 ? `, ${r.heldInDlq} held by someone (visible again within their hold, then run again)` : ''}`,
      ...r.failed.map((f) => `not moved: ${f.messageId} (${f.code ?? 'error'}: ${f.message ?? ''})`),
    ],
    r.messages.length > 0 ? table(r.messages as unknown as Record<string, unknown>[], ['messageId', 'newMessageId', 'orderId', 'batchId', 'requestId', 'receiveCount', 'sentAt']) : undefined,
  );
}

export function renderStuck(r: StuckReport): string {
  return block(
    [
      `${r.count} order(s) paid/queued/generating without a sign of life for over ${r.olderThanMinutes} min${r.truncated ? ` (first ${r.orders.length} shown)` : ''}`,
      `sweeper: acts after ${r.sweeper.stuckAfterMinutes} min, at most ${r.sweeper.maxRequeues} re-sends, every ${r.sweeper.sweepEverySeconds} s in each running doc-generation task; backlog: doc-jobs ${r.docJobsBacklog.docJobs}, batch-doc-jobs ${r.docJobsBacklog.batchDocJobs}`,
    ],
    r.orders.length > 0 ? table(r.orders as unknown as Record<string, unknown>[], ['orderId', 'status', 'requeues', 'idleMinutes', 'requestId', 'batchId', 'batchRow', 'sweeper', 'why']) : undefined,
  );
}

export function renderRequeue(r: RequeueReport): string {
  const rows = [
    ...r.sent.map((s) => ({ ...s, result: 'sent', why: s.note })),
    ...r.notSent.map((s) => ({ ...s, result: 'NOT sent', why: `${s.error}: run orders requeue for it again` })),
    ...r.skipped.map((s) => ({ ...s, result: 'skipped' })),
  ];
  return block([`${r.sent.length} doc job(s) sent under request id ${r.requestId}; ${r.notSent.length} not sent; ${r.skipped.length} skipped`], table(rows, ['orderId', 'status', 'result', 'queue', 'why']));
}

export function renderStuckBatches(r: StuckBatchesReport): string {
  return block(
    [
      `${r.count} batch(es) pending/processing without an update for over ${r.olderThanMinutes} min${r.truncated ? ` (first ${r.batches.length} shown)` : ''}`,
      `batch-jobs: ${r.batchJobs.waiting} waiting, ${r.batchJobs.inFlight} in flight; its DLQ ${r.batchJobs.dlq}`,
    ],
    r.batches.length > 0
      ? table(r.batches as unknown as Record<string, unknown>[], ['batchId', 'status', 'totalRows', 'submittedRows', 'succeeded', 'failed', 'unsettledOrders', 'idleMinutes', 'clientId', 'fix', 'why'])
      : undefined,
  );
}

export function renderBatchRequeue(r: BatchRequeueReport): string {
  const rows = [
    ...r.sent.map((s) => ({ ...s, result: 'sent' })),
    ...r.notSent.map((s) => ({ ...s, result: 'NOT sent', why: `${s.error}: run batches requeue for it again` })),
    ...r.skipped.map((s) => ({ ...s, result: 'skipped' })),
  ];
  return block([`${r.sent.length} batch job(s) sent under request id ${r.requestId}; ${r.notSent.length} not sent; ${r.skipped.length} skipped`], table(rows, ['batchId', 'status', 'result', 'queue', 'why']));
}

export function renderFailed(r: FailedReport): string {
  return block(
    [
      `${r.count} order(s) failed with "${r.reason}" in the last ${r.sinceMinutes} min${r.truncated ? ` (latest ${r.orders.length} shown)` : ''}: orders retry takes them`,
      `${r.otherFailures} failed otherwise in that window (not retried)`,
    ],
    r.orders.length > 0 ? table(r.orders as unknown as Record<string, unknown>[], ['orderId', 'failedAt', 'requeues', 'requestId', 'batchId', 'batchRow']) : undefined,
  );
}

export function renderRetry(r: RetryReport): string {
  const rows = [
    ...r.retried.map((s) => ({ ...s, result: 'queued, job sent', why: s.batch === 'reopened' ? 'its completed batch reopened' : s.batch ? 'its batch count undone' : '' })),
    ...r.notSent.map((s) => ({ ...s, result: 'queued, job NOT sent', why: `${s.error}: run orders requeue for it` })),
    ...r.skipped.map((s) => ({ ...s, result: 'skipped' })),
  ];
  return block(
    [`${r.retried.length} failed order(s) queued again under request id ${r.requestId}; ${r.notSent.length} without their job; ${r.skipped.length} skipped`],
    table(rows, ['orderId', 'status', 'result', 'queue', 'batchId', 'why']),
  );
}

/** Seconds after the story's first line: how long each hop took to come. */
const offset = (first: string, time: string): string => `+${((Date.parse(time) - Date.parse(first)) / 1000).toFixed(3)}s`;

export function renderStory(r: StoryReport): string {
  const first = r.lines[0]?.time ?? '';
  const row = r.order && 'status' in r.order ? r.order : undefined;
  const summary = [
    r.orderId ? `order ${r.orderId}${r.id !== r.orderId ? ` (found by request id ${r.id})` : ''}` : `request ${r.id}: ${r.orders.length} order(s) (${r.orders.join(', ') || 'none'}); give one order id for its whole story`,
    `from ${r.source}: ${r.lines.length} line(s), ${r.requestIds.length} request(s) (${r.requestIds.join(', ')})`,
    ...(r.truncated ? ['TRUNCATED: a query answered as many lines as it may, the oldest: the newest lines are missing (a shorter --since, or one order id, reads fewer)'] : []),
    `hops: ${r.steps.map((s) => s.step).join(' → ') || 'none logged'}`,
    ...(row
      ? [`database: ${row.status}${row.error ? ` (${row.error})` : ''}, requeues ${row.requeues}, created ${row.createdAt} by request ${row.requestId ?? '(not stored)'}, updated ${row.updatedAt}${row.documentKey ? `, document ${row.documentKey}` : ''}`]
      : r.order
        ? [`database: ${(r.order as { unavailable: string }).unavailable}`]
        : []),
  ];
  const rows = r.lines.map((l) => ({
    time: l.time,
    after: offset(first, l.time),
    service: [l.service, l.component].filter(Boolean).join('/'),
    step: l.step,
    level: l.level,
    msg: [
      l.msg,
      l.msg === 'request' ? `${l.method ?? ''} ${l.path ?? ''} ${l.status ?? ''}`.trim() : '',
      typeof l.ms === 'number' ? `${l.ms} ms` : '',
      typeof l.receiveCount === 'number' && l.receiveCount > 1 ? `receive ${l.receiveCount}` : '',
      (l.err as { message?: string } | undefined)?.message ?? l.reason ?? '',
    ]
      .filter(Boolean)
      .join(' · '),
    requestId: l.requestId,
  }));
  return block(summary, table(rows, ['time', 'after', 'service', 'step', 'level', 'msg', 'requestId']));
}

export function renderWorkers(r: WorkersReport): string {
  // One row per queue a worker consumes; the worker's own columns on its first.
  const rows = r.workers.flatMap((w) =>
    w.queues.map((q, i) => ({
      worker: i === 0 ? w.worker : '',
      tasks: i > 0 ? '' : w.service ? `${w.service.running}/${w.service.desired}${w.service.pending ? ` (+${w.service.pending} pending)` : ''}` : w.local?.state,
      queue: q.name,
      waiting: q.visible,
      inFlight: q.inFlight,
      delayed: q.delayed,
      oldestAge: q.oldestAgeSeconds === undefined ? '' : `${q.oldestAgeSeconds} s`,
      dlq: q.dlqVisible,
      lastScaling: i > 0 ? '' : w.lastScaling ? `${w.lastScaling.time} ${w.lastScaling.status}: ${w.lastScaling.description}` : w.local ? `last job done ${w.local.lastJobDoneAt ?? 'never'}` : 'none',
    })),
  );
  const events = r.workers.filter((w) => w.service?.lastEvent?.message).map((w) => `${w.worker}: ${w.service!.lastEvent!.time} ${w.service!.lastEvent!.message}`);
  return block([`${r.env}: ${r.source}`, ...events], table(rows, ['worker', 'tasks', 'queue', 'waiting', 'inFlight', 'delayed', 'oldestAge', 'dlq', 'lastScaling']));
}

const KEY_COLUMNS = ['prefix', 'state', 'createdAt', 'expiresAt', 'revokedAt', 'lastUsedAt'];

export function renderKeys(r: KeysReport): string {
  const working = r.keys.filter((k) => k.state === 'active' || k.state === 'expiring').length;
  return block([`client ${r.clientId}: ${r.keys.length} key(s), ${working} working`], r.keys.length > 0 ? table(r.keys as unknown as Record<string, unknown>[], KEY_COLUMNS) : undefined);
}

export function renderRotate(r: RotateReport): string {
  return block(
    [
      `client ${r.clientId}: new key ${r.key.prefix}; give it to the partner over a secure channel, it is not shown again:`,
      r.apiKey,
      r.oldKeys.length > 0 ? `${r.oldKeys.length} old key(s) keep working until their expiry (revoke one now with keys revoke --prefix):` : 'the client had no other working key',
    ],
    r.oldKeys.length > 0 ? table(r.oldKeys as unknown as Record<string, unknown>[], KEY_COLUMNS) : undefined,
  );
}

export function renderRevoke(r: RevokeReport): string {
  return block([`key ${r.key.prefix} of client ${r.clientId} ${r.alreadyRevoked ? 'was already revoked' : 'revoked'} at ${r.key.revokedAt}: refused from the next request on`], undefined);
}
