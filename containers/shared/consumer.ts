import {
  SQSClient,
  ReceiveMessageCommand,
  DeleteMessageCommand,
  ChangeMessageVisibilityCommand,
  GetQueueAttributesCommand,
  Message,
} from '@aws-sdk/client-sqs';
import type { Logger } from '../../core/logger';

/**
 * The one SQS consumer loop of the workers (why not `sqs-consumer`: see docs/workers.md).
 *
 * - long polling, receiving up to `min(10, free slots)` messages so a task never holds a
 *   message it cannot start at once (a held message would age in flight for nothing);
 * - at most `concurrency` handlers run at once; a slot frees as soon as ITS handler ends,
 *   so a slow document never stalls the others;
 * - a heartbeat pushes the visibility of each in-flight message forward every third of the
 *   queue's visibility timeout, so a long job is never handed to a second worker;
 * - success → delete; failure → the message is left alone and comes back after its
 *   visibility timeout, until the queue's redrive policy moves it to the DLQ;
 * - `stop(drainMs)` stops receiving (the poll in progress ends within `waitTimeSeconds` and
 *   releases what it got), tells handlers through their AbortSignal that the task is
 *   draining, waits for them up to the deadline, then releases whatever is still in flight
 *   with visibility 0 so another task takes it at once.
 */
export interface ReceivedMessage {
  id: string;
  body: string;
  /** How many times SQS has handed this message out, this time included. */
  receiveCount: number;
  /** True when a failure now sends the message to the DLQ (receiveCount reached maxReceiveCount). */
  lastAttempt: boolean;
}

export type MessageHandler = (message: ReceivedMessage, draining: AbortSignal) => Promise<void>;

export interface ConsumerOptions {
  sqs: SQSClient;
  queueUrl: string;
  concurrency: number;
  handler: MessageHandler;
  logger: Logger;
  /** Long-poll wait; 20 s (the SQS maximum) in AWS, shorter in tests. */
  waitTimeSeconds?: number;
}

export interface StopReport {
  /** Handlers that ended (success or failure) before the deadline. */
  finished: number;
  /** Messages made visible again because their handler yielded or missed the deadline. */
  released: number;
}

export interface Consumer {
  /** The queue's visibility timeout, read at start; heartbeats extend to it. */
  readonly visibilityTimeoutSeconds: number;
  inFlight(): number;
  stop(drainMs: number): Promise<StopReport>;
}

/** A handler throws this when it stopped early because the task is draining: release, not fail. */
export class DrainRequested extends Error {
  constructor() {
    super('worker is draining; message released for another task');
    this.name = 'DrainRequested';
  }
}

/**
 * One receive of a message. Keyed by a token of its own, not by MessageId: when a visibility
 * timeout lapses while a handler runs (a failed heartbeat, a blocked event loop), SQS hands the
 * same MessageId out again, and each copy must hold its own slot and be waited for by stop().
 */
interface InFlight {
  message: ReceivedMessage;
  receiptHandle: string;
  settled: Promise<void>;
  done: boolean;
  heartbeat?: NodeJS.Timeout;
}

function maxReceiveCountOf(redrivePolicy: string | undefined): number | undefined {
  if (!redrivePolicy) return undefined;
  try {
    const n = Number((JSON.parse(redrivePolicy) as { maxReceiveCount?: unknown }).maxReceiveCount);
    return Number.isFinite(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function startConsumer(opts: ConsumerOptions): Promise<Consumer> {
  const { sqs, queueUrl, handler } = opts;
  if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1) throw new Error(`concurrency must be a positive integer, got ${opts.concurrency}`);
  const log = opts.logger.child({ component: 'consumer', queue: queueUrl.split('/').pop() });
  const waitTimeSeconds = opts.waitTimeSeconds ?? 20;
  const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['VisibilityTimeout', 'RedrivePolicy'] }));
  const visibilityTimeoutSeconds = Number(attrs.Attributes?.VisibilityTimeout ?? 30);
  const maxReceiveCount = maxReceiveCountOf(attrs.Attributes?.RedrivePolicy);
  const heartbeatMs = Math.max(250, (visibilityTimeoutSeconds * 1000) / 3);

  const inflight = new Map<number, InFlight>();
  let receives = 0;
  const draining = new AbortController();
  let slotFreed: () => void = () => undefined;
  let stopping = false;
  let released = 0;

  const setVisibility = async (f: InFlight, seconds: number): Promise<void> => {
    await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: queueUrl, ReceiptHandle: f.receiptHandle, VisibilityTimeout: seconds }));
  };

  const release = async (f: InFlight, why: string): Promise<void> => {
    clearInterval(f.heartbeat);
    try {
      await setVisibility(f, 0);
      released += 1;
      log.info('message released', { messageId: f.message.id, why });
    } catch (err) {
      log.warn('release failed; the message returns after its visibility timeout', { messageId: f.message.id, err });
    }
  };

  const run = (raw: Message): void => {
    const message: ReceivedMessage = {
      id: raw.MessageId ?? '',
      body: raw.Body ?? '',
      receiveCount: Number(raw.Attributes?.ApproximateReceiveCount ?? 1),
      lastAttempt: false,
    };
    message.lastAttempt = maxReceiveCount !== undefined && message.receiveCount >= maxReceiveCount;
    const f: InFlight = { message, receiptHandle: raw.ReceiptHandle ?? '', settled: Promise.resolve(), done: false };
    const token = ++receives;
    if ([...inflight.values()].some((other) => other.message.id === message.id)) {
      log.warn('message received again while an earlier copy still runs (its visibility lapsed)', { messageId: message.id, receiveCount: message.receiveCount });
    }
    inflight.set(token, f);
    f.heartbeat = setInterval(() => {
      setVisibility(f, visibilityTimeoutSeconds).catch((err) => log.warn('heartbeat failed', { messageId: message.id, err }));
    }, heartbeatMs);
    f.settled = (async () => {
      const started = Date.now();
      try {
        await handler(message, draining.signal);
        await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: f.receiptHandle }));
        log.info('message done', { messageId: message.id, ms: Date.now() - started });
      } catch (err) {
        if (err instanceof DrainRequested) await release(f, 'handler yielded to drain');
        else log.error('message failed; left for retry/DLQ', { messageId: message.id, receiveCount: message.receiveCount, err });
      } finally {
        clearInterval(f.heartbeat);
        f.done = true;
        inflight.delete(token);
        slotFreed();
      }
    })();
  };

  const waitForSlot = (): Promise<void> =>
    inflight.size < opts.concurrency ? Promise.resolve() : new Promise<void>((r) => (slotFreed = r));

  const loop = (async () => {
    let failures = 0;
    while (!stopping) {
      await waitForSlot();
      if (stopping) break;
      try {
        const got = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: Math.min(10, opts.concurrency - inflight.size),
            WaitTimeSeconds: waitTimeSeconds,
            MessageSystemAttributeNames: ['ApproximateReceiveCount'],
          }),
        );
        failures = 0;
        for (const m of got.Messages ?? []) {
          if (stopping) {
            // Received by a poll that raced with stop(): hand it straight back.
            const stray = { message: { id: m.MessageId ?? '', body: '', receiveCount: 0, lastAttempt: false }, receiptHandle: m.ReceiptHandle ?? '', settled: Promise.resolve(), done: true };
            await release(stray, 'received while stopping');
          } else run(m);
        }
      } catch (err) {
        if (stopping) break;
        failures += 1;
        log.error('receive failed', { err, failures });
        await sleep(Math.min(20_000, 500 * 2 ** Math.min(failures, 6)));
      }
    }
  })();

  log.info('consumer started', { concurrency: opts.concurrency, visibilityTimeoutSeconds, maxReceiveCount });

  return {
    visibilityTimeoutSeconds,
    inFlight: () => inflight.size,
    async stop(drainMs: number): Promise<StopReport> {
      if (stopping) throw new Error('consumer already stopped');
      stopping = true;
      const pending = [...inflight.values()];
      log.info('draining', { inFlight: pending.length, drainMs });
      draining.abort();
      slotFreed();
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<void>((r) => (timer = setTimeout(r, drainMs)));
      await Promise.race([Promise.all(pending.map((f) => f.settled)), deadline]);
      clearTimeout(timer);
      // The poll in progress is not aborted: SQS may already have handed it messages, which an
      // aborted request would strand for a whole visibility timeout. It ends within
      // waitTimeSeconds and releases what it got.
      await loop;
      const late = pending.filter((f) => !f.done);
      await Promise.all(late.map((f) => release(f, 'drain deadline reached')));
      const report = { finished: pending.length - late.length, released };
      log.info('drained', { ...report });
      return report;
    },
  };
}
