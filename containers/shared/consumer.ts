import {
  SQSClient,
  ReceiveMessageCommand,
  DeleteMessageCommand,
  ChangeMessageVisibilityCommand,
  GetQueueAttributesCommand,
  Message,
} from '@aws-sdk/client-sqs';
import { setTimeout as delay } from 'node:timers/promises';
import type { Logger } from '../../core/logger';
import { REQUEST_ID_PATTERN } from '../../core/internal-api';
import { receiveTimeoutMs, REQUEST_ID_ATTRIBUTE } from '../../core/queue';
import { UnprocessableMessage } from './messages';

/**
 * The one SQS consumer loop of the workers (why not `sqs-consumer`: see docs/workers.md).
 *
 * - `queues` in priority order: each receive fills the free slots from the first queue that has
 *   messages, then from the next, so a message of an earlier queue never waits behind any number
 *   of a later one (doc-generation: interactive doc-jobs before batch-doc-jobs). With several
 *   queues a busy task asks each without waiting (a wait on an empty first queue would hold back
 *   the next queue's work by that much each round), and a round that found nothing anywhere is
 *   followed by one whose first queue gets the full `waitTimeSeconds`: an idle task long-polls
 *   the queue that matters most, and looks at the others after it. A short poll asks only some of
 *   SQS's servers and may miss a message of a nearly empty queue; the next round, at the next
 *   free slot, asks again. The handlers of a queue's messages start before the next queue is
 *   asked. One queue is long-polled with `waitTimeSeconds` every time;
 * - receiving up to `min(10, free slots)` messages so a task never holds a message it cannot start
 *   at once (a held message would age in flight for nothing);
 * - at most `concurrency` handlers run at once; a slot frees as soon as ITS handler ends,
 *   so a slow document never stalls the others;
 * - a heartbeat pushes the visibility of each in-flight message forward every third of its
 *   queue's visibility timeout, so a long job is never handed to a second worker;
 * - success → delete; failure → the message is left alone and comes back after its
 *   visibility timeout, until the queue's redrive policy moves it to the DLQ; a message that can
 *   never succeed (`UnprocessableMessage`: malformed, or naming nothing that exists) is made
 *   visible again at once, so its receives are used up in seconds and the redrive policy moves it
 *   to the DLQ then, not after maxReceiveCount visibility timeouts (it is deleted, with an error line,
 *   on a queue without one, where it would come back for ever);
 * - `stop(drainMs)` stops receiving (the poll in progress ends within `waitTimeSeconds` and
 *   releases what it got), tells handlers through their AbortSignal that the task is
 *   draining, waits for them up to the deadline, then releases whatever is still in flight
 *   with visibility 0 so another task takes it at once; first, each such handler gives up what
 *   it registered with `beforeRelease` (a doc job's lease), so that task can take over.
 *
 * Each message comes with its request id (the `requestId` attribute its sender set, see
 * core/queue.ts; `msg-<messageId>` when it has none) and a child logger carrying it, the message
 * id, the receive count and the order or batch its body names: the handler logs through it, and
 * so does the loop for that message, so every line of a job is found with the request that
 * caused it (docs/operations.md).
 */
export interface ReceivedMessage {
  id: string;
  body: string;
  /** How many times SQS has handed this message out, this time included. */
  receiveCount: number;
  /** True when a failure now sends the message to the DLQ (receiveCount reached maxReceiveCount). */
  lastAttempt: boolean;
  /** Receives the message has after this one before the DLQ (undefined when the queue has none). */
  receivesLeft?: number;
  /** The request that caused the job (its sender's `requestId` attribute), forwarded on the handler's own calls and jobs. */
  requestId: string;
  /** The consumer's logger with this message's request id, message id, receive count and subject (orderId / batchId). */
  logger: Logger;
  /**
   * Registers what the handler gives up when the drain deadline releases this message while the
   * handler still runs (a doc job's lease: left held, the next delivery would find the order
   * busy). Awaited, at most RELEASE_GIVE_UP_MS, before the message becomes visible; called at
   * once when the message was already released.
   */
  beforeRelease(giveUp: () => Promise<void>): void;
}

export type MessageHandler = (message: ReceivedMessage, draining: AbortSignal) => Promise<void>;

export interface ConsumerOptions {
  sqs: SQSClient;
  /** Queue URLs, most urgent first (one for a worker fed by one queue). */
  queues: string[];
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
  inFlight(): number;
  stop(drainMs: number): Promise<StopReport>;
  /**
   * The process is about to exit without finishing its jobs (a fatal error, the hard deadline):
   * stop receiving and hand every message in flight back at once (visibility 0), after each
   * handler gave up what it registered with `beforeRelease`, instead of leaving them invisible for
   * the rest of their visibility timeout. Resolves with the number released.
   */
  abandon(): Promise<number>;
}

/** A handler throws this when it stopped early because the task is draining: release, not fail. */
export class DrainRequested extends Error {
  constructor() {
    super('worker is draining; message released for another task');
    this.name = 'DrainRequested';
  }
}

/**
 * A handler throws this when its message came too early (what it names is not there yet) and will
 * succeed shortly: the message comes back after `afterSeconds`, not after a whole visibility
 * timeout. Like any failed receive, it counts towards the queue's maxReceiveCount.
 */
export class RetryLater extends Error {
  constructor(
    readonly afterSeconds: number,
    why: string,
  ) {
    super(why);
    this.name = 'RetryLater';
  }
}

/** How long the drain deadline waits for a late handler's `beforeRelease` before releasing its message anyway. */
export const RELEASE_GIVE_UP_MS = 2_000;

/**
 * One receive of a message. Keyed by a token of its own, not by MessageId: when a visibility
 * timeout lapses while a handler runs (a failed heartbeat, a blocked event loop), SQS hands the
 * same MessageId out again, and each copy must hold its own slot and be waited for by stop().
 */
interface InFlight {
  queue: QueueState;
  message: ReceivedMessage;
  /** The loop's lines about this message. */
  log: Logger;
  receiptHandle: string;
  settled: Promise<void>;
  done: boolean;
  heartbeat?: NodeJS.Timeout;
  /** The heartbeat on its way to SQS, if any: one at a time, and a release waits for it. */
  beat?: Promise<void>;
  /** What the handler registered with `beforeRelease`. */
  giveUp: Array<() => Promise<void>>;
  /** Released at the drain deadline: what the handler does after that is no longer this message's outcome. */
  releasedLate?: boolean;
}

/** One queue of the consumer, with the attributes read at start. */
interface QueueState {
  url: string;
  visibilityTimeoutSeconds: number;
  maxReceiveCount?: number;
  heartbeatMs: number;
}

/** The maxReceiveCount of a queue's RedrivePolicy attribute (undefined without a DLQ). */
export function maxReceiveCountOf(redrivePolicy: string | undefined): number | undefined {
  if (!redrivePolicy) return undefined;
  try {
    const n = Number((JSON.parse(redrivePolicy) as { maxReceiveCount?: unknown }).maxReceiveCount);
    return Number.isFinite(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Waits for `step`, at most `ms` (the timer cleared as soon as it settles); never rejects. */
async function atMost(step: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([step.catch(() => undefined), new Promise<void>((r) => (timer = setTimeout(r, ms)))]);
  clearTimeout(timer);
}

/** Waits `ms`, or until `signal` aborts (already aborted included). */
const pause = (ms: number, signal: AbortSignal): Promise<void> => delay(ms, undefined, { signal }).catch(() => undefined);

/** The request id a message carries, or one named after the message when it has none (or a malformed one). */
function requestIdOf(raw: Message): string {
  const value = raw.MessageAttributes?.[REQUEST_ID_ATTRIBUTE]?.StringValue;
  return value !== undefined && REQUEST_ID_PATTERN.test(value) ? value : `msg-${raw.MessageId ?? 'unknown'}`;
}

/** The order or batch a job body names, for its log lines; nothing when the body is not a job (its handler says why). */
export function subjectOf(body: string): { orderId?: string; batchId?: string } {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return {};
  }
  if (typeof value !== 'object' || value === null) return {};
  const subject: { orderId?: string; batchId?: string } = {};
  for (const key of ['orderId', 'batchId'] as const) {
    const id = (value as Record<string, unknown>)[key];
    if (typeof id === 'string' && id.length <= 64) subject[key] = id;
  }
  return subject;
}

export async function startConsumer(opts: ConsumerOptions): Promise<Consumer> {
  const { sqs, handler } = opts;
  if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1) throw new Error(`concurrency must be a positive integer, got ${opts.concurrency}`);
  if (opts.queues.length === 0) throw new Error('a consumer needs at least one queue');
  const log = opts.logger.child({ component: 'consumer' });
  const waitTimeSeconds = opts.waitTimeSeconds ?? 20;
  const queues: QueueState[] = await Promise.all(
    opts.queues.map(async (url) => {
      const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['VisibilityTimeout', 'RedrivePolicy'] }));
      const visibilityTimeoutSeconds = Number(attrs.Attributes?.VisibilityTimeout ?? 30);
      return { url, visibilityTimeoutSeconds, maxReceiveCount: maxReceiveCountOf(attrs.Attributes?.RedrivePolicy), heartbeatMs: Math.max(250, (visibilityTimeoutSeconds * 1000) / 3) };
    }),
  );
  const queueName = (q: QueueState): string => q.url.split('/').pop() ?? q.url;

  const inflight = new Map<number, InFlight>();
  let receives = 0;
  const draining = new AbortController();
  let slotFreed: () => void = () => undefined;
  let stopping = false;
  /** Messages the drain gave back: their handler yielded to it, or was still running at its deadline. */
  let drainReleased = 0;

  const setVisibility = async (f: InFlight, seconds: number): Promise<void> => {
    await sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: f.queue.url, ReceiptHandle: f.receiptHandle, VisibilityTimeout: seconds }));
  };

  /**
   * True once the message is visible again (or will be after `afterSeconds`). First, at most
   * RELEASE_GIVE_UP_MS together (a release at the drain deadline must still end before the hard
   * exit): `before` (what a late handler gives up), and the heartbeat still on its way (SQS slow,
   * the SDK retrying it), which landing after the release would hide the message again for a
   * whole visibility timeout.
   */
  const release = async (f: InFlight, why: string, afterSeconds = 0, before?: Promise<unknown>): Promise<boolean> => {
    clearInterval(f.heartbeat);
    if (f.beat || before) await atMost(Promise.all([f.beat, before]), RELEASE_GIVE_UP_MS);
    try {
      await setVisibility(f, afterSeconds);
      f.log.info('message released', { why, afterSeconds });
      return true;
    } catch (err) {
      f.log.warn('release failed; the message returns after its visibility timeout', { err });
      return false;
    }
  };

  /** Retries cannot help it: back at once towards the DLQ, or deleted where there is none. */
  const settlePoison = async (f: InFlight, err: UnprocessableMessage): Promise<void> => {
    if (f.queue.maxReceiveCount !== undefined) {
      f.log.error('message can never succeed; back at once, so the redrive policy moves it to the DLQ within its receives left', { err, receivesLeft: f.message.receivesLeft });
      await release(f, err.message);
      return;
    }
    f.log.error('message can never succeed and its queue has no DLQ; deleted', { err, bytes: f.message.body.length });
    await sqs.send(new DeleteMessageCommand({ QueueUrl: f.queue.url, ReceiptHandle: f.receiptHandle })).catch((e: unknown) => f.log.warn('delete failed; the message returns after its visibility timeout', { err: e }));
  };

  /** The late handler's `beforeRelease` callbacks, each failure logged. */
  const giveUpAll = (f: InFlight): Promise<unknown> => Promise.all(f.giveUp.map((fn) => fn().catch((err: unknown) => f.log.warn('giving up before the release failed', { err }))));

  const run = (queue: QueueState, raw: Message): void => {
    const id = raw.MessageId ?? '';
    const body = raw.Body ?? '';
    const receiveCount = Number(raw.Attributes?.ApproximateReceiveCount ?? 1);
    const requestId = requestIdOf(raw);
    const { maxReceiveCount } = queue;
    const fields = { requestId, messageId: id, receiveCount, ...subjectOf(body) };
    const giveUp: Array<() => Promise<void>> = [];
    const message: ReceivedMessage = {
      id,
      body,
      receiveCount,
      lastAttempt: maxReceiveCount !== undefined && receiveCount >= maxReceiveCount,
      receivesLeft: maxReceiveCount === undefined ? undefined : Math.max(0, maxReceiveCount - receiveCount),
      requestId,
      logger: opts.logger.child(fields),
      beforeRelease: (fn) => {
        // Registered after the deadline released the message (the handler was still on its way to
        // what it gives up): given up at once, or it would hold what the next delivery needs.
        if (f.releasedLate) void fn().catch((err: unknown) => mlog.warn('giving up after the release failed', { err }));
        else giveUp.push(fn);
      },
    };
    const mlog = log.child({ queue: queueName(queue), ...fields });
    const f: InFlight = { queue, message, log: mlog, receiptHandle: raw.ReceiptHandle ?? '', settled: Promise.resolve(), done: false, giveUp };
    const token = ++receives;
    if ([...inflight.values()].some((other) => other.message.id === message.id)) {
      mlog.warn('message received again while an earlier copy still runs (its visibility lapsed)');
    }
    inflight.set(token, f);
    f.heartbeat = setInterval(() => {
      f.beat ??= setVisibility(f, queue.visibilityTimeoutSeconds)
        .catch((err: unknown) => mlog.warn('heartbeat failed', { err }))
        .finally(() => (f.beat = undefined));
    }, queue.heartbeatMs);
    f.settled = (async () => {
      const started = Date.now();
      try {
        await handler(message, draining.signal);
        await sqs.send(new DeleteMessageCommand({ QueueUrl: queue.url, ReceiptHandle: f.receiptHandle }));
        mlog.info('message done', { ms: Date.now() - started });
      } catch (err) {
        // Released at the deadline, the message may be another task's already: nothing of this
        // outcome (a yield, a RetryLater's delay, a poison verdict) touches it again.
        if (f.releasedLate) mlog.info('handler ended after the drain deadline released its message', { err });
        else if (err instanceof DrainRequested) drainReleased += Number(await release(f, 'handler yielded to drain'));
        else if (err instanceof UnprocessableMessage) await settlePoison(f, err);
        else if (err instanceof RetryLater) await release(f, err.message, err.afterSeconds);
        else mlog.error('message failed; left for retry/DLQ', { lastAttempt: message.lastAttempt, err });
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

  const receive = (queue: QueueState, max: number, wait: number) =>
    sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queue.url,
        MaxNumberOfMessages: max,
        WaitTimeSeconds: wait,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
        MessageAttributeNames: [REQUEST_ID_ATTRIBUTE],
      }),
      // A poll lost on a dead connection fails and the loop polls again, instead of waiting for ever.
      { requestTimeout: receiveTimeoutMs(wait) },
    );

  const take = async (queue: QueueState, got: Message[]): Promise<void> => {
    for (const m of got) {
      if (stopping) {
        // Received by a poll that raced with stop(): hand it straight back.
        const strayLog = log.child({ queue: queueName(queue), messageId: m.MessageId ?? '', requestId: requestIdOf(m) });
        const stray: InFlight = {
          queue,
          message: { id: m.MessageId ?? '', body: '', receiveCount: 0, lastAttempt: false, requestId: requestIdOf(m), logger: strayLog, beforeRelease: () => undefined },
          log: strayLog,
          receiptHandle: m.ReceiptHandle ?? '',
          settled: Promise.resolve(),
          done: true,
          giveUp: [],
        };
        await release(stray, 'received while stopping');
      } else run(queue, m);
    }
  };

  /** One pass over the queues in priority order, filling the free slots; the number of messages taken. */
  const round = async (idle: boolean): Promise<number> => {
    let taken = 0;
    for (const [i, queue] of queues.entries()) {
      const free = opts.concurrency - inflight.size;
      if (stopping || free <= 0) break;
      const wait = queues.length === 1 || (i === 0 && idle) ? waitTimeSeconds : 0;
      const got = (await receive(queue, Math.min(10, free), wait)).Messages ?? [];
      taken += got.length;
      await take(queue, got);
    }
    return taken;
  };

  const loop = (async () => {
    let failures = 0;
    let idle = false;
    while (!stopping) {
      await waitForSlot();
      if (stopping) break;
      try {
        idle = (await round(idle)) === 0;
        failures = 0;
      } catch (err) {
        if (stopping) break;
        failures += 1;
        log.error('receive failed', { err, failures });
        // Cut short by stop() or abandon(): a backoff of up to 20 s would otherwise hold the drain
        // (an idle task's stop, or one that ends near its 110 s limit) past the hard exit.
        await pause(Math.min(20_000, 500 * 2 ** Math.min(failures, 6)), draining.signal);
      }
    }
  })();

  log.info('consumer started', {
    concurrency: opts.concurrency,
    queues: queues.map((q) => ({ name: queueName(q), visibilityTimeoutSeconds: q.visibilityTimeoutSeconds, maxReceiveCount: q.maxReceiveCount })),
  });

  /** Every message still in hand, back at once: its handler will not finish (drain deadline, or the process exiting). Resolves with the number released. */
  const releaseUnfinished = async (fs: InFlight[], why: string): Promise<number> => {
    const done = await Promise.all(
      fs
        .filter((f) => !f.done && !f.releasedLate)
        .map(async (f) => {
          f.releasedLate = true;
          return release(f, why, 0, giveUpAll(f));
        }),
    );
    return done.filter(Boolean).length;
  };

  return {
    inFlight: () => inflight.size,
    async abandon(): Promise<number> {
      stopping = true;
      draining.abort();
      slotFreed();
      return releaseUnfinished([...inflight.values()], 'worker exiting before its handler finished');
    },
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
      // Released before the poll in progress ends, not after: that poll may hold the loop for up to
      // waitTimeSeconds more (20 s), which past a long drain would be past the hard exit.
      const late = pending.filter((f) => !f.done);
      drainReleased += await releaseUnfinished(late, 'drain deadline reached');
      // The poll in progress is not aborted: SQS may already have handed it messages, which an
      // aborted request would strand for a whole visibility timeout. It ends within
      // waitTimeSeconds and releases what it got.
      await loop;
      const report = { finished: pending.length - late.length, released: drainReleased };
      log.info('drained', { ...report });
      return report;
    },
  };
}
