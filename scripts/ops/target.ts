import { GetQueueAttributesCommand, GetQueueUrlCommand, QueueAttributeName, SQSClient } from '@aws-sdk/client-sqs';
import { ownEntry } from '../../core/cli';
import { QUEUES, REGION } from '../../core/contract';
import { environments, namePrefix } from '../../stacks/config';
import type { QueueStem } from './args';

/**
 * Where the ops tools act: an environment's queues by the names the data stack gives them
 * (`<project>-<env>-<stem>` and `…-dlq`, from core/contract.ts QUEUES and stacks/config.ts
 * namePrefix), in the environment's region, in AWS or, with --endpoint, in an emulator
 * (fauxqs: `npm run dev` creates the `local` environment's queues).
 */
export interface OpsTarget {
  env: string;
  region: string;
  endpoint?: string;
  sqs: SQSClient;
  queue(stem: QueueStem): Promise<ResolvedQueue>;
  close(): void;
}

export interface ResolvedQueue {
  stem: QueueStem;
  name: string;
  url: string;
  dlqName: string;
  dlqUrl: string;
}

export const queueName = (env: string, stem: QueueStem): string => `${namePrefix(env)}-${stem}`;

export function openTarget(env: string, endpoint: string | undefined, processEnv: Record<string, string | undefined> = process.env): OpsTarget {
  const region = ownEntry(environments, env)?.region ?? REGION;
  // The emulator takes any credentials, and the SDK wants some.
  const credentials = endpoint && !processEnv.AWS_ACCESS_KEY_ID ? { accessKeyId: 'local', secretAccessKey: 'local' } : undefined;
  // Every call goes to the client's endpoint (the region's, --endpoint or AWS_ENDPOINT_URL_SQS), never to the host a queue URL names.
  const sqs = new SQSClient({ region, endpoint, credentials, useQueueUrlAsEndpoint: false });
  const urlOf = async (name: string): Promise<string> => {
    try {
      const out = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
      if (!out.QueueUrl) throw new Error('no URL answered');
      return out.QueueUrl;
    } catch (err) {
      const e = err as Error;
      // A queue the environment does not have: the tool cannot act there, a failure (exit 1), not bad input.
      if (e.name === 'QueueDoesNotExist' || e.name === 'AWS.SimpleQueueService.NonExistentQueue') {
        throw new Error(`queue ${name} does not exist in ${region}${endpoint ? ` at ${endpoint}` : ''} (--env ${env})`);
      }
      throw err;
    }
  };
  return {
    env,
    region,
    endpoint,
    sqs,
    queue: async (stem) => {
      if (!(Object.values(QUEUES) as string[]).includes(stem)) throw new Error(`no queue ${stem} in the contract`);
      const name = queueName(env, stem);
      const url = await urlOf(name);
      const dlqUrl = await urlOf(`${name}-dlq`);
      return { stem, name, url, dlqName: `${name}-dlq`, dlqUrl };
    },
    close: () => sqs.destroy(),
  };
}

/** The attributes SQS answers for a queue (strings, as SQS gives them). */
export async function queueAttributes(sqs: SQSClient, url: string, names: QueueAttributeName[]): Promise<Record<string, string>> {
  const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: names }));
  return out.Attributes ?? {};
}
