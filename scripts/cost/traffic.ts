import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { UsageError } from '../../core/cli';
import * as z from '../../core/zod';

const count = z.number().check(z.nonnegative());

const lambdaUseSchema = z.object({
  /** Substring of the function name this entry describes. */
  match: z.string().check(z.minLength(1)),
  perApiRequest: z._default(count, 0),
  perDocument: z._default(count, 0),
  perBatch: z._default(count, 0),
  avgDurationMs: z.number().check(z.positive()),
});

const workerUseSchema = z.object({
  /** Substring of the ECS service name. */
  match: z.string().check(z.minLength(1)),
  /**
   * The queues the worker consumes (their names in core/contract.ts QUEUES), the first carrying
   * its messages and its idle long polls: the profile counts documents, not documents per queue.
   */
  queues: z.array(z.string().check(z.minLength(1))).check(z.minLength(1)),
  drivenBy: z.enum(['documents', 'batches']),
  unitsPerTaskMinute: z.number().check(z.positive()),
  activationsPerMonth: count,
  tailMinutesPerActivation: count,
  imagePullGb: count,
});

const profileSchema = z.object({
  name: z.string().check(z.minLength(1)),
  description: z.string(),
  volume: z.object({
    apiRequestsPerMonth: count,
    documentsPerMonth: count,
    batchesPerMonth: count,
    cdnRequestsPerMonth: count,
    cdnGbServedPerMonth: count,
  }),
  assumptions: z.object({
    lambdas: z.array(lambdaUseSchema),
    workers: z.array(workerUseSchema),
    sqsRequestsPerMessage: count,
    sqsPollsPerTaskMinute: count,
    cacheEcpuPerApiRequest: count,
    cacheEcpuPerDocument: count,
    cacheStoredGb: count,
    auroraAcuWhileAwake: z.number().check(z.positive()),
    auroraIoPerApiRequest: count,
    auroraIoPerDocument: count,
    documentsBucketMatch: z.string().check(z.minLength(1)),
    documentKb: count,
    documentRetentionMonths: count,
    downloadsPerDocument: count,
    frontendBucketMatch: z.array(z.string().check(z.minLength(1))),
    cdnCacheHitRatio: z.number().check(z.minimum(0), z.maximum(1)),
    natKbPerApiRequest: count,
    natKbPerDocument: count,
    logBytesPerInvocation: count,
    logBytesPerDocument: count,
    logBytesPerBatch: count,
    logBytesPerApiRequest: count,
    logCompressionRatio: z.number().check(z.positive(), z.maximum(1)),
    neverExpireHorizonDays: z.number().check(z.positive()),
    secretsManagerCallsPerMonth: count,
    kmsRequestsPerMonth: count,
    flowLogBytesPerApiRequest: count,
    flowLogBytesPerDocument: count,
    flowLogFilesPerMonth: count,
    wafBlockedShare: z.number().check(z.minimum(0), z.maximum(1)),
    wafLogBytesPerRecord: count,
  }),
  baseline: z.object({
    ecrStoredGbPerRepository: count,
    s3StoredGb: z.record(z.string(), count),
    auroraStoredGb: count,
  }),
  notes: z.record(z.string(), z.string()),
});

export type TrafficProfile = z.infer<typeof profileSchema>;
export type Volume = TrafficProfile['volume'];

export const DEFAULT_TRAFFIC_FILE = join(__dirname, 'traffic', 'launch.json');

export const ZERO_VOLUME: Volume = {
  apiRequestsPerMonth: 0,
  documentsPerMonth: 0,
  batchesPerMonth: 0,
  cdnRequestsPerMonth: 0,
  cdnGbServedPerMonth: 0,
};

export function parseTrafficProfile(raw: unknown, origin: string): TrafficProfile {
  const parsed = profileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`traffic profile ${origin}: field ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const undocumented = [
    ...Object.keys(parsed.data.volume).map((k) => `volume.${k}`),
    ...Object.keys(parsed.data.assumptions).map((k) => `assumptions.${k}`),
    ...Object.keys(parsed.data.baseline).map((k) => `baseline.${k}`),
  ].filter((field) => !(field in parsed.data.notes));
  if (undocumented.length > 0) {
    throw new Error(`traffic profile ${origin}: field notes: every figure must be documented; missing ${undocumented.join(', ')}`);
  }
  return parsed.data;
}

export function loadTrafficProfile(file: string = DEFAULT_TRAFFIC_FILE): TrafficProfile {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`traffic profile ${file}: cannot read it as JSON (${(error as Error).message})`);
  }
  return parseTrafficProfile(raw, file);
}

/** The profile `--traffic` names, the launch profile without it: one given that cannot be read is bad input. */
export function trafficOption(file: string | undefined): TrafficProfile {
  if (file === undefined) return loadTrafficProfile();
  try {
    return loadTrafficProfile(resolve(file));
  } catch (error) {
    throw new UsageError('--traffic', (error as Error).message);
  }
}
