import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DocJobMessage, JobTrace, traceAttributes } from '../../core/queue';

/**
 * The doc-generation worker sends doc jobs itself in two cases only, both counted in
 * `orders.requeues` and bounded by `maxRequeues` (deadlines.ts): the hand-off message a job sends
 * on its last receive (handler.ts), and the sweeper's re-send of a job that was lost
 * (sweeper.ts). `delaySeconds` (≤ 900, SQS's limit) keeps the hand-off out of sight while the
 * attempt that sent it may still finish. `requestId` goes on as the message's attribute
 * (core/queue.ts): a hand-off keeps its job's, a sweep sends under its own.
 */
export interface DocJobOptions extends JobTrace {
  delaySeconds?: number;
}

export interface DocJobSender {
  sendDocJob(orderId: string, options?: DocJobOptions): Promise<void>;
}

export function createDocJobSender(sqs: SQSClient, queueUrl: string): DocJobSender {
  return {
    sendDocJob: async (orderId, { delaySeconds = 0, requestId } = {}) => {
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: JSON.stringify(DocJobMessage.parse({ v: 1, orderId })),
          DelaySeconds: Math.min(900, Math.max(0, Math.round(delaySeconds))),
          MessageAttributes: traceAttributes({ requestId }),
        }),
      );
    },
  };
}
