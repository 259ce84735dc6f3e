import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { SQSClient, SendMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { S3Client, PutObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { startLocalEmulator, LocalEmulator } from '../../scripts/local/emulator';

const creds = { accessKeyId: 'test', secretAccessKey: 'test' };

describe('local SQS/S3 emulator', () => {
  let emu: LocalEmulator;
  beforeAll(async () => {
    emu = await startLocalEmulator({
      queues: [{ name: 'probe', maxReceiveCount: 1, visibilityTimeoutSeconds: 1 }],
      buckets: ['probe-bucket'],
    });
  });
  afterAll(() => emu.stop());

  test('a message sent with the real SQS client is received, then redriven to the DLQ', async () => {
    const sqs = new SQSClient({ endpoint: emu.endpoint, region: 'eu-west-3', credentials: creds });
    await sqs.send(new SendMessageCommand({ QueueUrl: emu.queueUrls.probe, MessageBody: '{"v":1}' }));
    const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: emu.queueUrls.probe, WaitTimeSeconds: 1 }));
    expect(got.Messages?.[0]?.Body).toBe('{"v":1}');
    await new Promise((r) => setTimeout(r, 1200));
    await sqs.send(new ReceiveMessageCommand({ QueueUrl: emu.queueUrls.probe, WaitTimeSeconds: 1 }));
    const dead = await sqs.send(new ReceiveMessageCommand({ QueueUrl: emu.queueUrls['probe-dlq'], WaitTimeSeconds: 1 }));
    expect(dead.Messages?.[0]?.Body).toBe('{"v":1}');
  });

  test('an object put with the real S3 client (path style) reads back', async () => {
    const s3 = new S3Client({ endpoint: emu.endpoint, region: 'eu-west-3', credentials: creds, forcePathStyle: true });
    await s3.send(new PutObjectCommand({ Bucket: 'probe-bucket', Key: 'a/b.txt', Body: 'hello' }));
    const got = await s3.send(new GetObjectCommand({ Bucket: 'probe-bucket', Key: 'a/b.txt' }));
    expect(await got.Body?.transformToString()).toBe('hello');
  });
});

test('a port already taken is an error naming the port and the cause', async () => {
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '0.0.0.0', () => r()));
  const port = (taken.address() as AddressInfo).port;
  try {
    await expect(startLocalEmulator({ port })).rejects.toThrow(`the SQS/S3 emulator did not start on port ${port}: listen EADDRINUSE`);
  } finally {
    taken.close();
  }
});
