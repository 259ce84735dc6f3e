import { SQSClient, SendMessageCommand, ReceiveMessageCommand, GetQueueAttributesCommand, CreateQueueCommand } from '@aws-sdk/client-sqs';
import { startLocalEmulator, LocalEmulator } from '../../scripts/local/emulator';
import { createLogger } from '../../core/logger';
import { traceAttributes } from '../../core/queue';
import { startConsumer, Consumer, DrainRequested, ReceivedMessage, RetryLater } from '../../containers/shared/consumer';
import { UnprocessableMessage } from '../../containers/shared/messages';

const logger = createLogger({ test: 'consumer' }, 'error', () => undefined);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(50);
  }
}

describe('SQS consumer loop', () => {
  let emu: LocalEmulator;
  let sqs: SQSClient;
  const running: Consumer[] = [];

  beforeAll(async () => {
    emu = await startLocalEmulator({
      queues: [
        { name: 'fast', maxReceiveCount: 5, visibilityTimeoutSeconds: 1 },
        { name: 'poison', maxReceiveCount: 2, visibilityTimeoutSeconds: 1 },
        { name: 'slow-visibility', maxReceiveCount: 5, visibilityTimeoutSeconds: 30 },
        { name: 'heartbeat', maxReceiveCount: 5, visibilityTimeoutSeconds: 1 },
        { name: 'redelivered', maxReceiveCount: 10, visibilityTimeoutSeconds: 1 },
        { name: 'traced', maxReceiveCount: 2, visibilityTimeoutSeconds: 1 },
        { name: 'urgent', maxReceiveCount: 5, visibilityTimeoutSeconds: 5 },
        { name: 'bulk', maxReceiveCount: 1, visibilityTimeoutSeconds: 5 },
        { name: 'idle-first', maxReceiveCount: 5, visibilityTimeoutSeconds: 30 },
        { name: 'stubborn-second', maxReceiveCount: 5, visibilityTimeoutSeconds: 30 },
        { name: 'unprocessable', maxReceiveCount: 3, visibilityTimeoutSeconds: 30 },
        { name: 'late-retry', maxReceiveCount: 5, visibilityTimeoutSeconds: 30 },
        { name: 'retried-before-stop', maxReceiveCount: 5, visibilityTimeoutSeconds: 30 },
        { name: 'slow-heartbeat', maxReceiveCount: 5, visibilityTimeoutSeconds: 10 },
        { name: 'late-give-up', maxReceiveCount: 5, visibilityTimeoutSeconds: 30 },
        { name: 'abandoned', maxReceiveCount: 5, visibilityTimeoutSeconds: 3 },
      ],
    });
    sqs = new SQSClient({ endpoint: emu.endpoint, region: 'eu-west-3', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((c) => c.stop(0).catch(() => undefined)));
  });
  afterAll(async () => {
    sqs.destroy();
    await emu.stop();
  });

  const send = (queue: string, body: string) => sqs.send(new SendMessageCommand({ QueueUrl: emu.queueUrls[queue], MessageBody: body }));
  const consume = async (queue: string, concurrency: number, handler: (m: ReceivedMessage, s: AbortSignal) => Promise<void>) => {
    const c = await startConsumer({ sqs, queues: [emu.queueUrls[queue]], concurrency, handler, logger, waitTimeSeconds: 1 });
    running.push(c);
    return c;
  };
  const depth = async (queue: string) => {
    const a = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: emu.queueUrls[queue], AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }),
    );
    return Number(a.Attributes?.ApproximateNumberOfMessages) + Number(a.Attributes?.ApproximateNumberOfMessagesNotVisible);
  };

  test('queues in priority order: a message of the first queue is taken at the next free slot, before the backlog of the second; each queue keeps its own maxReceiveCount', async () => {
    for (let i = 0; i < 20; i++) await send('bulk', `bulk-${i}`);
    const order: string[] = [];
    const lastAttempts: Record<string, boolean> = {};
    const c = await startConsumer({
      sqs,
      queues: [emu.queueUrls.urgent, emu.queueUrls.bulk],
      concurrency: 2,
      logger,
      waitTimeSeconds: 1,
      handler: async (m) => {
        order.push(m.body);
        lastAttempts[m.body] = m.lastAttempt;
        await sleep(100);
      },
    });
    running.push(c);
    await until(() => order.length >= 4, 10_000);
    const sentAfter = order.length;
    await send('urgent', 'urgent-1');
    await until(() => order.includes('urgent-1'), 10_000);
    // Started after it was sent and before it: at most what a receive round in progress had taken (the free slots, 2).
    const at = order.indexOf('urgent-1');
    expect(at - sentAfter).toBeLessThanOrEqual(2);
    await until(() => order.length === 21, 20_000);
    expect(order.slice(at + 1).every((b) => b.startsWith('bulk'))).toBe(true);
    expect(order.length - at - 1).toBeGreaterThan(10);
    // Each queue's own maxReceiveCount: bulk's first receive is its last (1), urgent's is not (5).
    expect([lastAttempts['bulk-0'], lastAttempts['urgent-1']]).toEqual([true, false]);
    await until(async () => (await depth('bulk')) + (await depth('urgent')) === 0, 10_000);
  });

  test('runs at most `concurrency` handlers at once and deletes every message it completes', async () => {
    const seen: string[] = [];
    let active = 0;
    let peak = 0;
    for (let i = 0; i < 12; i++) await send('fast', `m${i}`);
    await consume('fast', 3, async (m) => {
      active += 1;
      peak = Math.max(peak, active);
      await sleep(120);
      seen.push(m.body);
      active -= 1;
    });
    await until(() => seen.length === 12, 15_000);
    expect(peak).toBe(3);
    expect(new Set(seen).size).toBe(12);
    await until(async () => (await depth('fast')) === 0, 5_000);
  });

  test('the heartbeat keeps a job that outlasts the visibility timeout from reaching a second consumer', async () => {
    const handled: string[] = [];
    await send('heartbeat', 'long');
    const handler = async (m: ReceivedMessage) => {
      handled.push(m.body);
      await sleep(3_500);
    };
    await consume('heartbeat', 1, handler);
    await consume('heartbeat', 1, handler);
    await until(async () => handled.length === 1 && (await depth('heartbeat')) === 0, 10_000);
    expect(handled).toEqual(['long']);
  });

  test('a message whose handler keeps failing lands in the DLQ after maxReceiveCount and never blocks the others', async () => {
    const good: string[] = [];
    const poisonAttempts: Array<[number, boolean]> = [];
    await send('poison', 'not json {');
    for (let i = 0; i < 5; i++) await send('poison', JSON.stringify({ n: i }));
    await consume('poison', 2, async (m) => {
      if (m.body === 'not json {') poisonAttempts.push([m.receiveCount, m.lastAttempt]);
      const parsed = JSON.parse(m.body) as { n: number };
      good.push(String(parsed.n));
    });
    await until(() => good.length === 5, 5_000);
    await until(async () => (await depth('poison-dlq')) === 1, 10_000);
    const dead = await sqs.send(new ReceiveMessageCommand({ QueueUrl: emu.queueUrls['poison-dlq'], WaitTimeSeconds: 1 }));
    expect(dead.Messages?.[0]?.Body).toBe('not json {');
    expect(await depth('poison')).toBe(0);
    // The handler is told which receive is its last (maxReceiveCount = 2).
    expect(poisonAttempts).toEqual([
      [1, false],
      [2, true],
    ]);
  });

  test('a message that can never succeed (UnprocessableMessage) uses up its receives at once and reaches the DLQ in seconds, not after maxReceiveCount visibility timeouts', async () => {
    const seen: number[] = [];
    const handled: string[] = [];
    await send('unprocessable', 'not a job');
    await send('unprocessable', 'fine');
    await consume('unprocessable', 2, async (m) => {
      if (m.body === 'fine') return void handled.push(m.body);
      seen.push(m.receiveCount);
      throw new UnprocessableMessage('doc job is not JSON');
    });
    // Visibility 30 s: left alone, its second receive would be 30 s away and the DLQ 90 s.
    await until(async () => (await depth('unprocessable-dlq')) === 1, 10_000);
    const dead = await sqs.send(new ReceiveMessageCommand({ QueueUrl: emu.queueUrls['unprocessable-dlq'], WaitTimeSeconds: 1 }));
    expect({ dead: dead.Messages?.[0]?.Body, receives: seen, handled, left: await depth('unprocessable') }).toEqual({ dead: 'not a job', receives: [1, 2, 3], handled: ['fine'], left: 0 });
  });

  test('on a queue without a DLQ, a message that can never succeed is deleted at once instead of coming back for ever', async () => {
    const made = await sqs.send(new CreateQueueCommand({ QueueName: 'no-dlq', Attributes: { VisibilityTimeout: '30' } }));
    const url = made.QueueUrl!;
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: '{"v":9}' }));
    let calls = 0;
    const c = await startConsumer({
      sqs,
      queues: [url],
      concurrency: 1,
      logger,
      waitTimeSeconds: 1,
      handler: async () => {
        calls += 1;
        throw new UnprocessableMessage('doc job does not match its schema: v');
      },
    });
    running.push(c);
    const left = async () => {
      const a = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
      return Number(a.Attributes?.ApproximateNumberOfMessages) + Number(a.Attributes?.ApproximateNumberOfMessagesNotVisible);
    };
    await until(async () => calls === 1 && (await left()) === 0, 10_000);
    await sleep(1_500);
    expect(calls).toBe(1);
  });

  test("a message's request id attribute reaches its handler and every line about it; the body is the job unchanged; a message without one is named after itself", async () => {
    const orderId = '0b7d6c52-3c59-4c6e-9a43-0d2b4a2f1e11';
    const body = JSON.stringify({ v: 1, orderId });
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: emu.queueUrls.traced,
        MessageBody: body,
        MessageAttributes: traceAttributes({ requestId: 'req-abc.123' }),
      }),
    );
    const untraced = await send('traced', JSON.stringify({ v: 1, batchId: orderId }));
    const lines: Record<string, unknown>[] = [];
    const seen: Array<Pick<ReceivedMessage, 'body' | 'requestId'>> = [];
    const c = await startConsumer({
      sqs,
      queues: [emu.queueUrls.traced],
      concurrency: 2,
      waitTimeSeconds: 1,
      logger: createLogger({ service: 'w' }, 'info', (line) => void lines.push(JSON.parse(line))),
      handler: async (m) => {
        seen.push({ body: m.body, requestId: m.requestId });
        m.logger.info('handled');
        if (m.requestId === 'req-abc.123' && m.receiveCount === 1) throw new Error('once');
      },
    });
    running.push(c);
    await until(() => lines.filter((l) => l.msg === 'message done').length === 2, 10_000);
    expect(seen).toEqual(
      expect.arrayContaining([
        { body, requestId: 'req-abc.123' },
        { body: JSON.stringify({ v: 1, batchId: orderId }), requestId: `msg-${untraced.MessageId}` },
      ]),
    );
    // The handler's own line, the loop's failure and its success, each with the request and the order.
    const traced = lines.filter((l) => l.requestId === 'req-abc.123');
    expect(traced.map((l) => [l.msg, l.orderId, l.component])).toEqual(
      expect.arrayContaining([
        ['handled', orderId, undefined],
        ['message failed; left for retry/DLQ', orderId, 'consumer'],
        ['message done', orderId, 'consumer'],
      ]),
    );
    expect(lines.find((l) => l.requestId === `msg-${untraced.MessageId}` && l.msg === 'message done')).toMatchObject({ batchId: orderId });
  });

  test('stop() lets a handler yield and releases its message with visibility 0, so another task takes it at once', async () => {
    await send('slow-visibility', 'yielding');
    let started = false;
    const first = await consume('slow-visibility', 1, async (_m, draining) => {
      started = true;
      await new Promise<void>((r) => draining.addEventListener('abort', () => r()));
      throw new DrainRequested();
    });
    await until(() => started, 5_000);
    running.splice(running.indexOf(first), 1);
    const t0 = Date.now();
    const report = await first.stop(5_000);
    expect(report).toEqual({ finished: 1, released: 1 });
    const taken: string[] = [];
    await consume('slow-visibility', 1, async (m) => void taken.push(m.body));
    await until(() => taken.length === 1, 5_000);
    // The queue's visibility timeout is 30 s: picking it up this fast proves it was released.
    expect(Date.now() - t0).toBeLessThan(5_000);
  });

  test('stop() returns at the drain deadline and releases a handler that has not finished', async () => {
    await send('slow-visibility', 'stubborn');
    let started = false;
    let finish: () => void = () => undefined;
    const c = await consume('slow-visibility', 1, async () => {
      started = true;
      await new Promise<void>((r) => (finish = r));
    });
    await until(() => started, 5_000);
    running.splice(running.indexOf(c), 1);
    const t0 = Date.now();
    const report = await c.stop(300);
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(report).toEqual({ finished: 0, released: 1 });
    const again = await sqs.send(new ReceiveMessageCommand({ QueueUrl: emu.queueUrls['slow-visibility'], WaitTimeSeconds: 2 }));
    expect(again.Messages?.[0]?.Body).toBe('stubborn');
    finish();
  });

  test('what a handler registers with beforeRelease after the drain deadline released its message is given up at once', async () => {
    await send('late-give-up', 'slow-start');
    let started = false;
    let registered: () => void = () => undefined;
    let gaveUp = false;
    const c = await consume('late-give-up', 1, async (m) => {
      started = true;
      // Still on its way to what it would give up (a doc job taking its order) when the deadline comes.
      await new Promise<void>((r) => (registered = r));
      m.beforeRelease(async () => void (gaveUp = true));
    });
    await until(() => started, 5_000);
    running.splice(running.indexOf(c), 1);
    expect(await c.stop(300)).toEqual({ finished: 0, released: 1 });
    registered();
    // Before: kept for a release that had already happened, never called (the doc job's lease held on).
    await until(() => gaveUp, 2_000);
  });

  test('stop() ends the backoff after failed receives at once, instead of sleeping it out', async () => {
    let failures = 0;
    const failing = new SQSClient({ endpoint: emu.endpoint, region: 'eu-west-3', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    failing.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'ReceiveMessageCommand') {
          failures += 1;
          throw new Error('SQS is unavailable');
        }
        return next(args);
      },
      { step: 'initialize', name: 'failReceives' },
    );
    try {
      const c = await startConsumer({ sqs: failing, queues: [emu.queueUrls.fast], concurrency: 1, handler: async () => undefined, logger, waitTimeSeconds: 1 });
      // After the third failure the loop waits 4 s before its next receive.
      await until(() => failures === 3, 10_000);
      await sleep(100);
      const t0 = Date.now();
      await c.stop(1_000);
      expect(Date.now() - t0).toBeLessThan(500);
    } finally {
      failing.destroy();
    }
  });

  test("stop()'s report counts the messages its drain released, not those given back earlier (RetryLater)", async () => {
    await send('retried-before-stop', 'too-early');
    let tries = 0;
    const c = await consume('retried-before-stop', 1, async () => {
      tries += 1;
      throw new RetryLater(600, 'not yet');
    });
    await until(() => tries === 1, 5_000);
    await sleep(300);
    running.splice(running.indexOf(c), 1);
    expect(await c.stop(1_000)).toEqual({ finished: 0, released: 0 });
  });

  test('a handler that ends after the drain deadline released its message leaves it visible: its RetryLater is not applied to the message, and its end is logged at info', async () => {
    await send('late-retry', 'late-retry');
    let started = false;
    let finish: (err: Error) => void = () => undefined;
    const lines: Array<Record<string, unknown>> = [];
    const c = await startConsumer({
      sqs,
      queues: [emu.queueUrls['late-retry']],
      concurrency: 1,
      waitTimeSeconds: 1,
      logger: createLogger({ test: 'consumer' }, 'info', (line) => lines.push(JSON.parse(line) as Record<string, unknown>)),
      handler: async () => {
        started = true;
        await new Promise<void>((_, reject) => (finish = reject));
      },
    });
    await until(() => started, 5_000);
    expect(await c.stop(300)).toEqual({ finished: 0, released: 1 });
    // The late handler asks for its message back in 10 minutes (a doc job over the budget).
    finish(new RetryLater(600, 'over the budget'));
    await sleep(500);
    const again = await sqs.send(new ReceiveMessageCommand({ QueueUrl: emu.queueUrls['late-retry'], WaitTimeSeconds: 2, VisibilityTimeout: 1 }));
    expect(again.Messages?.[0]?.Body).toBe('late-retry');
    // One release, the deadline's; the late outcome at info, with no second visibility change (nor its failure's warning).
    expect(lines.filter((l) => l.msg === 'message released').map((l) => l.why)).toEqual(['drain deadline reached']);
    expect(lines.filter((l) => l.level !== 'info').map((l) => l.msg)).toEqual([]);
    expect(lines.find((l) => l.msg === 'handler ended after the drain deadline released its message')).toBeDefined();
  });

  test('the drain deadline releases a late message at once, not after the long poll in progress', async () => {
    await send('stubborn-second', 'late');
    let started = false;
    let finish: () => void = () => undefined;
    // A free slot and nothing else to take: the loop long-polls the first queue (10 s) while the handler runs.
    const c = await startConsumer({
      sqs,
      queues: [emu.queueUrls['idle-first'], emu.queueUrls['stubborn-second']],
      concurrency: 2,
      logger,
      waitTimeSeconds: 10,
      handler: async () => {
        started = true;
        await new Promise<void>((r) => (finish = r));
      },
    });
    await until(() => started, 5_000);
    await sleep(500);
    const t0 = Date.now();
    const stopping = c.stop(300);
    try {
      const again = await sqs.send(new ReceiveMessageCommand({ QueueUrl: emu.queueUrls['stubborn-second'], WaitTimeSeconds: 15 }));
      expect(again.Messages?.[0]?.Body).toBe('late');
      // Visibility timeout 30 s, poll in progress 10 s: taken this soon, it was released at the deadline.
      expect(Date.now() - t0).toBeLessThan(4_000);
      expect(await stopping).toEqual({ finished: 0, released: 1 });
    } finally {
      finish();
      await stopping.catch(() => undefined);
    }
  });

  test('a heartbeat still on its way when the message is released does not hide it again: the release waits for it', async () => {
    // Heartbeats take 1.5 s to reach SQS (throttled, retried): one sent just before the release
    // would otherwise land after it and make the message invisible for a whole visibility timeout.
    const slow = new SQSClient({ endpoint: emu.endpoint, region: 'eu-west-3', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    let heartbeatsSent = 0;
    slow.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { VisibilityTimeout?: number };
        // A heartbeat sets the queue's whole visibility timeout (10 s); the release sets 2 s.
        if (context.commandName === 'ChangeMessageVisibilityCommand' && input.VisibilityTimeout === 10) {
          heartbeatsSent += 1;
          await sleep(1_500);
        }
        return next(args);
      },
      { step: 'initialize', name: 'slowHeartbeats' },
    );
    const receivedAt: number[] = [];
    let releasedAt = 0;
    await send('slow-heartbeat', 'job');
    const c = await startConsumer({
      sqs: slow,
      queues: [emu.queueUrls['slow-heartbeat']],
      concurrency: 1,
      logger,
      waitTimeSeconds: 1,
      handler: async (m) => {
        receivedAt.push(Date.now());
        if (m.receiveCount > 1) return;
        // The first heartbeat (after 3.3 s) is on its way: give the message back in 2 s.
        await until(() => heartbeatsSent === 1, 8_000);
        releasedAt = Date.now();
        throw new RetryLater(2, 'back in 2 s');
      },
    });
    running.push(c);
    try {
      await until(() => receivedAt.length === 2, 20_000);
      // Back 2 s after the release, which waited for the heartbeat (1.5 s): about 3.5 s, not the
      // 10 s of visibility the heartbeat set when it landed after the release (11.5 s).
      expect(receivedAt[1] - releasedAt).toBeLessThan(6_000);
    } finally {
      await c.stop(0).catch(() => undefined);
      slow.destroy();
    }
  });

  test("abandon() hands a message back within the give-up bound even when its handler's give-up and a heartbeat both hang", async () => {
    // Heartbeats (the queue's 3 s) never reach SQS in time; the release (0 s) does.
    const hung = new SQSClient({ endpoint: emu.endpoint, region: 'eu-west-3', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    let heartbeatsSent = 0;
    hung.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { VisibilityTimeout?: number };
        if (context.commandName === 'ChangeMessageVisibilityCommand' && input.VisibilityTimeout === 3) {
          heartbeatsSent += 1;
          await sleep(5_000);
        }
        return next(args);
      },
      { step: 'initialize', name: 'hungHeartbeats' },
    );
    await send('abandoned', 'in hand');
    const c = await startConsumer({
      sqs: hung,
      queues: [emu.queueUrls.abandoned],
      concurrency: 1,
      logger,
      waitTimeSeconds: 1,
      handler: async (m) => {
        m.beforeRelease(() => new Promise<void>(() => undefined));
        await new Promise<void>(() => undefined);
      },
    });
    try {
      await until(() => heartbeatsSent === 1, 5_000);
      const t0 = Date.now();
      expect(await c.abandon()).toBe(1);
      // RELEASE_GIVE_UP_MS (2 s) for both together, inside ABANDON_MS (3 s); one after the other took 4 s.
      expect(Date.now() - t0).toBeLessThan(2_800);
    } finally {
      hung.destroy();
    }
  });

  test('a redelivery of a message whose first copy still runs takes its own slot: the limit holds and stop() waits for both copies', async () => {
    // Heartbeats fail (as when ChangeMessageVisibility is throttled or denied), so the message's
    // visibility lapses while its handler runs and SQS hands it out a second time.
    const lossy = new SQSClient({ endpoint: emu.endpoint, region: 'eu-west-3', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    lossy.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { VisibilityTimeout?: number };
        if (context.commandName === 'ChangeMessageVisibilityCommand' && (input.VisibilityTimeout ?? 0) > 0) throw new Error('heartbeat dropped');
        return next(args);
      },
      { step: 'initialize', name: 'dropHeartbeats' },
    );
    const copies: { receiveCount: number; finish: () => void; ended: boolean }[] = [];
    let active = 0;
    let peak = 0;
    await send('redelivered', 'slow');
    const c = await startConsumer({
      sqs: lossy,
      queues: [emu.queueUrls.redelivered],
      concurrency: 2,
      logger,
      waitTimeSeconds: 1,
      handler: async (m) => {
        active += 1;
        peak = Math.max(peak, active);
        const copy: (typeof copies)[number] = { receiveCount: m.receiveCount, finish: () => undefined, ended: false };
        copies.push(copy);
        await new Promise<void>((r) => (copy.finish = r));
        copy.ended = true;
        active -= 1;
      },
    });
    let stopCalled = false;
    try {
      await until(() => copies.length === 2, 10_000);
      expect(copies.map((x) => x.receiveCount)).toEqual([1, 2]);
      expect(c.inFlight()).toBe(2);
      // Both slots are taken: nothing more is received while both copies run, though the
      // message becomes visible again every second.
      await sleep(2_500);
      expect(copies).toHaveLength(2);
      expect(peak).toBe(2);

      let stopped = false;
      stopCalled = true;
      const stopping = c.stop(10_000).then((report) => {
        stopped = true;
        return report;
      });
      copies[1].finish();
      await sleep(400);
      expect(stopped).toBe(false);
      copies[0].finish();
      const report = await stopping;
      expect(copies.every((x) => x.ended)).toBe(true);
      expect(report.finished).toBe(2);
    } finally {
      copies.forEach((x) => x.finish());
      if (!stopCalled) await c.stop(0).catch(() => undefined);
      lossy.destroy();
    }
  });
});
