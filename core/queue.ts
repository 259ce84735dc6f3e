import type { SQSClient } from '@aws-sdk/client-sqs';
import * as z from './zod';
import { sqsSdk } from './aws-sdk';
import type { AppConfig } from './config';
import { ConfigError } from './errors';

/** Versioned queue messages (DESIGN §5). Consumers parse with these schemas and reject other versions. */
export const DocJobMessage = z.object({ v: z.literal(1), orderId: z.uuid() });
export type DocJobMessage = z.infer<typeof DocJobMessage>;
export const BatchJobMessage = z.object({ v: z.literal(1), batchId: z.uuid() });
export type BatchJobMessage = z.infer<typeof BatchJobMessage>;

export function createSqsClient(config: Pick<AppConfig, 'aws'>): SQSClient {
  return new (sqsSdk().SQSClient)({ region: config.aws.region, endpoint: config.aws.endpoint });
}

export interface JobQueue {
  sendDocJob(orderId: string): Promise<void>;
  /** Sends in SendMessageBatch calls of 10; throws if any entry failed (the caller retries, consumers are idempotent). */
  sendDocJobs(orderIds: string[]): Promise<void>;
  sendBatchJob(batchId: string): Promise<void>;
}

function required(value: string | undefined, variable: string): string {
  if (!value) throw new ConfigError(`${variable} is not set`);
  return value;
}

/** `sqs` defaults to a client created (and the SDK loaded) on the first send. */
export function createJobQueue(config: Pick<AppConfig, 'aws' | 'queues'>, sqs?: SQSClient): JobQueue {
  let client = sqs;
  const sqsClient = () => (client ??= createSqsClient(config));
  const send = async (queueUrl: string, body: object): Promise<void> => {
    await sqsClient().send(new (sqsSdk().SendMessageCommand)({ QueueUrl: queueUrl, MessageBody: JSON.stringify(body) }));
  };
  return {
    sendDocJob: (orderId) => send(required(config.queues.docJobsUrl, 'DOC_JOBS_QUEUE_URL'), DocJobMessage.parse({ v: 1, orderId })),
    sendBatchJob: (batchId) => send(required(config.queues.batchJobsUrl, 'BATCH_JOBS_QUEUE_URL'), BatchJobMessage.parse({ v: 1, batchId })),
    sendDocJobs: async (orderIds) => {
      const queueUrl = required(config.queues.docJobsUrl, 'DOC_JOBS_QUEUE_URL');
      for (let i = 0; i < orderIds.length; i += 10) {
        const chunk = orderIds.slice(i, i + 10);
        const out = await sqsClient().send(
          new (sqsSdk().SendMessageBatchCommand)({
            QueueUrl: queueUrl,
            Entries: chunk.map((orderId, n) => ({ Id: String(n), MessageBody: JSON.stringify(DocJobMessage.parse({ v: 1, orderId })) })),
          }),
        );
        if (out.Failed && out.Failed.length > 0) {
          throw new Error(`SQS rejected ${out.Failed.length} doc job(s): ${out.Failed.map((f) => f.Code).join(', ')}`);
        }
      }
    },
  };
}
