import type { MessageAttributeValue, SQSClient } from '@aws-sdk/client-sqs';
import type { Knex } from 'knex';
import * as z from './zod';
import { HttpTimeouts, requestHandlerOptions, sqsSdk } from './aws-sdk';
import type { AppConfig } from './config';
import { ConfigError } from './errors';
import { ENV } from './contract';
import { DependencyUnavailableError, endedBySignal } from './failures';
import { requestDeadline } from './request-deadline';

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
export function docJobQueueOf(order: { batch_id: string | null }): DocJobQueue {
  return order.batch_id ? 'batchDocJobs' : 'docJobs';
}

/** docJobQueueOf's rule as a filter on `orders`: the orders whose doc jobs go to `queue`. */
export function whereOfDocJobQueue(query: Knex.QueryBuilder, queue: DocJobQueue): Knex.QueryBuilder {
  return queue === 'batchDocJobs' ? query.whereNotNull('batch_id') : query.whereNull('batch_id');
}

export const DOC_JOB_QUEUES = ['docJobs', 'batchDocJobs'] as const;
export type DocJobQueue = (typeof DOC_JOB_QUEUES)[number];
/** The URLs of the two doc-job queues. */
export type DocJobQueueUrls = Record<DocJobQueue, string>;

/** The order a doc job is sent for: its id, and its batch (which decides the queue). */
export interface DocJobOrder {
  id: string;
  batch_id: string | null;
}

/**
 * `delaySeconds` (at most 900, SQS's limit) keeps a job out of sight for a while: the doc worker's
 * hand-off, sent while the attempt that sends it may still finish (containers/doc-generation).
 */
export interface DocJobOptions extends JobTrace {
  delaySeconds?: number;
}

/** A queue URL the configuration must hold; its absence names the variable that sets it. */
export function requiredQueueUrl(url: string | undefined, variable: string): string {
  if (!url) throw new ConfigError(`${variable} is not set`);
  return url;
}

/**
 * SQS answers every call in milliseconds but a long poll, which it holds open up to
 * `MAX_WAIT_TIME_SECONDS` before answering. A connection that stops answering without closing (a
 * replaced NAT instance, a path that fails silently) must fail the attempt, never hold its caller
 * for ever: a consumer loop whose receive hangs takes no message again, a handler whose send hangs
 * holds its slot. So each attempt (the SDK makes up to 3) of a call is bounded by `requestMs`, a
 * receive by its wait plus `requestMs` (`receiveTimeoutMs`, passed by the consumer), and the
 * socket's silence by the longest receive.
 */
export const SQS_TIMEOUTS: HttpTimeouts = { connectMs: 3_000, requestMs: 5_000 };
/** The longest WaitTimeSeconds SQS takes. */
export const MAX_WAIT_TIME_SECONDS = 20;
/** The bound of one attempt of a receive that waits `waitTimeSeconds`. */
export const receiveTimeoutMs = (waitTimeSeconds: number): number => waitTimeSeconds * 1000 + SQS_TIMEOUTS.requestMs;

export function createSqsClient(config: Pick<AppConfig, 'aws'>): SQSClient {
  return new (sqsSdk().SQSClient)({
    region: config.aws.region,
    endpoint: config.aws.endpoint,
    requestHandler: { ...requestHandlerOptions(SQS_TIMEOUTS), socketTimeout: receiveTimeoutMs(MAX_WAIT_TIME_SECONDS) },
  });
}

export interface JobQueue {
  /** The doc job of one order, to its own queue (docJobQueueOf): an interactive order's to doc-jobs. */
  sendDocJob(order: DocJobOrder, options?: DocJobOptions): Promise<void>;
  /**
   * The doc jobs of a batch's orders, to batch-doc-jobs, in SendMessageBatch calls of 10; throws if
   * any entry failed (the caller retries, consumers are idempotent). `delaysSeconds[i]`, when
   * given, is the DelaySeconds of the i-th job (a batch's release pace).
   */
  sendBatchDocJobs(orderIds: string[], trace?: JobTrace, delaysSeconds?: readonly number[]): Promise<void>;
  sendBatchJob(batchId: string, trace?: JobTrace): Promise<void>;
}

/**
 * The one sender of jobs: services, workers and `npm run ops` all send through it. Without `sqs`,
 * a client is created (and the SDK loaded) on the first send.
 */
export function createJobQueue(config: Pick<AppConfig, 'aws' | 'queues'>): JobQueue;
export function createJobQueue(config: Pick<AppConfig, 'queues'>, sqs: SQSClient): JobQueue;
export function createJobQueue(config: Pick<AppConfig, 'queues'> & Partial<Pick<AppConfig, 'aws'>>, sqs?: SQSClient): JobQueue {
  let client = sqs;
  // The overloads give `aws` whenever no client is.
  const sqsClient = () => (client ??= createSqsClient({ aws: config.aws! }));
  const docJobQueueUrl = (queue: DocJobQueue) =>
    queue === 'docJobs'
      ? requiredQueueUrl(config.queues.docJobsUrl, ENV.docJobsQueueUrl)
      : requiredQueueUrl(config.queues.batchDocJobsUrl, ENV.batchDocJobsQueueUrl);
  // Inside a request the SDK's attempts (3 × SQS_TIMEOUTS, about 25 s) outlast the order service's
  // 10 s Lambda: a silent SQS had it killed before its handler could answer, or fail the batch
  // whose job was not sent (functions/order/app.ts), which then stayed pending with no job. So
  // the send gives up at the request's deadline; one SQS took before that is a duplicate the
  // workers tolerate.
  const send = async (queueUrl: string, body: object, { delaySeconds = 0, requestId }: DocJobOptions = {}): Promise<void> => {
    const deadline = requestDeadline();
    try {
      await sqsClient().send(
        new (sqsSdk().SendMessageCommand)({
          QueueUrl: queueUrl,
          MessageBody: JSON.stringify(body),
          MessageAttributes: traceAttributes({ requestId }),
          ...(delaySeconds > 0 ? { DelaySeconds: Math.min(900, Math.round(delaySeconds)) } : {}),
        }),
        deadline === undefined ? undefined : { abortSignal: AbortSignal.timeout(Math.max(1, deadline - Date.now())) },
      );
    } catch (err) {
      if (deadline !== undefined && endedBySignal(err)) {
        throw new DependencyUnavailableError('queue', 'the queue did not answer before the request deadline', 'queue unavailable, please retry shortly');
      }
      throw err;
    }
  };
  return {
    sendDocJob: (order, options) => send(docJobQueueUrl(docJobQueueOf(order)), DocJobMessage.parse({ v: 1, orderId: order.id }), options),
    sendBatchJob: (batchId, trace) => send(requiredQueueUrl(config.queues.batchJobsUrl, ENV.batchJobsQueueUrl), BatchJobMessage.parse({ v: 1, batchId }), trace),
    sendBatchDocJobs: async (orderIds, trace, delaysSeconds) => {
      const attributes = traceAttributes(trace);
      const queueUrl = docJobQueueUrl('batchDocJobs');
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
