import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  Message,
  MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { Knex } from 'knex';
import type { Interrupt } from '../../core/interrupt';
import type { Logger } from '../../core/logger';
import { QUEUES, UUID_PATTERN } from '../../core/contract';
import { REQUEST_ID_ATTRIBUTE } from '../../core/queue';
import { maxReceiveCountOf } from '../../containers/shared/consumer';
import { subjectOf } from '../../containers/shared/consumer';
import type { QueueStem } from './args';
import { OpsTarget, queueAttributes } from './target';
import { cloudWatchOldestAges, localOldestAgeSeconds } from './workers';

/**
 * The dead-letter queues, seen and emptied without a console.
 *
 * `list` is every DLQ's depth and the age of its oldest message (CloudWatch's
 * ApproximateAgeOfOldestMessage in AWS, the alarm's metric; fauxqs's inspection route locally).
 *
 * `show` receives a sample with a short visibility (HOLD_SECONDS: if the tool dies they come
 * back by themselves) and releases it at once (visibility 0): nothing is consumed, and a
 * message's receive count in the DLQ goes up by one, which nothing reads (a DLQ has no redrive
 * policy). With a database, each message's order (or batch) as the worker left it: its status
 * and the last error it recorded (`orders.error`, `batches.error`), the why of the death that the
 * message itself does not carry.
 *
 * `redrive` moves messages back to their queue by receive → send (same body, same message
 * attributes: the request id stays with the job) → delete, ten at a time, at most `ratePerSecond`
 * (a pause after each ten when ahead). Not SQS's own
 * StartMessageMoveTask: the emulator of the local run and the tests (fauxqs) does not implement
 * it, so that path could never be run before an incident, and it cannot stop after N messages.
 * Interrupted (SIGINT, SIGTERM), a run takes no more messages: those in hand are sent and
 * deleted, the held ones released, and the report says so (`interrupted`); killed instead,
 * a crash between a send and its delete leaves the message in both queues; the next redrive
 * sends it once more, which the workers take as the duplicate delivery they already tolerate
 * (every job is idempotent, docs/workers.md). A message whose send fails is reported and stays
 * held in the DLQ until the run ends, so it is tried once per run, and the run goes on with the
 * others. A message SQS hands out again during a run is listed, sent and counted once; one the
 * run sent that dies again before it ends (its cause not fixed) is held like a refused one and
 * counted (`diedAgain`), not moved a second time. SQS
 * refuses a whole SendMessageBatch whose messages add up to more than one message may be
 * (BatchRequestTooLong): ten received together are sent in as many batches as their sizes need,
 * so a few large bodies cannot stop every run at the same ten.
 */
const HOLD_SECONDS = 30;
/**
 * The most messages a dry run receives and lists (as many as `dlq show` samples). Receiving a
 * whole large DLQ would take thousands of receives, whose holds lapse before the end (the same
 * messages again, the count short), and print every body; the count comes from the DLQ's depth.
 */
const DRY_RUN_SAMPLE = 100;
/** A moved message is out of sight this long in the DLQ between its send and its delete. */
const MOVE_HOLD_SECONDS = 60;

export interface DlqMessage {
  messageId: string;
  /** The body, parsed when it is JSON (the v1 job), else as received. */
  body: unknown;
  orderId?: string;
  batchId?: string;
  requestId?: string;
  /** Receives so far, in the source queue and the DLQ, this `show`'s included. */
  receiveCount: number;
  sentAt?: string;
  firstReceivedAt?: string;
  ageSeconds?: number;
  /** `dlq show` with a database: the order or batch the body names, as it is now; `missing` when no row has that id. */
  recorded?: { status: string; error: string | null; updatedAt: string } | 'missing';
}

export interface DlqFigures {
  queue: string;
  dlq: string;
  visible: number;
  inFlight: number;
  /** Seconds; undefined when nothing waits or the source has no figure yet. */
  oldestAgeSeconds?: number;
}

export interface ListReport {
  source: string;
  dlqs: DlqFigures[];
}

export interface ShowReport {
  queue: string;
  dlq: string;
  dlqUrl: string;
  /** The DLQ: messages waiting, and messages someone holds (another `show` or a redrive). */
  dlqMessages: { visible: number; inFlight: number };
  /** The source queue, for scale: its backlog and what the workers hold. */
  queueMessages: { visible: number; inFlight: number; delayed: number };
  maxReceiveCount?: number;
  /** Age of the oldest message seen (from its first send); exact for the whole DLQ when every message was sampled. */
  oldestAgeSeconds?: number;
  sampled: number;
  sample: DlqMessage[];
  /** Whether the sample's orders and batches were read (`recorded`): only with a database. */
  database: boolean;
}

export interface RedriveReport {
  queue: string;
  dlq: string;
  dryRun: boolean;
  ratePerSecond: number;
  /** Messages moved; with --dry-run, those a run would take (visible at the start, at most --max), of which `messages` lists 100 at most. */
  moved: number;
  failed: { messageId: string; code?: string; message?: string }[];
  messages: (DlqMessage & { newMessageId?: string })[];
  /**
   * Messages this run moved that were back in the DLQ before it ended (the id SQS gave the copy
   * sent, which the redrive policy keeps): their cause is not fixed. Not moved again; counted in
   * `leftInDlq`.
   */
  diedAgain: number;
  /** Visible in the DLQ after the run. */
  leftInDlq: number;
  /**
   * In the DLQ but held by someone after the run (a redrive that died between its send and its
   * delete, another tool): not moved by this run, visible again within their hold. Run again then.
   */
  heldInDlq: number;
  /** The signal that stopped the run before its end: the messages in hand were finished, the others left in the DLQ. */
  interrupted?: NodeJS.Signals;
}

const num = (v: string | undefined): number => Number(v ?? 0);

function describe(m: Message, now: number): DlqMessage {
  const body = m.Body ?? '';
  let parsed: unknown = body;
  try {
    parsed = JSON.parse(body);
  } catch {
    // Not JSON: shown as it is (the consumer sent it here for that).
  }
  const sent = m.Attributes?.SentTimestamp ? Number(m.Attributes.SentTimestamp) : undefined;
  const first = m.Attributes?.ApproximateFirstReceiveTimestamp ? Number(m.Attributes.ApproximateFirstReceiveTimestamp) : undefined;
  return {
    messageId: m.MessageId ?? '',
    body: parsed,
    ...subjectOf(body),
    requestId: m.MessageAttributes?.[REQUEST_ID_ATTRIBUTE]?.StringValue,
    receiveCount: num(m.Attributes?.ApproximateReceiveCount),
    sentAt: sent ? new Date(sent).toISOString() : undefined,
    firstReceivedAt: first ? new Date(first).toISOString() : undefined,
    ageSeconds: sent ? Math.max(0, Math.round((now - sent) / 1000)) : undefined,
  };
}

/**
 * Up to `n` distinct messages of `url`, each hidden for `holdSeconds`; long polls of 1 s, so SQS
 * asks all its servers. SQS may hand out a message it already answered (at-least-once delivery,
 * or a hold that lapsed): it is kept once, with its latest receipt handle, the one SQS honours,
 * and a receive that answers only such messages ends the loop (it is going round).
 */
async function receive(sqs: SQSClient, url: string, n: number, holdSeconds: number): Promise<Message[]> {
  const got = new Map<string, Message>();
  while (got.size < n) {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: Math.min(10, n - got.size),
        VisibilityTimeout: holdSeconds,
        WaitTimeSeconds: 1,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
    );
    if (!out.Messages || out.Messages.length === 0) break;
    const before = got.size;
    for (const m of out.Messages) got.set(m.MessageId ?? '', m);
    if (got.size === before) break;
  }
  return [...got.values()].slice(0, n);
}

/** Makes messages visible again at once; a failure only means they come back after their hold. */
async function release(sqs: SQSClient, url: string, messages: Message[], log: Logger): Promise<void> {
  for (let i = 0; i < messages.length; i += 10) {
    const chunk = messages.slice(i, i + 10);
    try {
      const out = await sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: url,
          Entries: chunk.map((m, n) => ({ Id: String(n), ReceiptHandle: m.ReceiptHandle!, VisibilityTimeout: 0 })),
        }),
      );
      for (const f of out.Failed ?? []) log.warn('message not released; it comes back after its hold', { messageId: chunk[Number(f.Id)].MessageId, code: f.Code });
    } catch (err) {
      log.warn('messages not released; they come back after their hold', { count: chunk.length, err });
    }
  }
}

export async function listDlqs(target: OpsTarget, cloudwatch: CloudWatchClient | undefined): Promise<ListReport> {
  const queues = await Promise.all((Object.values(QUEUES) as QueueStem[]).map((stem) => target.queue(stem)));
  const depths = await Promise.all(queues.map((q) => queueAttributes(target.sqs, q.dlqUrl, ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'])));
  const now = Date.now();
  const ages = target.endpoint
    ? await Promise.all(queues.map((q) => localOldestAgeSeconds(target.endpoint!, q.dlqName, now)))
    : await cloudWatchOldestAges(cloudwatch!, queues.map((q) => q.dlqName), now);
  return {
    source: target.endpoint ? `the emulator at ${target.endpoint}` : `SQS and CloudWatch (ApproximateAgeOfOldestMessage, a minute or two behind) in ${target.region}`,
    dlqs: queues.map((q, i) => ({
      queue: q.name,
      dlq: q.dlqName,
      visible: num(depths[i].ApproximateNumberOfMessages),
      inFlight: num(depths[i].ApproximateNumberOfMessagesNotVisible),
      ...(ages[i] !== undefined ? { oldestAgeSeconds: ages[i] } : {}),
    })),
  };
}

/** Each sampled message's order or batch as it is now, read-only. */
async function recordedOf(db: Knex, sample: DlqMessage[]): Promise<void> {
  const read = async (table: 'orders' | 'batches', ids: string[]) =>
    ids.length === 0
      ? new Map<string, DlqMessage['recorded']>()
      : new Map(
          ((await db(table).whereIn('id', ids).select('id', 'status', 'error', 'updated_at')) as { id: string; status: string; error: string | null; updated_at: Date }[]).map((r) => [
            r.id,
            { status: r.status, error: r.error, updatedAt: new Date(r.updated_at).toISOString() },
          ]),
        );
  // The body is the sender's: only an id the column can hold is looked up.
  const ids = (pick: (m: DlqMessage) => string | undefined) => [...new Set(sample.map(pick).filter((id): id is string => !!id && UUID_PATTERN.test(id)))];
  const orders = await read('orders', ids((m) => m.orderId));
  const batches = await read('batches', ids((m) => m.batchId));
  for (const m of sample) {
    const id = m.orderId ?? m.batchId;
    if (!id || !UUID_PATTERN.test(id)) continue;
    m.recorded = (m.orderId ? orders : batches).get(id) ?? 'missing';
  }
}

export async function showDlq(target: OpsTarget, stem: QueueStem, sampleSize: number, log: Logger, db?: Knex): Promise<ShowReport> {
  const q = await target.queue(stem);
  const [dlqAttrs, srcAttrs] = await Promise.all([
    queueAttributes(target.sqs, q.dlqUrl, ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible']),
    queueAttributes(target.sqs, q.url, ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible', 'ApproximateNumberOfMessagesDelayed', 'RedrivePolicy']),
  ]);
  const dlqMessages = { visible: num(dlqAttrs.ApproximateNumberOfMessages), inFlight: num(dlqAttrs.ApproximateNumberOfMessagesNotVisible) };
  const held = sampleSize > 0 && dlqMessages.visible > 0 ? await receive(target.sqs, q.dlqUrl, sampleSize, HOLD_SECONDS) : [];
  await release(target.sqs, q.dlqUrl, held, log);
  const now = Date.now();
  const sample = held.map((m) => describe(m, now));
  if (db) await recordedOf(db, sample);
  const ages = sample.map((m) => m.ageSeconds).filter((a): a is number => a !== undefined);
  log.info('dlq shown', { queue: q.name, visible: dlqMessages.visible, sampled: sample.length });
  return {
    queue: q.name,
    dlq: q.dlqName,
    dlqUrl: q.dlqUrl,
    dlqMessages,
    queueMessages: {
      visible: num(srcAttrs.ApproximateNumberOfMessages),
      inFlight: num(srcAttrs.ApproximateNumberOfMessagesNotVisible),
      delayed: num(srcAttrs.ApproximateNumberOfMessagesDelayed),
    },
    maxReceiveCount: maxReceiveCountOf(srcAttrs.RedrivePolicy),
    oldestAgeSeconds: ages.length > 0 ? Math.max(...ages) : undefined,
    sampled: sample.length,
    sample,
    database: db !== undefined,
  };
}

/** Only what SendMessage takes back: String, Number and Binary values by their data type. */
function attributesOf(m: Message): Record<string, MessageAttributeValue> | undefined {
  const entries = Object.entries(m.MessageAttributes ?? {}).map(([k, v]) => [
    k,
    { DataType: v.DataType, ...(v.StringValue !== undefined ? { StringValue: v.StringValue } : {}), ...(v.BinaryValue !== undefined ? { BinaryValue: v.BinaryValue } : {}) },
  ]);
  return entries.length > 0 ? Object.fromEntries(entries) : undefined;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** SQS's ceiling on a message, and on a SendMessageBatch's messages together, whatever a queue's MaximumMessageSize. */
const SQS_MAX_BATCH_BYTES = 1_048_576;

/** What SQS counts of a message against those limits: the body, and each attribute's name, data type and value (binary as sent, base64). */
function sizeOf(body: string, attributes: Record<string, MessageAttributeValue> | undefined): number {
  let size = Buffer.byteLength(body, 'utf8');
  for (const [name, v] of Object.entries(attributes ?? {})) {
    size += Buffer.byteLength(name, 'utf8') + Buffer.byteLength(v.DataType ?? '', 'utf8');
    if (v.StringValue !== undefined) size += Buffer.byteLength(v.StringValue, 'utf8');
    if (v.BinaryValue !== undefined) size += Math.ceil(v.BinaryValue.length / 3) * 4;
  }
  return size;
}

/** Consecutive runs of `items` whose sizes add up to `budget` at most; an item larger than that alone goes in a run of its own. */
function within<T>(items: T[], size: (item: T) => number, budget: number): T[][] {
  const runs: T[][] = [];
  let run: T[] = [];
  let total = 0;
  for (const item of items) {
    const n = size(item);
    if (run.length > 0 && total + n > budget) {
      runs.push(run);
      run = [];
      total = 0;
    }
    run.push(item);
    total += n;
  }
  if (run.length > 0) runs.push(run);
  return runs;
}

interface Moving {
  message: Message;
  entry: { Id: string; MessageBody: string; MessageAttributes?: Record<string, MessageAttributeValue> };
}

/** Sends one run of messages to `url`: each sent with its new id, or failed with SQS's code (a refused request fails all of its run). */
async function sendRun(sqs: SQSClient, url: string, run: Moving[]): Promise<{ done: { message: Message; newMessageId?: string }[]; failed: { message: Message; code?: string; text?: string }[] }> {
  const byId = new Map(run.map((m) => [m.entry.Id, m.message]));
  try {
    const sent = await sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: run.map((m) => m.entry) }));
    return {
      done: (sent.Successful ?? []).map((s) => ({ message: byId.get(s.Id!)!, newMessageId: s.MessageId })),
      failed: (sent.Failed ?? []).map((f) => ({ message: byId.get(f.Id!)!, code: f.Code, text: f.Message })),
    };
  } catch (err) {
    const e = err as Error;
    return { done: [], failed: run.map((m) => ({ message: m.message, code: e.name, text: e.message })) };
  }
}

/** Deletes messages sent to their queue from the DLQ; one not deleted comes back there after its hold, and moving it again is a harmless duplicate. */
async function deleteFromDlq(sqs: SQSClient, url: string, messages: Message[], log: Logger): Promise<void> {
  if (messages.length === 0) return;
  const deleted = await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: url, Entries: messages.map((m, n) => ({ Id: String(n), ReceiptHandle: m.ReceiptHandle! })) }));
  for (const f of deleted.Failed ?? []) log.warn('message moved but not deleted from the DLQ', { messageId: messages[Number(f.Id)].MessageId, code: f.Code });
}

export async function redriveDlq(target: OpsTarget, stem: QueueStem, opts: { max?: number; dryRun: boolean; ratePerSecond: number; stop?: Pick<Interrupt, 'signal'> }, log: Logger): Promise<RedriveReport> {
  const q = await target.queue(stem);
  const depth = async () => {
    const a = await queueAttributes(target.sqs, q.dlqUrl, ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible']);
    return { visible: num(a.ApproximateNumberOfMessages), held: num(a.ApproximateNumberOfMessagesNotVisible) };
  };
  // Those there at the start: a message that fails again and comes back during the run is not moved twice.
  const atStart = (await depth()).visible;
  const limit = Math.min(opts.max ?? atStart, atStart);
  const report: RedriveReport = { queue: q.name, dlq: q.dlqName, dryRun: opts.dryRun, ratePerSecond: opts.ratePerSecond, moved: 0, failed: [], messages: [], diedAgain: 0, leftInDlq: atStart, heldInDlq: 0 };
  const after = async () => {
    const d = await depth();
    report.leftInDlq = d.visible;
    report.heldInDlq = d.held;
  };

  if (opts.dryRun) {
    const held = limit > 0 ? await receive(target.sqs, q.dlqUrl, Math.min(limit, DRY_RUN_SAMPLE), HOLD_SECONDS) : [];
    await release(target.sqs, q.dlqUrl, held, log);
    const now = Date.now();
    report.messages = held.map((m) => describe(m, now));
    report.moved = limit;
    log.info('dlq redrive (dry run): nothing moved', { queue: q.name, wouldMove: limit, listed: held.length });
    await after();
    return report;
  }

  const maxMessageSize = num((await queueAttributes(target.sqs, q.url, ['MaximumMessageSize'])).MaximumMessageSize);
  const batchBytes = maxMessageSize > 0 ? Math.min(maxMessageSize, SQS_MAX_BATCH_BYTES) : SQS_MAX_BATCH_BYTES;
  // What this run did with each message, by id: SQS may hand one out again (at-least-once, a lapsed hold).
  const handled = new Map<string, 'moved' | 'failed'>();
  // Messages SQS refused stay held until the run ends: released at once, the next receive could take them again.
  const refused = new Map<string, Message>();
  // The ids SQS gave the copies this run sent: one received from the DLQ died again, and moving it
  // again would spend the run on it (a standard queue keeps no order) while the others wait. Held
  // until the run ends, like the refused ones.
  const sentAs = new Set<string>();
  const back = new Map<string, Message>();
  const started = Date.now();
  while (!opts.stop?.signal && report.moved + report.failed.length < limit) {
    // Ahead of the pace: wait until the messages handled so far are due.
    const ahead = started + ((report.moved + report.failed.length) / opts.ratePerSecond) * 1000 - Date.now();
    if (ahead > 0) await sleep(ahead);
    if (opts.stop?.signal) break;
    const batch = await receive(target.sqs, q.dlqUrl, Math.min(10, opts.ratePerSecond, limit - report.moved - report.failed.length), MOVE_HOLD_SECONDS);
    if (batch.length === 0) break;
    const now = Date.now();
    for (const m of batch.filter((m) => sentAs.has(m.MessageId ?? ''))) {
      if (!back.has(m.MessageId ?? '')) log.warn('a message this run moved died again; not moved again', { queue: q.name, messageId: m.MessageId, ...subjectOf(m.Body ?? '') });
      back.set(m.MessageId ?? '', m);
    }
    const fresh = batch.filter((m) => !handled.has(m.MessageId ?? '') && !sentAs.has(m.MessageId ?? ''));
    for (const m of batch) if (handled.get(m.MessageId ?? '') === 'failed') refused.set(m.MessageId ?? '', m);
    // Already sent to its queue by this run: deleting this copy completes its move, sending it again would be a second job.
    await deleteFromDlq(target.sqs, q.dlqUrl, batch.filter((m) => handled.get(m.MessageId ?? '') === 'moved'), log);
    if (fresh.length === 0) continue;
    const moving = fresh.map((m, n): Moving => ({ message: m, entry: { Id: String(n), MessageBody: m.Body ?? '', MessageAttributes: attributesOf(m) } }));
    const runs = await Promise.all(within(moving, (m) => sizeOf(m.entry.MessageBody, m.entry.MessageAttributes), batchBytes).map((run) => sendRun(target.sqs, q.url, run)));
    const done = runs.flatMap((r) => r.done);
    await deleteFromDlq(target.sqs, q.dlqUrl, done.map((d) => d.message), log);
    for (const d of done) {
      const described = describe(d.message, now);
      handled.set(described.messageId, 'moved');
      if (d.newMessageId) sentAs.add(d.newMessageId);
      report.messages.push({ ...described, newMessageId: d.newMessageId });
      report.moved += 1;
      log.info('message redriven', { queue: q.name, messageId: described.messageId, newMessageId: d.newMessageId, requestId: described.requestId, orderId: described.orderId, batchId: described.batchId });
    }
    for (const f of runs.flatMap((r) => r.failed)) {
      handled.set(f.message.MessageId ?? '', 'failed');
      refused.set(f.message.MessageId ?? '', f.message);
      report.failed.push({ messageId: f.message.MessageId ?? '', code: f.code, message: f.text });
      log.error('message not moved; left in the DLQ', { queue: q.name, messageId: f.message.MessageId, code: f.code, reason: f.text });
    }
  }
  await release(target.sqs, q.dlqUrl, [...refused.values(), ...back.values()], log);
  report.diedAgain = back.size;
  if (opts.stop?.signal) report.interrupted = opts.stop.signal;
  await after();
  log.info('dlq redriven', { queue: q.name, moved: report.moved, failed: report.failed.length, diedAgain: report.diedAgain, interrupted: report.interrupted, leftInDlq: report.leftInDlq, heldInDlq: report.heldInDlq });
  return report;
}
