import { CUSTOM_METRICS } from './contract';

/**
 * CloudWatch's embedded metric format (EMF), as fields of a log line of core/logger.ts: a line
 * that carries them is also a metric data point, extracted by CloudWatch Logs from the worker's
 * log group (the awslogs driver of ECS) with no agent, no SDK call and no extra line. The
 * dimension members (`env`) are the worker logger's own base fields (containers/shared), so the
 * line names the environment once.
 *
 * Two counters do not need `@aws-lambda-powertools/metrics`: it is made for Lambda (a buffer
 * flushed per invocation, cold-start metric, its own stdout writer, i.e. a second line format
 * beside core/logger.ts) and adds its commons package to the bundle; this is one object.
 */
export function emfCount(metricName: string, now: number = Date.now()): Record<string, unknown> {
  return {
    _aws: {
      Timestamp: now,
      CloudWatchMetrics: [
        { Namespace: CUSTOM_METRICS.namespace, Dimensions: [[CUSTOM_METRICS.dimension]], Metrics: [{ Name: metricName, Unit: 'Count' }] },
      ],
    },
    [metricName]: 1,
  };
}
