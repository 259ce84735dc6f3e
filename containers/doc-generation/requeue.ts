import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DocJobMessage, docJobQueueOf, JobTrace, traceAttributes } from '../../core/queue';

/**
 * The doc-generation worker sends doc jobs itself in two cases only, both counted in
 * `orders.requeues` and bounded by `maxRequeues` (deadlines.ts): the hand-off message a job sends
 * on its last receive (handler.ts), and the sweeper's re-send of a job that was lost
 * (sweeper.ts). `delaySeconds` (≤ 900, SQS's limit) keeps the hand-off out of sight while the
 * attempt that sent it may still finish. `requestId` goes on as the message's attribute
 * (core/queue.ts): a hand-off keeps its job's, a sweep sends under its own. The job goes to the
 * order's own queue (`docJobQueueOf`): a batch row's to batch-doc-jobs, any other to doc-jobs.
 */
export interface DocJobOptions extends JobTrace {
  delaySeconds?: number;
}

/** The order a doc job is sent for: its id, and its batch (which decides the queue). */
export interface DocJobOrder {
  id: string;
  batch_id: string | null;
}

export interface DocJobSender {
  sendDocJob(order: DocJobOrder, options?: DocJobOptions): Promise<void>;
}

/** The URLs of the two doc-job queues. */
export type DocJobQueueUrls = Record<ReturnType<typeof docJobQueueOf>, string>;

export function createDocJobSender(sqs: SQSClient, queueUrls: DocJobQueueUrls): DocJobSender {
  return {
    sendDocJob: async ({ id: orderId, batch_id }, { delaySeconds = 0, requestId } = {}) => {
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: queueUrls[docJobQueueOf({ batch_id })],
          MessageBody: JSON.stringify(DocJobMessage.parse({ v: 1, orderId })),
          DelaySeconds: Math.min(900, Math.max(0, Math.round(delaySeconds))),
          MessageAttributes: traceAttributes({ requestId }),
        }),
      );
    },
  };
}
