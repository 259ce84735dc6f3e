import { namePrefix, SERVICE_NAMES, WORKER_NAMES } from '../core/contract';

/**
 * The CloudWatch Logs Insights queries of an environment, written once: the compute stack saves
 * them as query definitions next to the dashboard (modules/ops-dashboard.ts), `npm run ops --
 * order <id> --env <env>` runs the order story on the same log groups, and docs/operations.md
 * quotes them (test/infra/log-queries.test.ts holds the three to each other). No cdktf here: the
 * ops CLI imports this file without the provider's classes.
 */

/** The log group of a Lambda function; modules/koa-lambda.ts creates it under this name. */
export const functionLogGroup = (functionName: string): string => `/aws/lambda/${functionName}`;
/** The log group of an ECS task family; modules/fargate-task.ts creates it under this name. */
export const taskLogGroup = (family: string): string => `/ecs/${family}`;

/** The log groups of an environment's six services and two workers (stacks/compute.ts names both `docplatform-<env>-<name>`). */
export function environmentLogGroups(env: string): { services: string[]; workers: string[] } {
  const prefix = namePrefix(env);
  return {
    services: SERVICE_NAMES.map((name) => functionLogGroup(`${prefix}-${name}`)),
    workers: WORKER_NAMES.map((name) => taskLogGroup(`${prefix}-${name}`)),
  };
}

/** What the order story's query filters on; the saved query shows it for the person to replace, the ops CLI puts the id there. */
export const STORY_ID_PLACEHOLDER = 'ORDER_OR_REQUEST_ID';

export interface LogQuery {
  /** The saved query's name in its environment's folder (`docplatform-<env>/<title>`). */
  title: string;
  /** Over the services' log groups only, or the workers' too. */
  over: 'services' | 'services and workers';
  text: string;
}

/** The most lines the order story's query answers (Logs Insights answers at most 10,000 a query): the oldest, as it sorts ascending. */
export const STORY_LINE_LIMIT = 10_000;

export const LOG_QUERIES = {
  /**
   * Every line that names the order or belongs to the request: the hops (`step`), the access
   * lines, the consumer's receives, the errors, oldest first. A request id finds the order(s)
   * it worked on; the CLI then asks again by order id for the rest of the story.
   */
  orderStory: {
    title: 'order story (replace ORDER_OR_REQUEST_ID)',
    over: 'services and workers',
    text: [
      'fields @timestamp, service, component, level, step, msg, orderId, requestId, method, status, path, ms, receiveCount, reason, err.message',
      `filter orderId = "${STORY_ID_PLACEHOLDER}" or requestId = "${STORY_ID_PLACEHOLDER}"`,
      'sort @timestamp asc',
      `limit ${STORY_LINE_LIMIT}`,
    ].join('\n| '),
  },
  /** Run over the last hour (the console's time picker): which service fails, on what, since when. */
  errorsByService: {
    title: 'errors by service (run over the last hour)',
    over: 'services and workers',
    text: [
      'filter level = "error"',
      'stats count(*) as errors, min(@timestamp) as first, max(@timestamp) as last by service, msg',
      'sort errors desc',
      'limit 100',
    ].join('\n| '),
  },
  /** The services' access lines (`msg: "request"`, `ms` measured in the Koa shell), slowest first. */
  slowestRequests: {
    title: 'slowest requests',
    over: 'services',
    text: ['fields @timestamp, service, method, path, status, ms, requestId, orderId', 'filter msg = "request"', 'sort ms desc', 'limit 50'].join('\n| '),
  },
} as const satisfies Record<string, LogQuery>;

/** The order story's query for one order id or request id (the ops CLI has checked its characters: no quote gets in). */
export const orderStoryQuery = (id: string): string => LOG_QUERIES.orderStory.text.split(STORY_ID_PLACEHOLDER).join(id);
