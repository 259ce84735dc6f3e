import { connect, createServer } from 'node:net';
import { networkInterfaces } from 'node:os';
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

test('it listens on 127.0.0.1 only: the machine\'s other addresses refuse it', async () => {
  // It takes any request unsigned and holds the documents: nothing off this machine may reach it.
  const external = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal);
  if (!external) throw new Error('this test needs a non-loopback IPv4 address on the machine');
  const emu = await startLocalEmulator({});
  const reach = (host: string) =>
    new Promise<string>((resolve) => {
      const socket = connect({ host, port: emu.port });
      socket.once('connect', () => (socket.destroy(), resolve('accepted')));
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
  try {
    expect(await reach('127.0.0.1')).toBe('accepted');
    expect(await reach(external.address)).toBe('ECONNREFUSED');
  } finally {
    await emu.stop();
  }
});
