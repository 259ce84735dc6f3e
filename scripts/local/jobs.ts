import { GetQueueAttributesCommand, ListQueuesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { LOCAL_EMULATOR_PORT } from './defaults';

/** `npm run local:jobs`: message counts of the local queues and their DLQs (what `npm run dev` created). */
async function main(): Promise<void> {
  const endpoint = process.env.AWS_ENDPOINT_URL ?? `http://127.0.0.1:${LOCAL_EMULATOR_PORT}`;
  const sqs = new SQSClient({ region: 'eu-west-3', endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  const { QueueUrls = [] } = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: 'docplatform-local' }));
  for (const url of QueueUrls) {
    const { Attributes = {} } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
    );
    console.log(`${url.split('/').pop()}: ${Attributes.ApproximateNumberOfMessages} waiting, ${Attributes.ApproximateNumberOfMessagesNotVisible} in flight`);
  }
}

main().catch((err: Error) => {
  console.error(`local:jobs failed (is \`npm run dev\` running?): ${err.message}`);
  process.exit(1);
});
