import { GetQueueAttributesCommand, ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { parseOptions, runCli } from '../../core/cli';
import { createLogger, stderrSink } from '../../core/logger';
import { localEmulatorPort } from './defaults';

/** `npm run local:jobs`: message counts of the local queues and their DLQs (what `npm run dev` created, on EMULATOR_PORT as it does). */
const USAGE = 'usage: npm run local:jobs   the message counts of the local queues and their DLQs (npm run dev running)';

async function main(): Promise<number> {
  parseOptions({ args: process.argv.slice(2), options: {} });
  const endpoint = process.env.AWS_ENDPOINT_URL ?? `http://127.0.0.1:${localEmulatorPort()}`;
  const sqs = new SQSClient({ region: 'eu-west-3', endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  const { QueueUrls = [] } = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: 'docplatform-local' })).catch((err: Error) => {
    throw new Error(`${endpoint}: ${err.message} (is \`npm run dev\` running?)`);
  });
  for (const url of QueueUrls) {
    const { Attributes = {} } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
    );
    console.log(`${url.split('/').pop()}: ${Attributes.ApproximateNumberOfMessages} waiting, ${Attributes.ApproximateNumberOfMessagesNotVisible} in flight`);
  }
  return 0;
}

runCli(main, { log: createLogger({ component: 'local:jobs' }, 'info', stderrSink), usage: USAGE });
