import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { ChangeMessageVisibilityCommand, Message, ReceiveMessageCommand, ReceiveMessageCommandInput, ReceiveMessageCommandOutput, SendMessageCommand } from '@aws-sdk/client-sqs';
import { createLogger } from '../../core/logger';
import { traceAttributes } from '../../core/queue';
import { redriveDlq } from '../../scripts/ops/dlq';
import { openTarget, OpsTarget } from '../../scripts/ops/target';
import { runCliProcess } from '../support/cli-process';
import { opsAgainst } from '../support/ops-cli';
import { startWorkerHarness, until, WorkerHarness } from '../support/workers-harness';

/**
 * `dlq redrive` against fauxqs, on what an incident can leave in a DLQ: bodies far larger than a
 * job's (together more than one SendMessageBatch may carry), SQS handing a message out twice, and
 * a run killed halfway. Each message ends up in its queue (once), or still in the DLQ; none in
 * neither.
 */
const ENV = 'dlqtest';
const REPO = join(__dirname, '..', '..');

describe('dlq redrive', () => {
  let h: WorkerHarness;

  beforeAll(async () => {
    h = await startWorkerHarness('opsdlq', { queueNamePrefix: `docplatform-${ENV}-` });
  });
  afterEach(async () => {
    await h.drainQueue(h.queues.batchJobs);
    await h.drainQueue(h.queues.batchJobsDlq);
  });
  afterAll(() => h?.stop());

  const ops = opsAgainst(ENV, () => h.emulator.endpoint);
  let sent = 0;
  /** Dead letters of batch-jobs, each a v1 job padded to `padBytes`, with a request id of its own (`req-dlq-<n>`). */
  const deadLetters = async (count: number, padBytes: number): Promise<string[]> => {
    const bodies: string[] = [];
    for (let i = 0; i < count; i++) {
      const body = JSON.stringify({ v: 1, batchId: randomUUID(), pad: 'x'.repeat(padBytes) });
      await h.sqs.send(new SendMessageCommand({ QueueUrl: h.queues.batchJobsDlq, MessageBody: body, MessageAttributes: traceAttributes({ requestId: `req-dlq-${sent++}` }) }));
      bodies.push(body);
    }
    return bodies;
  };

  test('nine messages of 300 KB and a small one (2.7 MB together, over the 1 MiB one SendMessageBatch carries) all go back, bodies intact', async () => {
    const bodies = [...(await deadLetters(9, 300_000)), ...(await deadLetters(1, 10))];
    const moved = await ops('dlq', 'redrive', 'batch-jobs', '--rate', '100');
    expect(moved.logs.filter((l) => l.level === 'error')).toEqual([]);
    expect(moved.code).toBe(0);
    expect(moved.json).toMatchObject({ moved: 10, failed: [], leftInDlq: 0 });
    expect(moved.json.messages.map((m: { requestId: string }) => m.requestId).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `req-dlq-${i}`).sort());
    expect(await h.queueDepth(h.queues.batchJobsDlq)).toEqual({ visible: 0, inFlight: 0 });
    expect((await h.drainQueue(h.queues.batchJobs)).sort()).toEqual(bodies.sort());
  }, 60_000);

  test('messages someone else holds in the DLQ are not moved, and the report says so instead of "0 left"', async () => {
    const bodies = await deadLetters(3, 10);
    // Held as a redrive that died between its send and its delete leaves them (its 60 s hold).
    const held = await h.sqs.send(new ReceiveMessageCommand({ QueueUrl: h.queues.batchJobsDlq, MaxNumberOfMessages: 1, VisibilityTimeout: 60 }));
    expect(held.Messages).toHaveLength(1);
    const run = await ops('dlq', 'redrive', 'batch-jobs', '--rate', '100');
    expect(run.code).toBe(0);
    expect(run.json).toMatchObject({ moved: 2, failed: [], leftInDlq: 0, heldInDlq: 1 });
    expect((await ops('dlq', 'redrive', 'batch-jobs', '--format', 'table')).out).toContain('0 left in the DLQ, 1 held by someone (visible again within their hold, then run again)');
    expect((await h.drainQueue(h.queues.batchJobs)).sort()).toEqual(bodies.filter((b) => b !== held.Messages![0].Body).sort());
    await h.sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: h.queues.batchJobsDlq, ReceiptHandle: held.Messages![0].ReceiptHandle!, VisibilityTimeout: 0 }));
  }, 60_000);

  /**
   * The tool's SQS client against fauxqs, whose DLQ receives also answer the first message of the
   * receive before them once more, as SQS may (at-least-once delivery; a hold that lapses during a
   * long run): each message at most twice.
   */
  const redelivering = (): OpsTarget => {
    const target = openTarget(ENV, h.emulator.endpoint);
    const handedOut = new Set<string>();
    let previous: Message | undefined;
    target.sqs.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        if (context.commandName !== 'ReceiveMessageCommand' || (args.input as { QueueUrl?: string }).QueueUrl !== h.queues.batchJobsDlq) return result;
        const output = result.output as ReceiveMessageCommandOutput;
        const answered = output.Messages ?? [];
        const again = previous && !handedOut.has(previous.MessageId!) && answered.length > 0 ? [previous] : [];
        for (const m of again) handedOut.add(m.MessageId!);
        previous = answered[0];
        output.Messages = [...answered, ...again];
        return result;
      },
      { step: 'initialize', name: 'redeliverOnce' },
    );
    return target;
  };
  const quiet = createLogger({ component: 'ops' }, 'info', () => undefined);

  test('a dry run lists each message once when SQS hands one out twice, and leaves them all in the DLQ', async () => {
    // More than one receive's ten, so the run asks again while it holds the first ones.
    await deadLetters(15, 10);
    const target = redelivering();
    try {
      const dry = await redriveDlq(target, 'batch-jobs', { dryRun: true, ratePerSecond: 100 }, quiet);
      const ids = dry.messages.map((m) => m.messageId);
      expect({ moved: dry.moved, listed: ids.length, distinct: new Set(ids).size }).toEqual({ moved: 15, listed: 15, distinct: 15 });
      expect(dry.leftInDlq).toBe(15);
    } finally {
      target.close();
    }
    expect(await h.queueDepth(h.queues.batchJobs)).toEqual({ visible: 0, inFlight: 0 });
  }, 60_000);

  test('a dry run of a large DLQ counts what a run would move and lists a sample of 100, without receiving every message', async () => {
    await deadLetters(130, 10);
    const received: number[] = [];
    const target = openTarget(ENV, h.emulator.endpoint);
    target.sqs.middlewareStack.add(
      (next, context) => async (args) => {
        const result = await next(args);
        if (context.commandName === 'ReceiveMessageCommand') received.push(((result.output as ReceiveMessageCommandOutput).Messages ?? []).length);
        return result;
      },
      { step: 'initialize', name: 'countReceived' },
    );
    try {
      const dry = await redriveDlq(target, 'batch-jobs', { dryRun: true, ratePerSecond: 10 }, quiet);
      expect({ moved: dry.moved, listed: dry.messages.length, leftInDlq: dry.leftInDlq }).toEqual({ moved: 130, listed: 100, leftInDlq: 130 });
      expect(received.reduce((a, b) => a + b, 0)).toBe(100);
      expect((await ops('dlq', 'redrive', 'batch-jobs', '--dry-run', '--format', 'table')).out).toContain('would move 130 from docplatform-dlqtest-batch-jobs-dlq to docplatform-dlqtest-batch-jobs (100 listed below)');
    } finally {
      target.close();
    }
    expect(await h.queueDepth(h.queues.batchJobs)).toEqual({ visible: 0, inFlight: 0 });
  }, 60_000);

  test('a redrive moves a message SQS hands out twice once: one job in the queue per dead letter, none left in the DLQ', async () => {
    const bodies = await deadLetters(15, 10);
    const target = redelivering();
    try {
      const run = await redriveDlq(target, 'batch-jobs', { dryRun: false, ratePerSecond: 100 }, quiet);
      const ids = run.messages.map((m) => m.messageId);
      expect({ moved: run.moved, listed: ids.length, distinct: new Set(ids).size, failed: run.failed }).toEqual({ moved: 15, listed: 15, distinct: 15, failed: [] });
    } finally {
      target.close();
    }
    expect((await h.drainQueue(h.queues.batchJobs)).sort()).toEqual(bodies.sort());
    expect(await h.queueDepth(h.queues.batchJobsDlq)).toEqual({ visible: 0, inFlight: 0 });
  }, 60_000);

  /**
   * The tool's SQS client against fauxqs, whose DLQ receives answer the newest messages first: a
   * standard queue keeps no order (SQS's best-effort ordering), so a message that died again
   * during the run may come before the ones still waiting since the start.
   */
  const newestFirst = (): OpsTarget => {
    const target = openTarget(ENV, h.emulator.endpoint);
    target.sqs.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as ReceiveMessageCommandInput;
        if (context.commandName !== 'ReceiveMessageCommand' || input.QueueUrl !== h.queues.batchJobsDlq) return next(args);
        const wanted = input.MaxNumberOfMessages ?? 1;
        const result = await next({ ...args, input: { ...input, MaxNumberOfMessages: 10 } });
        const output = result.output as ReceiveMessageCommandOutput;
        const answered = [...(output.Messages ?? [])].reverse();
        for (const m of answered.slice(wanted)) await h.sqs.send(new ChangeMessageVisibilityCommand({ QueueUrl: h.queues.batchJobsDlq, ReceiptHandle: m.ReceiptHandle!, VisibilityTimeout: 0 }));
        output.Messages = answered.slice(0, wanted);
        return result;
      },
      { step: 'initialize', name: 'newestFirst' },
    );
    return target;
  };

  test('a message that dies again during the run is not moved again: each dead letter of the start goes back once', async () => {
    const bodies = await deadLetters(3, 10);
    // The cause is not fixed: a consumer fails every receive of batch-jobs at once, so its redrive policy moves each job back to the DLQ within seconds.
    let failing = true;
    const broken = (async () => {
      while (failing) {
        await h.sqs.send(new ReceiveMessageCommand({ QueueUrl: h.queues.batchJobs, MaxNumberOfMessages: 10, VisibilityTimeout: 0, WaitTimeSeconds: 0 }));
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const target = newestFirst();
    let run: Awaited<ReturnType<typeof redriveDlq>>;
    try {
      run = await redriveDlq(target, 'batch-jobs', { dryRun: false, ratePerSecond: 1 }, quiet);
    } finally {
      failing = false;
      await broken;
      target.close();
    }
    const startIds = new Set(run.messages.map((m) => m.messageId));
    const sentIds = new Set(run.messages.map((m) => m.newMessageId));
    // Each of the three moved once, none of them a copy this run sent; what died again is still in the DLQ, reported.
    expect({ moved: run.moved, distinct: startIds.size, movedAgain: run.messages.filter((m) => sentIds.has(m.messageId)).length }).toEqual({ moved: 3, distinct: 3, movedAgain: 0 });
    expect(run.messages.map((m) => m.body).map((b) => JSON.stringify(b)).sort()).toEqual(bodies.sort());
    expect(run.diedAgain).toBeGreaterThan(0);
    // Each job once, in the DLQ again or (the last moved, not yet failed) in its queue: none duplicated, none lost.
    expect([...(await h.drainQueue(h.queues.batchJobsDlq)), ...(await h.drainQueue(h.queues.batchJobs))].sort()).toEqual(bodies.sort());
  }, 60_000);

  test('a run killed (SIGKILL) halfway loses nothing: each message is in its queue or still in the DLQ', async () => {
    const count = 12;
    await deadLetters(count, 10);
    const child = spawn('npx', ['tsx', 'scripts/ops/cli.ts', 'dlq', 'redrive', 'batch-jobs', '--rate', '2', '--env', ENV, '--endpoint', h.emulator.endpoint], {
      cwd: REPO,
      detached: true,
      env: { ...process.env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' },
    });
    let redriven = 0;
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      redriven = stderr.split('\n').filter((l) => l.includes('"message redriven"')).length;
    });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await until(() => redriven >= 3, 30_000, 'the redrive to move a few messages');
    process.kill(-child.pid!, 'SIGKILL');
    await exited;

    const queue = await h.queueDepth(h.queues.batchJobs);
    const dlq = await h.queueDepth(h.queues.batchJobsDlq);
    expect(queue.visible).toBeGreaterThanOrEqual(3);
    expect(queue.visible).toBeLessThan(count);
    // A message sent but not yet deleted when the run died is in both (a duplicate the workers tolerate), never in neither.
    expect(queue.visible + dlq.visible + dlq.inFlight).toBeGreaterThanOrEqual(count);
  }, 60_000);

  test('a run interrupted (SIGINT, Ctrl-C) finishes the messages in hand and says what it moved: each message once, in its queue or in the DLQ', async () => {
    const count = 12;
    const bodies = await deadLetters(count, 10);
    let redriven = 0;
    const run = await runCliProcess(join(REPO, 'scripts', 'ops', 'cli.ts'), ['dlq', 'redrive', 'batch-jobs', '--rate', '2', '--env', ENV, '--endpoint', h.emulator.endpoint], {
      env: { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' },
      killWhen: (line) => line.includes('"message redriven"') && ++redriven === 3,
      killWith: 'SIGINT',
    });
    expect({ code: run.code, signal: run.signal }).toEqual({ code: 1, signal: null });
    const report = JSON.parse(run.stdout);
    expect(report).toMatchObject({ interrupted: 'SIGINT', failed: [] });
    expect(report.moved).toBeGreaterThanOrEqual(3);
    expect(report.moved).toBeLessThan(count);
    // Nothing held, nothing sent twice: the moved ones in the queue, the others visible in the DLQ at once.
    expect(await h.queueDepth(h.queues.batchJobsDlq)).toEqual({ visible: count - report.moved, inFlight: 0 });
    const moved = await h.drainQueue(h.queues.batchJobs);
    expect(moved).toHaveLength(report.moved);
    expect([...moved, ...(await h.drainQueue(h.queues.batchJobsDlq))].sort()).toEqual(bodies.sort());
  }, 60_000);
});
