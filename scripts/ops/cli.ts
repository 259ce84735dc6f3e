import { randomUUID } from 'node:crypto';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ApplicationAutoScalingClient } from '@aws-sdk/client-application-auto-scaling';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { ECSClient } from '@aws-sdk/client-ecs';
import { failure, runCli, UsageError } from '../../core/cli';
import { onInterrupt } from '../../core/interrupt';
import { createLogger, Logger, LogSink, stderrSink } from '../../core/logger';
import { QUEUES } from '../../core/contract';
import { createJobQueue } from '../../core/queue';
import { namePrefix } from '../../stacks/config';
import { environmentLogGroups } from '../../modules/log-queries';
import { orderDeadlines, readQueueSettings } from '../../containers/doc-generation/deadlines';
import { docJobsBacklog } from '../../containers/doc-generation/sweeper';
import { OpsCommand, parseCommand, USAGE } from './args';
import { requeueBatches, stuckBatches } from './batches';
import { listDlqs, redriveDlq, showDlq } from './dlq';
import { listKeys, revokeKey, rotateKey } from './keys';
import { failedOrders, openDatabase, requeueOrders, retryOrders, stuckOrders } from './orders';
import { renderBatchRequeue, renderFailed, renderKeys, renderList, renderRedrive, renderRevoke, renderRotate, renderShow, renderRequeue, renderRetry, renderStory, renderStuck, renderStuckBatches, renderWorkers } from './render';
import { cloudWatchStorySource, localStorySource, orderStory } from './story';
import { awsWorkersStatus, localWorkersStatus } from './workers';
import { openTarget, OpsTarget, queueAttributes } from './target';

/**
 * `npm run ops -- <command>`: the tools of the incidents in docs/operations.md (a DLQ alarm,
 * orders stuck, B2B batches stuck, orders failed by an outage, one order to follow, the workers' state, a partner's
 * API key leaked or to rotate). Results go to stdout (JSON, or `--format table`); log
 * lines, one JSON line per event in the platform's format, to stderr, each with the run's
 * request id (`ops-<uuid>`, also on the jobs `orders requeue`, `orders retry` and `batches requeue` send). Exit 0 done,
 * 1 failed, 2 bad command line (the message names the field).
 */
export interface OpsIo {
  stdout(text: string): void;
  logSink: LogSink;
  env: Record<string, string | undefined>;
}

const processIo: OpsIo = { stdout: (text) => void process.stdout.write(text), logSink: stderrSink, env: process.env };

export async function main(argv: string[], io: OpsIo = processIo): Promise<number> {
  let command: OpsCommand | 'help';
  try {
    command = parseCommand(argv, io.env);
  } catch (err) {
    return failure(err, { log: createLogger({ component: 'ops' }, 'info', io.logSink), usage: USAGE, usageSink: io.logSink });
  }
  if (command === 'help') {
    io.stdout(`${USAGE}\n`);
    return 0;
  }
  const requestId = `ops-${randomUUID()}`;
  const log = createLogger({ component: 'ops', command: command.command, env: command.env, requestId }, 'info', io.logSink);
  const target = openTarget(command.env, command.endpoint, io.env);
  try {
    const { json, text, ok } = await run(command, target, requestId, log);
    io.stdout(command.format === 'table' ? text : `${JSON.stringify(json, null, 2)}\n`);
    return ok ? 0 : 1;
  } catch (err) {
    // The SDK's credential chain found nothing: the person must log in first, not retry.
    const noCredentials = (err as Error).name === 'CredentialsProviderError';
    const error = noCredentials
      ? new UsageError('credentials', `none for --env ${command.env}: log in (aws sso login, AWS_PROFILE) or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (${(err as Error).message})`)
      : err;
    return failure(error, { log, usage: noCredentials ? undefined : USAGE, usageSink: io.logSink });
  } finally {
    target.close();
  }
}

interface Result {
  json: unknown;
  text: string;
  ok: boolean;
}

async function run(command: OpsCommand, target: OpsTarget, requestId: string, log: Logger): Promise<Result> {
  switch (command.command) {
    case 'dlq list': {
      const cloudwatch = target.endpoint ? undefined : new CloudWatchClient({ region: target.region });
      try {
        const report = await listDlqs(target, cloudwatch);
        return { json: report, text: renderList(report), ok: true };
      } finally {
        cloudwatch?.destroy();
      }
    }
    case 'dlq show': {
      // The orders' last errors need the database; without one the messages are shown alone.
      const { url, secret } = command.database;
      const db = url ? await openDatabase({ url, secret }, `${namePrefix(command.env)}-db-app`, secretReader(target)) : undefined;
      try {
        const report = await showDlq(target, command.queue, command.sample, log, db);
        return { json: report, text: renderShow(report), ok: true };
      } finally {
        await db?.destroy();
      }
    }
    case 'dlq redrive': {
      // Killed there, the ten messages in hand could be sent and not deleted (a second job each)
      // and nothing would say what was moved: a signal stops the run after them.
      const stop = onInterrupt((signal) => log.warn('redrive interrupting: the messages in hand finish, no more are taken; a second signal ends it at once', { signal }));
      try {
        const report = await redriveDlq(target, command.queue, { max: command.max, dryRun: command.dryRun, ratePerSecond: command.ratePerSecond, stop }, log);
        return { json: report, text: renderRedrive(report), ok: report.failed.length === 0 && !report.interrupted };
      } finally {
        stop.off();
      }
    }
    case 'orders failed': {
      const db = await openDatabase(command.database, `${namePrefix(command.env)}-db-app`, secretReader(target));
      try {
        const report = await failedOrders(db, command.sinceMs, command.limit);
        log.info('failed orders listed', { count: report.count, otherFailures: report.otherFailures, sinceMinutes: report.sinceMinutes });
        return { json: report, text: renderFailed(report), ok: true };
      } finally {
        await db.destroy();
      }
    }
    case 'orders stuck':
    case 'orders requeue':
    case 'orders retry': {
      const docJobs = await target.queue(QUEUES.docJobs);
      const batchDocJobs = await target.queue(QUEUES.batchDocJobs);
      const urls = { docJobs: docJobs.url, batchDocJobs: batchDocJobs.url };
      const db = await openDatabase(command.database, `${namePrefix(command.env)}-db-app`, secretReader(target));
      try {
        if (command.command !== 'orders stuck') {
          const jobs = createJobQueue({ queues: { docJobsUrl: urls.docJobs, batchDocJobsUrl: urls.batchDocJobs } }, target.sqs);
          const orderRun = { db, jobs, queueNames: { docJobs: docJobs.name, batchDocJobs: batchDocJobs.name }, orderIds: command.orderIds, requestId, log };
          if (command.command === 'orders requeue') {
            const report = await requeueOrders(orderRun);
            return { json: report, text: renderRequeue(report), ok: report.notSent.length === 0 };
          }
          const report = await retryOrders(orderRun);
          return { json: report, text: renderRetry(report), ok: report.notSent.length === 0 };
        }
        // The sweeper's deadlines follow the doc-jobs queue, read as the worker reads them; its backlog is read queue by queue, as the sweep reads it.
        const deadlines = orderDeadlines(await readQueueSettings(target.sqs, docJobs.url));
        const report = await stuckOrders(db, deadlines, await docJobsBacklog(target.sqs, urls), command.olderThanMs, command.limit);
        log.info('stuck orders listed', { count: report.count, olderThanMinutes: report.olderThanMinutes });
        return { json: report, text: renderStuck(report), ok: true };
      } finally {
        await db.destroy();
      }
    }
    case 'batches stuck':
    case 'batches requeue': {
      const batchJobs = await target.queue(QUEUES.batchJobs);
      const db = await openDatabase(command.database, `${namePrefix(command.env)}-db-app`, secretReader(target));
      try {
        if (command.command === 'batches requeue') {
          const jobs = createJobQueue({ queues: { batchJobsUrl: batchJobs.url } }, target.sqs);
          const report = await requeueBatches({ db, jobs, queueName: batchJobs.name, batchIds: command.batchIds, requestId, log });
          return { json: report, text: renderBatchRequeue(report), ok: report.notSent.length === 0 };
        }
        const depth = await queueAttributes(target.sqs, batchJobs.url, ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible']);
        const dead = await queueAttributes(target.sqs, batchJobs.dlqUrl, ['ApproximateNumberOfMessages']);
        const queue = { waiting: Number(depth.ApproximateNumberOfMessages ?? 0), inFlight: Number(depth.ApproximateNumberOfMessagesNotVisible ?? 0), dlq: Number(dead.ApproximateNumberOfMessages ?? 0) };
        const report = await stuckBatches(db, queue, command.olderThanMs, command.limit);
        log.info('stuck batches listed', { count: report.count, olderThanMinutes: report.olderThanMinutes });
        return { json: report, text: renderStuckBatches(report), ok: true };
      } finally {
        await db.destroy();
      }
    }
    case 'order': {
      const source = command.local
        ? localStorySource(command.logFile)
        : cloudWatchStorySource({
            client: new CloudWatchLogsClient({ region: target.region }),
            env: command.env,
            logGroups: Object.values(environmentLogGroups(command.env)).flat(),
            sinceMs: command.sinceMs,
          });
      const { url, secret } = command.database;
      const database = url ? () => openDatabase({ url, secret }, `${namePrefix(command.env)}-db-app`, secretReader(target)) : undefined;
      const report = await orderStory(source, command.id, database);
      log.info('order story read', { id: command.id, orderId: report.orderId, lines: report.lines.length, truncated: report.truncated, source: report.source });
      return { json: report, text: renderStory(report), ok: true };
    }
    case 'keys list':
    case 'keys rotate':
    case 'keys revoke': {
      const db = await openDatabase(command.database, `${namePrefix(command.env)}-db-app`, secretReader(target));
      try {
        if (command.command === 'keys list') {
          const report = await listKeys(db, command.clientId);
          return { json: report, text: renderKeys(report), ok: true };
        }
        if (command.command === 'keys rotate') {
          const report = await rotateKey(db, command.clientId, command.oldKeysExpireInMs, log);
          return { json: report, text: renderRotate(report), ok: true };
        }
        const report = await revokeKey(db, command.prefix, log);
        return { json: report, text: renderRevoke(report), ok: true };
      } finally {
        await db.destroy();
      }
    }
    case 'workers status': {
      const report = target.endpoint
        ? await localWorkersStatus(target, command.logFile)
        : await awsWorkersStatus(target, {
            ecs: new ECSClient({ region: target.region }),
            scaling: new ApplicationAutoScalingClient({ region: target.region }),
            cloudwatch: new CloudWatchClient({ region: target.region }),
          });
      return { json: report, text: renderWorkers(report), ok: true };
    }
  }
}

/** Secrets Manager of the environment's region (locally there is none: give the URL with its user). */
function secretReader(target: OpsTarget) {
  return async (secretId: string): Promise<string> => {
    const client = new SecretsManagerClient({ region: target.region });
    try {
      const out = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
      if (!out.SecretString) throw new Error('it has no string value');
      return out.SecretString;
    } finally {
      client.destroy();
    }
  };
}

if (require.main === module) {
  runCli(() => main(process.argv.slice(2)), { log: createLogger({ component: 'ops' }, 'info', stderrSink), usage: USAGE });
}
