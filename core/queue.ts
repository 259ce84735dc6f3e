import type { MessageAttributeValue, SQSClient } from '@aws-sdk/client-sqs';
import * as z from './zod';
import { sqsSdk } from './aws-sdk';
import type { AppConfig } from './config';
import { ConfigError } from './errors';

/** Versioned queue messages (DESIGN §5). Consumers parse with these schemas and reject other versions. */
export const DocJobMessage = z.object({ v: z.literal(1), orderId: z.uuid() });
export type DocJobMessage = z.infer<typeof DocJobMessage>;
export const BatchJobMessage = z.object({ v: z.literal(1), batchId: z.uuid() });
export type BatchJobMessage = z.infer<typeof BatchJobMessage>;

/**
 * The request a job belongs to travels beside its body, as this SQS message attribute: the
 * gateway's request id (`x-request-id`, functions/shared/http.ts), so the worker's lines and its
 * own calls carry the id of the request that caused them (docs/operations.md, "follow one
 * order"). An attribute, not a body field: the versioned body stays `{ v: 1, … }` for every
 * reader, SQS keeps attributes through the redrive to the DLQ and back, and a message without
 * one is still a valid job (the consumer then names it after its message id).
 */
export const REQUEST_ID_ATTRIBUTE = 'requestId';

/** What a sent job carries besides its body. */
export interface JobTrace {
  /** The request that caused the job; its lines and the worker's share it. */
  requestId?: string;
}

/** The message attributes of a job sent on behalf of `trace` (none without a request id). */
export function traceAttributes(trace: JobTrace = {}): Record<string, MessageAttributeValue> | undefined {
  return trace.requestId ? { [REQUEST_ID_ATTRIBUTE]: { DataType: 'String', StringValue: trace.requestId } } : undefined;
}

/**
 * The queue of an order's doc jobs: a batch's rows go to `batchDocJobs`, every other order to
 * `docJobs`, which the doc-generation worker serves first (core/contract.ts QUEUES). Every sender
 * of doc jobs (the order service, the b2b-batch worker, the doc worker's hand-offs and sweeper,
 * `npm run ops -- orders requeue`) follows this rule.
 */
export function docJobQueueOf(order: { batch_id: string | null }): 'docJobs' | 'batchDocJobs' {
  return order.batch_id ? 'batchDocJobs' : 'docJobs';
}

export function createSqsClient(config: Pick<AppConfig, 'aws'>): SQSClient {
  return new (sqsSdk().SQSClient)({ region: config.aws.region, endpoint: config.aws.endpoint });
}

export interface JobQueue {
  /** The doc job of an interactive (B2C) order, to doc-jobs. */
  sendDocJob(orderId: string, trace?: JobTrace): Promise<void>;
  /**
   * The doc jobs of a batch's orders, to batch-doc-jobs, in SendMessageBatch calls of 10; throws if
   * any entry failed (the caller retries, consumers are idempotent). `delaysSeconds[i]`, when
   * given, is the DelaySeconds of the i-th job (a batch's release pace).
   */
  sendBatchDocJobs(orderIds: string[], trace?: JobTrace, delaysSeconds?: readonly number[]): Promise<void>;
  sendBatchJob(batchId: string, trace?: JobTrace): Promise<void>;
}

function required(value: string | undefined, variable: string): string {
  if (!value) throw new ConfigError(`${variable} is not set`);
  return value;
}

/** `sqs` defaults to a client created (and the SDK loaded) on the first send. */
export function createJobQueue(config: Pick<AppConfig, 'aws' | 'queues'>, sqs?: SQSClient): JobQueue {
  let client = sqs;
  const sqsClient = () => (client ??= createSqsClient(config));
  const send = async (queueUrl: string, body: object, trace?: JobTrace): Promise<void> => {
    await sqsClient().send(
      new (sqsSdk().SendMessageCommand)({ QueueUrl: queueUrl, MessageBody: JSON.stringify(body), MessageAttributes: traceAttributes(trace) }),
    );
  };
  return {
    sendDocJob: (orderId, trace) => send(required(config.queues.docJobsUrl, 'DOC_JOBS_QUEUE_URL'), DocJobMessage.parse({ v: 1, orderId }), trace),
    sendBatchJob: (batchId, trace) => send(required(config.queues.batchJobsUrl, 'BATCH_JOBS_QUEUE_URL'), BatchJobMessage.parse({ v: 1, batchId }), trace),
    sendBatchDocJobs: async (orderIds, trace, delaysSeconds) => {
      const attributes = traceAttributes(trace);
      const queueUrl = required(config.queues.batchDocJobsUrl, 'BATCH_DOC_JOBS_QUEUE_URL');
      for (let i = 0; i < orderIds.length; i += 10) {
        const chunk = orderIds.slice(i, i + 10);
        const out = await sqsClient().send(
          new (sqsSdk().SendMessageBatchCommand)({
            QueueUrl: queueUrl,
            Entries: chunk.map((orderId, n) => ({
              Id: String(n),
              MessageBody: JSON.stringify(DocJobMessage.parse({ v: 1, orderId })),
              MessageAttributes: attributes,
              ...(delaysSeconds?.[i + n] ? { DelaySeconds: delaysSeconds[i + n] } : {}),
            })),
          }),
        );
        if (out.Failed && out.Failed.length > 0) {
          throw new Error(`SQS rejected ${out.Failed.length} doc job(s): ${out.Failed.map((f) => f.Code).join(', ')}`);
        }
      }
    },
  };
}
