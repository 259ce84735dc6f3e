import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { environmentLogGroups, orderStoryQuery, STORY_LINE_LIMIT } from '../../modules/log-queries';
import { startLocalEmulator, LocalEmulator } from '../../scripts/local/emulator';
import { runCliProcess } from '../support/cli-process';
import { OpsAccount, OpsStandIn, startOpsStandIn } from '../support/stand-ins/aws-ops';

/**
 * The AWS path of `npm run ops -- workers status --env dev`, `dlq list --env dev` and `order <id> --env dev`, the real
 * SDK clients in the CLI's own process: SQS against fauxqs (queues named as the data stack names
 * dev's), ECS, Application Auto Scaling, CloudWatch and CloudWatch Logs against a local stand-in
 * (no emulator of those runs here), each reached through the SDK's AWS_ENDPOINT_URL_<SERVICE>.
 * What is checked: the requests name the environment's cluster, services, scalable targets,
 * queues and log groups, and the answers come back as the report.
 */
jest.setTimeout(90_000);

const CLI = join(__dirname, '..', '..', 'scripts', 'ops', 'cli.ts');
const PREFIX = 'docplatform-dev';
const ORDER = randomUUID();
const WEBHOOK = 'webhook-req-1';
const CREATION = 'creation-req-1';
/** A B2B batch's request: more lines than one Insights query answers (STORY_LINE_LIMIT), over its first two orders. */
const BATCH = 'batch-req-1';
const BATCH_ORDERS = [randomUUID(), randomUUID()];

/** Insights' answer shape: `@timestamp` in `YYYY-MM-DD HH:MM:SS.mmm`, every value a string. */
const line = (at: string, fields: Record<string, string>): Record<string, string> => ({ '@timestamp': at, '@ptr': 'x', ...fields });
const STORY = [
  line('2026-12-01 10:00:00.100', { service: 'order', msg: 'order received', step: 'received', orderId: ORDER, requestId: CREATION, level: 'info' }),
  line('2026-12-01 10:00:03.000', { service: 'order', msg: 'doc job sent', step: 'paid', orderId: ORDER, requestId: WEBHOOK, level: 'info' }),
  line('2026-12-01 10:00:03.200', { service: 'doc-generation', msg: 'order taken for generation', step: 'taken', orderId: ORDER, requestId: WEBHOOK, receiveCount: '1', level: 'info' }),
  line('2026-12-01 10:00:04.900', { service: 'doc-generation', msg: 'document ready', step: 'ready', orderId: ORDER, requestId: WEBHOOK, ms: '1700', level: 'info' }),
  // The client polling its order: the Koa shell's access line.
  line('2026-12-01 10:00:06.000', { service: 'gateway-b2c', msg: 'request', method: 'GET', path: `/b2c/orders/${ORDER}`, status: '200', ms: '35', orderId: ORDER, requestId: 'poll-req-1', level: 'info' }),
];

/** As Insights answers a query with a `fields` command: only the fields it names (and `@ptr`). */
const projected = (text: string, lines: Record<string, string>[]): Record<string, string>[] => {
  const named = /^fields (.*)$/m.exec(text)?.[1].split(',').map((f) => f.trim());
  return named ? lines.map((l) => Object.fromEntries(Object.entries(l).filter(([k]) => k === '@ptr' || named.includes(k)))) : lines;
};

const account: OpsAccount = {
  services: {
    [`${PREFIX}-doc-generation`]: { desiredCount: 2, runningCount: 1, pendingCount: 1, events: [{ createdAt: 1_764_583_200, message: '(service docplatform-dev-doc-generation) has started 1 tasks' }] },
    [`${PREFIX}-b2b-batch`]: { desiredCount: 0, runningCount: 0, pendingCount: 0 },
  },
  scaling: {
    [`service/${PREFIX}/${PREFIX}-doc-generation`]: [
      { StartTime: 1_764_583_140, StatusCode: 'Successful', Description: 'Setting desired count to 2.', Cause: 'monitor alarm docplatform-dev-doc-generation-scale-out in state ALARM' },
    ],
  },
  oldestAge: { [`${PREFIX}-doc-jobs`]: 95, [`${PREFIX}-batch-doc-jobs`]: 40, [`${PREFIX}-batch-jobs-dlq`]: 3600 },
  // As Insights would: the lines whose orderId or requestId is the one in the filter.
  query: (text) =>
    text.includes(`requestId = "${BATCH}"`)
      ? Array.from({ length: STORY_LINE_LIMIT }, (_, i) =>
          line(new Date(Date.UTC(2026, 11, 1, 11) + i).toISOString().replace('T', ' ').slice(0, 23), { service: 'doc-generation', msg: 'order taken for generation', orderId: BATCH_ORDERS[i % 2], requestId: BATCH, level: 'info' }),
        )
      : projected(text, STORY.filter((l) => text.includes(`orderId = "${l.orderId}"`) || text.includes(`requestId = "${l.requestId}"`))),
};

let emulator: LocalEmulator;
let standIn: OpsStandIn;

beforeAll(async () => {
  emulator = await startLocalEmulator({
    queues: [
      { name: `${PREFIX}-doc-jobs`, maxReceiveCount: 5, visibilityTimeoutSeconds: 180 },
      { name: `${PREFIX}-batch-doc-jobs`, maxReceiveCount: 5, visibilityTimeoutSeconds: 180 },
      { name: `${PREFIX}-batch-jobs`, maxReceiveCount: 5, visibilityTimeoutSeconds: 900 },
    ],
  });
  standIn = await startOpsStandIn(account);
  const sqs = new SQSClient({ region: 'eu-west-3', endpoint: emulator.endpoint, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
  for (const orderId of [randomUUID(), randomUUID()]) {
    await sqs.send(new SendMessageCommand({ QueueUrl: emulator.queueUrls[`${PREFIX}-doc-jobs`], MessageBody: JSON.stringify({ v: 1, orderId }) }));
  }
  await sqs.send(new SendMessageCommand({ QueueUrl: emulator.queueUrls[`${PREFIX}-batch-doc-jobs`], MessageBody: JSON.stringify({ v: 1, orderId: randomUUID() }) }));
  await sqs.send(new SendMessageCommand({ QueueUrl: emulator.queueUrls[`${PREFIX}-batch-jobs-dlq`], MessageBody: JSON.stringify({ v: 1, batchId: randomUUID() }) }));
  sqs.destroy();
});
afterAll(async () => {
  await standIn?.close();
  await emulator?.stop();
});

const aws = () => ({
  AWS_ACCESS_KEY_ID: 'test',
  AWS_SECRET_ACCESS_KEY: 'test',
  AWS_ENDPOINT_URL_SQS: emulator.endpoint,
  AWS_ENDPOINT_URL_ECS: standIn.url,
  AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING: standIn.url,
  AWS_ENDPOINT_URL_CLOUDWATCH: standIn.url,
  AWS_ENDPOINT_URL_CLOUDWATCH_LOGS: standIn.url,
  DATABASE_URL: '',
});
const ops = async (args: string[], env: Record<string, string> = aws()) => {
  const r = await runCliProcess(CLI, args, { env });
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).filter((l) => l.level === 'error');
  return { code: r.code, json: r.stdout.startsWith('{') ? JSON.parse(r.stdout) : undefined, out: r.stdout, errors };
};

test('workers status --env dev: tasks from ECS, queue figures from SQS, oldest age from CloudWatch, last scaling activity', async () => {
  standIn.requests.length = 0;
  const r = await ops(['workers', 'status', '--env', 'dev']);
  expect(r.errors).toEqual([]);
  expect(r.code).toBe(0);
  const [doc, batch] = r.json.workers;
  expect(doc).toMatchObject({
    worker: 'doc-generation',
    service: { name: `${PREFIX}-doc-generation`, status: 'ACTIVE', desired: 2, running: 1, pending: 1, capacityProviders: ['FARGATE_SPOT:1'], lastEvent: { message: expect.stringContaining('has started 1 tasks') } },
    // Both of its queues, in the order it serves them.
    queues: [
      { name: `${PREFIX}-doc-jobs`, visible: 2, inFlight: 0, delayed: 0, dlqVisible: 0, oldestAgeSeconds: 95 },
      { name: `${PREFIX}-batch-doc-jobs`, visible: 1, inFlight: 0, delayed: 0, dlqVisible: 0, oldestAgeSeconds: 40 },
    ],
    lastScaling: { status: 'Successful', description: 'Setting desired count to 2.', cause: expect.stringContaining('scale-out'), time: new Date(1_764_583_140_000).toISOString() },
  });
  expect(batch).toMatchObject({ worker: 'b2b-batch', service: { desired: 0, running: 0 }, queues: [{ name: `${PREFIX}-batch-jobs`, visible: 0, dlqVisible: 1 }] });
  expect(batch.queues).toHaveLength(1);
  expect(batch.lastScaling).toBeUndefined();
  expect(batch.queues[0].oldestAgeSeconds).toBeUndefined();

  const asked = (operation: string) => standIn.requests.filter((q) => q.operation === operation).map((q) => q.body);
  expect(asked('DescribeServices')).toEqual([{ cluster: PREFIX, services: [`${PREFIX}-doc-generation`, `${PREFIX}-b2b-batch`] }]);
  expect(asked('DescribeScalingActivities')).toEqual(
    ['doc-generation', 'b2b-batch'].map((w) => ({ ServiceNamespace: 'ecs', ResourceId: `service/${PREFIX}/${PREFIX}-${w}`, ScalableDimension: 'ecs:service:DesiredCount', MaxResults: 1 })),
  );
  const [metrics] = asked('GetMetricData') as any[];
  expect(metrics.MetricDataQueries.map((q: any) => [q.MetricStat.Metric.Namespace, q.MetricStat.Metric.MetricName, q.MetricStat.Metric.Dimensions[0].Value])).toEqual([
    ['AWS/SQS', 'ApproximateAgeOfOldestMessage', `${PREFIX}-doc-jobs`],
    ['AWS/SQS', 'ApproximateAgeOfOldestMessage', `${PREFIX}-batch-doc-jobs`],
    ['AWS/SQS', 'ApproximateAgeOfOldestMessage', `${PREFIX}-batch-jobs`],
  ]);

  const table = await ops(['workers', 'status', '--env', 'dev', '--format', 'table']);
  expect(table.out).toMatch(/doc-generation\s+1\/2 \(\+1 pending\)\s+docplatform-dev-doc-jobs\s+2\s+0\s+0\s+95 s\s+0/);
  expect(table.out).toMatch(/\n\s+docplatform-dev-batch-doc-jobs\s+1\s+0\s+0\s+40 s\s+0/);
});

test('dlq list --env dev: each DLQ’s depth from SQS, the age of its oldest message from CloudWatch', async () => {
  standIn.requests.length = 0;
  const r = await ops(['dlq', 'list', '--env', 'dev']);
  expect(r.errors).toEqual([]);
  expect(r.code).toBe(0);
  expect(r.json.dlqs).toEqual([
    { queue: `${PREFIX}-doc-jobs`, dlq: `${PREFIX}-doc-jobs-dlq`, visible: 0, inFlight: 0 },
    { queue: `${PREFIX}-batch-doc-jobs`, dlq: `${PREFIX}-batch-doc-jobs-dlq`, visible: 0, inFlight: 0 },
    { queue: `${PREFIX}-batch-jobs`, dlq: `${PREFIX}-batch-jobs-dlq`, visible: 1, inFlight: 0, oldestAgeSeconds: 3600 },
  ]);
  const [metrics] = standIn.requests.filter((q) => q.operation === 'GetMetricData').map((q) => q.body) as any[];
  expect(metrics.MetricDataQueries.map((q: any) => q.MetricStat.Metric.Dimensions[0].Value)).toEqual(['doc-jobs', 'batch-doc-jobs', 'batch-jobs'].map((q) => `${PREFIX}-${q}-dlq`));
});

test('order --env dev: the saved query over the eight log groups; a request id gives the order’s whole story', async () => {
  standIn.requests.length = 0;
  const r = await ops(['order', WEBHOOK, '--env', 'dev', '--since', '2d']);
  expect(r.errors).toEqual([]);
  expect(r.code).toBe(0);
  expect(r.json).toMatchObject({ id: WEBHOOK, orderId: ORDER, orders: [ORDER], requestIds: [CREATION, WEBHOOK, 'poll-req-1'] });
  expect(r.json.steps.map((s: { step: string }) => s.step)).toEqual(['received', 'paid', 'taken', 'ready']);
  expect(r.json.lines[0]).toEqual({ time: '2026-12-01T10:00:00.100Z', service: 'order', msg: 'order received', step: 'received', orderId: ORDER, requestId: CREATION, level: 'info' });
  expect(r.json.lines[2].receiveCount).toBe(1);
  expect(r.json.order).toBeUndefined();
  expect(r.json.truncated).toBe(false);

  const started = standIn.requests.filter((q) => q.operation === 'StartQuery').map((q) => q.body as any);
  // First by the id given, then by the order it names.
  expect(started.map((s) => s.queryString)).toEqual([orderStoryQuery(WEBHOOK), orderStoryQuery(ORDER)]);
  const groups = environmentLogGroups('dev');
  for (const s of started) {
    expect(s.logGroupNames).toEqual([...groups.services, ...groups.workers]);
    expect(s.endTime - s.startTime).toBeGreaterThanOrEqual(2 * 86_400);
    expect(s.endTime - s.startTime).toBeLessThanOrEqual(2 * 86_400 + 2);
  }
  expect(standIn.requests.filter((q) => q.operation === 'GetQueryResults').length).toBe(4);
});

test('order --env dev: the table reads each line as it does locally, from the fields the saved query asks for (an access line: method, path, status, time)', async () => {
  const r = await ops(['order', ORDER, '--env', 'dev', '--format', 'table']);
  expect(r.errors).toEqual([]);
  expect(r.out).toContain(`request · GET /b2c/orders/${ORDER} 200 · 35 ms`);
});

test('order --env dev: a request whose lines fill a whole Insights answer says the story is cut, in JSON and in the table', async () => {
  const r = await ops(['order', BATCH, '--env', 'dev']);
  expect(r.errors).toEqual([]);
  expect(r.code).toBe(0);
  expect(r.json).toMatchObject({ id: BATCH, truncated: true, orders: BATCH_ORDERS });
  expect(r.json.lines).toHaveLength(STORY_LINE_LIMIT);
  const table = await ops(['order', BATCH, '--env', 'dev', '--format', 'table']);
  expect(table.out).toContain('TRUNCATED: a query answered as many lines as it may');
});

test('order --env dev: an id no line names, a bad id, no credentials: exit 2 naming the field', async () => {
  const unknown = await ops(['order', randomUUID(), '--env', 'dev']);
  expect({ code: unknown.code, field: unknown.errors[0]?.field }).toEqual({ code: 2, field: 'orderId' });
  expect(unknown.errors[0].msg).toContain('CloudWatch Logs of dev (8 log groups, last 7 d)');
  // The window the message names is the one read, not a rounding of it.
  for (const [since, said] of [['12h', 'last 12 h'], ['36h', 'last 36 h'], ['90m', 'last 90 min'], ['2d', 'last 2 d']]) {
    const within = await ops(['order', randomUUID(), '--env', 'dev', '--since', since]);
    expect({ since, code: within.code, msg: within.errors[0]?.msg }).toEqual({ since, code: 2, msg: expect.stringContaining(`CloudWatch Logs of dev (8 log groups, ${said})`) });
  }
  const bad = await ops(['order', 'not"an id', '--env', 'dev']);
  expect({ code: bad.code, field: bad.errors[0]?.field }).toEqual({ code: 2, field: 'orderId' });
  const since = await ops(['order', ORDER, '--env', 'dev', '--since', 'soon']);
  expect({ code: since.code, field: since.errors[0]?.field }).toEqual({ code: 2, field: '--since' });
  // A look back before 1970 would reach AWS as a negative start time and fail there (exit 1).
  const ages = await ops(['order', ORDER, '--env', 'dev', '--since', '999999d']);
  expect({ code: ages.code, field: ages.errors[0]?.field, msg: ages.errors[0]?.msg }).toEqual({ code: 2, field: '--since', msg: expect.stringContaining('at most 3650d') });
  // The SDK's whole chain finds nothing: no variables, no files, no instance metadata.
  const none = {
    ...aws(),
    AWS_ACCESS_KEY_ID: '',
    AWS_SECRET_ACCESS_KEY: '',
    AWS_SESSION_TOKEN: '',
    AWS_PROFILE: '',
    AWS_CONFIG_FILE: '/nonexistent/config',
    AWS_SHARED_CREDENTIALS_FILE: '/nonexistent/credentials',
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONTAINER_CREDENTIALS_FULL_URI: '',
    AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: '',
    AWS_WEB_IDENTITY_TOKEN_FILE: '',
  };
  for (const args of [['order', ORDER, '--env', 'dev'], ['workers', 'status', '--env', 'dev'], ['dlq', 'list', '--env', 'dev']]) {
    const r = await ops(args, none);
    expect({ args, code: r.code, field: r.errors[0]?.field }).toEqual({ args, code: 2, field: 'credentials' });
  }
});
