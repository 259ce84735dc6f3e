import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';

/**
 * Every duration that decides how a doc job's order ends, named once and derived from the
 * doc-jobs queue itself (its visibility timeout and its redrive policy's maxReceiveCount, read
 * at start), so tests with a 3 s queue and AWS with a 180 s one keep the same relations.
 *
 * - `leaseMs` = visibility / 2, renewed every `renewEveryMs` = lease / 3. While the owner lives
 *   its lease never lapses; when it dies (kill -9, OOM, Spot reclaim) the lease has run out
 *   before its message becomes visible again: the consumer's heartbeat last pushed the message
 *   to ≥ 2/3 of a visibility timeout after the death, the last renewal left ≤ 1/2, so the next
 *   delivery retakes the order instead of finding it held.
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
}

export function orderDeadlines(queue: QueueSettings): OrderDeadlines {
  const visibilityMs = queue.visibilityTimeoutSeconds * 1000;
  const leaseMs = Math.max(300, visibilityMs / 2);
  return { leaseMs, renewEveryMs: leaseMs / 3 };
}

export function maxReceiveCountOf(redrivePolicy: string | undefined): number | undefined {
  if (!redrivePolicy) return undefined;
  try {
    const n = Number((JSON.parse(redrivePolicy) as { maxReceiveCount?: unknown }).maxReceiveCount);
    return Number.isFinite(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** The visibility timeout and maxReceiveCount of a queue, as the consumer reads them at start. */
export async function readQueueSettings(sqs: SQSClient, queueUrl: string): Promise<QueueSettings> {
  const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['VisibilityTimeout', 'RedrivePolicy'] }));
  return {
    visibilityTimeoutSeconds: Number(attrs.Attributes?.VisibilityTimeout ?? 30),
    maxReceiveCount: maxReceiveCountOf(attrs.Attributes?.RedrivePolicy),
  };
}
