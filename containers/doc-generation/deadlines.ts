import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { maxReceiveCountOf } from '../shared/consumer';

/**
 * Every duration and limit that decides how a doc job's order ends, named once here and derived
 * from the doc-jobs queue itself (its visibility timeout V and its redrive policy's
 * maxReceiveCount R, read at start), so tests with a 3 s queue and AWS with a 180 s one (R = 5)
 * keep the same relations. AWS values in brackets.
 *
 * - `leaseMs` = V / 2 [90 s], renewed every `renewEveryMs` = lease / 3 [30 s]. While the owner
 *   lives its lease never lapses; when it dies (kill -9, OOM, Spot reclaim) the lease has run out
 *   before its message becomes visible again (the consumer's heartbeat last pushed the message
 *   to at least 2V/3 after the death, the last renewal left at most V/2), so the next delivery
 *   retakes the order instead of finding it held.
 * - `successorDelaySeconds` = V, at most SQS's 900 s [180 s]: on a message's last receive the job
 *   first sends its order's next message with this delay (handler.ts), so an attempt that dies
 *   then (the message goes to the DLQ on its next receive) still leaves the order a message that
 *   retakes it; it also scales the workers up from zero. By the time it is visible a dead
 *   owner's lease has expired; a live owner is normally done (a finished order drops it).
 * - `stuckAfterMs` = (R + 1) × V [18 min]: an unsettled order that has not moved (no take, no
 *   lease renewal, no re-send) for this long has no message left that could still move it: a
 *   message lives at most R receives of V each, plus one V of margin. The sweeper (sweeper.ts)
 *   then re-sends its doc job, or fails it.
 * - `maxRequeues` [2]: doc jobs sent for an order after its first one (hand-offs and sweeper
 *   re-sends, `orders.requeues`). An order whose attempts keep dying gets that many more rounds
 *   of R receives; after that the next take, or the sweeper, marks it `failed`.
 * - `sweepEveryMs` = V / 3, within 1 s … 60 s [60 s]: how often each task runs the sweeper (and
 *   once at start).
 */
export interface QueueSettings {
  visibilityTimeoutSeconds: number;
  /** Receives before the redrive policy moves a message to the DLQ; undefined without one. */
  maxReceiveCount?: number;
}

export interface OrderDeadlines {
  /** How long a take (or a renewal) of an order's generation lasts. */
  leaseMs: number;
  /** How often the owner renews its lease while it works. */
  renewEveryMs: number;
  /** Delay of the hand-off message a job sends on its last receive. */
  successorDelaySeconds: number;
  /** An unsettled order that has not moved for this long has lost its doc job. */
  stuckAfterMs: number;
  /** Doc jobs sent for an order after its first one, before it is given up as failed. */
  maxRequeues: number;
  /** How often each worker task runs the sweeper. */
  sweepEveryMs: number;
}

/** More rounds of `maxReceiveCount` receives for an order whose attempts keep being interrupted. */
export const MAX_REQUEUES = 2;
/** Used when the queue has no redrive policy (messages never die): the AWS queues' value. */
const DEFAULT_MAX_RECEIVE_COUNT = 5;

export function orderDeadlines(queue: QueueSettings, overrides: Partial<OrderDeadlines> = {}): OrderDeadlines {
  const visibilityMs = queue.visibilityTimeoutSeconds * 1000;
  const receives = queue.maxReceiveCount ?? DEFAULT_MAX_RECEIVE_COUNT;
  const leaseMs = Math.max(300, visibilityMs / 2);
  return {
    leaseMs,
    renewEveryMs: leaseMs / 3,
    successorDelaySeconds: Math.min(900, Math.max(1, queue.visibilityTimeoutSeconds)),
    stuckAfterMs: (receives + 1) * visibilityMs,
    maxRequeues: MAX_REQUEUES,
    sweepEveryMs: Math.min(60_000, Math.max(1000, visibilityMs / 3)),
    ...overrides,
  };
}

/** The visibility timeout and maxReceiveCount of a queue, as the consumer reads them at start. */
export async function readQueueSettings(sqs: SQSClient, queueUrl: string): Promise<QueueSettings> {
  const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['VisibilityTimeout', 'RedrivePolicy'] }));
  return {
    visibilityTimeoutSeconds: Number(attrs.Attributes?.VisibilityTimeout ?? 30),
    maxReceiveCount: maxReceiveCountOf(attrs.Attributes?.RedrivePolicy),
  };
}
