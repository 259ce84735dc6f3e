import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  Message,
  MessageAttributeValue,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { Logger } from '../../core/logger';
import { REQUEST_ID_ATTRIBUTE } from '../../core/queue';
import { maxReceiveCountOf } from '../../containers/shared/consumer';
import { subjectOf } from '../../containers/shared/consumer';
import type { QueueStem } from './args';
import { OpsTarget, queueAttributes } from './target';

/**
 * The dead-letter queues, seen and emptied without a console.
 *
 * `inspect` receives a sample with a short visibility (HOLD_SECONDS: if the tool dies they come
 * back by themselves) and releases it at once (visibility 0): nothing is consumed, and a
 * message's receive count in the DLQ goes up by one, which nothing reads (a DLQ has no redrive
 * policy).
 *
 * `redrive` moves messages back to their queue by receive → send (same body, same message
 * attributes: the request id stays with the job) → delete, ten at a time. Not SQS's own
 * StartMessageMoveTask: the emulator of the local run and the tests (fauxqs) does not implement
 * it, so that path could never be run before an incident, and it cannot stop after N messages.
 * A crash between a send and its delete leaves the message in both queues; the next redrive
 * sends it once more, which the workers take as the duplicate delivery they already tolerate
 * (every job is idempotent, docs/workers.md). A message whose send fails is released in the DLQ
 * and reported.
 */
const HOLD_SECONDS = 30;
/** A moved message is out of sight this long in the DLQ between its send and its delete. */
const MOVE_HOLD_SECONDS = 60;

export interface DlqMessage {
  messageId: string;
  /** The body, parsed when it is JSON (the v1 job), else as received. */
  body: unknown;
  orderId?: string;
  batchId?: string;
  requestId?: string;
  /** Receives so far, in the source queue and the DLQ, this inspection's included. */
  receiveCount: number;
  sentAt?: string;
  firstReceivedAt?: string;
  ageSeconds?: number;
}

export interface InspectReport {
  queue: string;
  dlq: string;
  dlqUrl: string;
  /** The DLQ: messages waiting, and messages someone holds (another inspection or a redrive). */
  dlqMessages: { visible: number; inFlight: number };
  /** The source queue, for scale: its backlog and what the workers hold. */
  queueMessages: { visible: number; inFlight: number; delayed: number };
  maxReceiveCount?: number;
  /** Age of the oldest message seen (from its first send); exact for the whole DLQ when every message was sampled. */
  oldestAgeSeconds?: number;
  sampled: number;
  sample: DlqMessage[];
}

export interface RedriveReport {
  queue: string;
  dlq: string;
  dryRun: boolean;
  /** Messages moved (or, with --dry-run, that would be). */
  moved: number;
  failed: { messageId: string; code?: string; message?: string }[];
  messages: (DlqMessage & { newMessageId?: string })[];
  /** Visible in the DLQ after the run. */
  leftInDlq: number;
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

/** Up to `n` messages of `url`, each hidden for `holdSeconds`; long polls of 1 s, so SQS asks all its servers. */
async function receive(sqs: SQSClient, url: string, n: number, holdSeconds: number): Promise<Message[]> {
  const got: Message[] = [];
  while (got.length < n) {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: Math.min(10, n - got.length),
        VisibilityTimeout: holdSeconds,
        WaitTimeSeconds: 1,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
    );
    if (!out.Messages || out.Messages.length === 0) break;
    got.push(...out.Messages);
  }
  return got;
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

export async function inspectDlq(target: OpsTarget, stem: QueueStem, sampleSize: number, log: Logger): Promise<InspectReport> {
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
  const ages = sample.map((m) => m.ageSeconds).filter((a): a is number => a !== undefined);
  log.info('dlq inspected', { queue: q.name, visible: dlqMessages.visible, sampled: sample.length });
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

export async function redriveDlq(target: OpsTarget, stem: QueueStem, opts: { max?: number; dryRun: boolean }, log: Logger): Promise<RedriveReport> {
  const q = await target.queue(stem);
  const visible = async () => num((await queueAttributes(target.sqs, q.dlqUrl, ['ApproximateNumberOfMessages'])).ApproximateNumberOfMessages);
  // Those there at the start: a message that fails again and comes back during the run is not moved twice.
  const atStart = await visible();
  const limit = Math.min(opts.max ?? atStart, atStart);
  const report: RedriveReport = { queue: q.name, dlq: q.dlqName, dryRun: opts.dryRun, moved: 0, failed: [], messages: [], leftInDlq: atStart };

  if (opts.dryRun) {
    const held = limit > 0 ? await receive(target.sqs, q.dlqUrl, limit, HOLD_SECONDS) : [];
    await release(target.sqs, q.dlqUrl, held, log);
    const now = Date.now();
    report.messages = held.map((m) => describe(m, now));
    report.moved = held.length;
    log.info('dlq redrive (dry run): nothing moved', { queue: q.name, wouldMove: held.length });
    report.leftInDlq = await visible();
    return report;
  }

  while (report.moved + report.failed.length < limit) {
    const batch = await receive(target.sqs, q.dlqUrl, Math.min(10, limit - report.moved - report.failed.length), MOVE_HOLD_SECONDS);
    if (batch.length === 0) break;
    const now = Date.now();
    const sent = await target.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: q.url,
        Entries: batch.map((m, n) => ({ Id: String(n), MessageBody: m.Body ?? '', MessageAttributes: attributesOf(m) })),
      }),
    );
    const done = (sent.Successful ?? []).map((s) => ({ message: batch[Number(s.Id)], newMessageId: s.MessageId }));
    if (done.length > 0) {
      const deleted = await target.sqs.send(
        new DeleteMessageBatchCommand({ QueueUrl: q.dlqUrl, Entries: done.map((d, n) => ({ Id: String(n), ReceiptHandle: d.message.ReceiptHandle! })) }),
      );
      for (const f of deleted.Failed ?? []) {
        // Sent but still in the DLQ: it comes back there after its hold; moving it again is a harmless duplicate.
        log.warn('message moved but not deleted from the DLQ', { messageId: done[Number(f.Id)].message.MessageId, code: f.Code });
      }
    }
    for (const d of done) {
      const described = describe(d.message, now);
      report.messages.push({ ...described, newMessageId: d.newMessageId });
      report.moved += 1;
      log.info('message redriven', { queue: q.name, messageId: described.messageId, newMessageId: d.newMessageId, requestId: described.requestId, orderId: described.orderId, batchId: described.batchId });
    }
    const failed = (sent.Failed ?? []).map((f) => ({ message: batch[Number(f.Id)], code: f.Code, text: f.Message }));
    for (const f of failed) {
      report.failed.push({ messageId: f.message.MessageId ?? '', code: f.code, message: f.text });
      log.error('message not moved; left in the DLQ', { queue: q.name, messageId: f.message.MessageId, code: f.code, reason: f.text });
    }
    await release(target.sqs, q.dlqUrl, failed.map((f) => f.message), log);
  }
  report.leftInDlq = await visible();
  log.info('dlq redriven', { queue: q.name, moved: report.moved, failed: report.failed.length, leftInDlq: report.leftInDlq });
  return report;
}
