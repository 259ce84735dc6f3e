import { createReadStream, readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { DeleteObjectsCommand, ListObjectsV2Command, ListObjectsV2CommandOutput, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { CloudFrontClient, CreateInvalidationCommand } from '@aws-sdk/client-cloudfront';
import { integerOption, parseOptions, runCli, UsageError } from '../../core/cli';
import { createLogger, stdoutSink } from '../../core/logger';
import { cacheControlOf, contentTypeOf, IMMUTABLE_CACHE, NO_CACHE } from '../../modules/edge-behaviour';
import { CACHE_CONTROL_METADATA } from '../local/edge/server';
import { LOCAL_FRONTEND_BUCKET, localEmulatorPort } from '../local/defaults';
import { emulatorS3Client } from '../local/emulator';
import { FRONTEND_BUILD_DIR } from '../local/frontend';

/**
 * Publishes an Angular build (`dist/…/browser`) to the SPA bucket behind CloudFront.
 * Hashed bundles never change under their name: cached for a year, `immutable`. Everything
 * else (`index.html` first of all) is `no-cache`, revalidated on every load, and invalidated
 * in CloudFront. Order matters: assets go up before the `index.html` that references them.
 * Objects the new build no longer has are removed only a grace period after the publish that
 * left them out, so a browser still running the previous `index.html` can load its chunks. Not
 * after their upload: every publish uploads its whole build, so a chunk is as old as the last
 * publish that had it, and one that served for longer than the grace would go at once with the
 * first build without it. That publish records the moment in the bucket instead, as an empty
 * object `.superseded/<epoch ms>/<key>`: the deploy role may put, list and delete the SPA
 * bucket's objects, not read them.
 */

/** The CLI's output: log lines in the platform's format (core/logger.ts) on stdout. */
const log = createLogger({}, 'info', stdoutSink);

export interface Upload {
  key: string;
  file: string;
  contentType: string;
  cacheControl: string;
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? walk(path) : entry.isFile() ? [path] : [];
  });
}

/** Every file of the build with its headers, hashed assets first and `index.html` last. */
export function planUploads(distDir: string): Upload[] {
  let isDir = false;
  try {
    isDir = statSync(distDir).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) throw new UsageError('--dist', `"${distDir}" is not a directory`);
  const uploads = walk(distDir).map((file) => {
    const key = relative(distDir, file).split(sep).join('/');
    return { key, file, contentType: contentTypeOf(key), cacheControl: cacheControlOf(key) };
  });
  if (!uploads.some((u) => u.key === 'index.html')) throw new UsageError('--dist', `"${distDir}" has no index.html (point it at the browser build folder)`);
  const rank = (u: Upload) => (u.key === 'index.html' ? 2 : u.cacheControl === IMMUTABLE_CACHE ? 0 : 1);
  return uploads.sort((a, b) => rank(a) - rank(b) || a.key.localeCompare(b.key));
}

/** CloudFront paths to invalidate: the mutable files (and `/`, which serves index.html). */
export function invalidationPaths(uploads: Upload[], limit = 15): string[] {
  const mutable = uploads.filter((u) => u.cacheControl === NO_CACHE).map((u) => `/${u.key}`);
  const paths = ['/', ...mutable];
  // Past a handful of paths a wildcard costs the same (one path) and cannot miss anything.
  return paths.length > limit ? ['/*'] : paths;
}

export interface PublishOptions {
  s3: S3Client;
  /** The distribution whose cache is invalidated; none for the local edge, which caches nothing. */
  cdn?: { cloudfront: CloudFrontClient; distributionId: string };
  bucket: string;
  distDir: string;
  /** Objects missing from the build are deleted this many days after the first publish without them. */
  pruneAfterDays: number;
  /**
   * Also store each Cache-Control as user metadata (`x-amz-meta-cache-control`): the emulator
   * keeps Content-Type but drops Cache-Control, and the local edge reads it back from there.
   */
  cacheControlMetadata?: boolean;
  now?: Date;
}

export interface PublishResult {
  uploaded: number;
  immutable: number;
  /** Left out of a build for the first time by this one: kept until their grace has run. */
  superseded: string[];
  /** Deleted by this publish. */
  pruned: string[];
  /** Due for deletion but refused by S3 (its per-key error, or the whole request's): still in the bucket. */
  notPruned: PruneFailure[];
  invalidated: string[];
  invalidationId?: string;
}

export interface PruneFailure {
  key: string;
  code: string;
  message: string;
}

const SUPERSEDED = '.superseded/';
const supersededMarker = (at: number, key: string): string => `${SUPERSEDED}${at}/${key}`;

/** The object a marker is about, and when it left the build; undefined for any other key. */
function markerOf(key: string): { key: string; at: number } | undefined {
  const m = /^\.superseded\/(\d{1,15})\/(.+)$/.exec(key);
  return m ? { key: m[2], at: Number(m[1]) } : undefined;
}

async function listAll(s3: S3Client, bucket: string) {
  const objects: Array<{ key: string; lastModified?: Date }> = [];
  let token: string | undefined;
  do {
    const page: ListObjectsV2CommandOutput = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    for (const o of page.Contents ?? []) if (o.Key) objects.push({ key: o.Key, lastModified: o.LastModified });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return objects;
}

/**
 * Deletes the keys, answering those S3 did not delete. DeleteObjects answers 200 with a per-key
 * `Errors` list (AccessDenied from a policy, a held object…); a request refused whole counts
 * against each of its keys, so the uploads already made are still reported and invalidated.
 */
async function deleteKeys(s3: S3Client, bucket: string, keys: string[]): Promise<PruneFailure[]> {
  const failures: PruneFailure[] = [];
  for (let i = 0; i < keys.length; i += 1000) {
    const batch = keys.slice(i, i + 1000);
    try {
      const out = await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } }));
      for (const e of out.Errors ?? []) failures.push({ key: e.Key ?? '', code: e.Code ?? 'Unknown', message: e.Message ?? '' });
    } catch (err) {
      const { name, message } = err as Error;
      failures.push(...batch.map((key) => ({ key, code: name, message })));
    }
  }
  return failures;
}

export async function publish(options: PublishOptions): Promise<PublishResult> {
  const uploads = planUploads(options.distDir);
  for (const u of uploads) {
    await options.s3.send(
      new PutObjectCommand({
        Bucket: options.bucket,
        Key: u.key,
        Body: createReadStream(u.file),
        ContentLength: statSync(u.file).size,
        ContentType: u.contentType,
        CacheControl: u.cacheControl,
        ...(options.cacheControlMetadata ? { Metadata: { [CACHE_CONTROL_METADATA]: u.cacheControl } } : {}),
      }),
    );
  }

  const keep = new Set(uploads.map((u) => u.key));
  const now = (options.now ?? new Date()).getTime();
  const cutoff = now - options.pruneAfterDays * 86_400_000;
  const objects = new Set<string>();
  const markers = new Map<string, { marker: string; at: number }[]>();
  for (const { key } of await listAll(options.s3, options.bucket)) {
    const about = markerOf(key);
    if (!about) objects.add(key);
    else markers.set(about.key, [...(markers.get(about.key) ?? []), { marker: key, at: about.at }]);
  }
  const superseded: string[] = [];
  const stale: string[] = [];
  for (const key of objects) {
    if (keep.has(key)) continue;
    const since = markers.get(key);
    if (!since) superseded.push(key);
    else if (Math.min(...since.map((m) => m.at)) < cutoff) stale.push(key);
  }
  for (const key of superseded) {
    await options.s3.send(new PutObjectCommand({ Bucket: options.bucket, Key: supersededMarker(now, key), Body: '', ContentLength: 0 }));
  }
  const staleFailures = await deleteKeys(options.s3, options.bucket, stale);
  const kept = new Set(staleFailures.map((f) => f.key));
  // A marker is done with its object: pruned, gone, or back in the build (the next build without it starts its grace again).
  // An object S3 refused to delete keeps its marker, so the next publish prunes it at once instead of granting a new grace.
  const doneMarkers: string[] = [];
  for (const [key, since] of markers) {
    if (!objects.has(key) || keep.has(key) || (stale.includes(key) && !kept.has(key))) doneMarkers.push(...since.map((m) => m.marker));
  }
  const markerFailures = await deleteKeys(options.s3, options.bucket, doneMarkers);

  const paths = options.cdn ? invalidationPaths(uploads) : [];
  const invalidation = options.cdn
    ? await options.cdn.cloudfront.send(
        new CreateInvalidationCommand({
          DistributionId: options.cdn.distributionId,
          InvalidationBatch: { CallerReference: `publish-${Date.now()}`, Paths: { Quantity: paths.length, Items: paths } },
        }),
      )
    : undefined;
  return {
    uploaded: uploads.length,
    immutable: uploads.filter((u) => u.cacheControl === IMMUTABLE_CACHE).length,
    superseded,
    pruned: stale.filter((key) => !kept.has(key)),
    notPruned: [...staleFailures, ...markerFailures],
    invalidated: paths,
    invalidationId: invalidation?.Invalidation?.Id,
  };
}

const USAGE = `usage: npm run publish:frontend -- --dist DIR --bucket NAME --distribution-id ID [--prune-after-days N] [--region REGION]
       npm run publish:frontend -- --env local [--dist DIR] [--bucket NAME] [--prune-after-days N]   into the emulator of npm run dev
  --dist defaults to ${FRONTEND_BUILD_DIR} with --env local; --prune-after-days (7) is how long objects a build left out stay`;

export async function main(argv: string[]): Promise<number> {
  const { values } = parseOptions({
    args: argv,
    options: {
      dist: { type: 'string' },
      bucket: { type: 'string' },
      'distribution-id': { type: 'string' },
      'prune-after-days': { type: 'string' },
      region: { type: 'string', default: process.env.AWS_REGION ?? 'eu-west-3' },
      env: { type: 'string' },
    },
  });
  const pruneAfterDays = integerOption('--prune-after-days', values['prune-after-days'], { min: 0, max: 3650 }, 7);
  if (values.env !== undefined) {
    if (values.env !== 'local') throw new UsageError('--env', 'only "local" (the emulator of npm run dev); for AWS give --bucket and --distribution-id');
    return publishLocally(values.dist ?? FRONTEND_BUILD_DIR, values.bucket ?? LOCAL_FRONTEND_BUCKET, pruneAfterDays);
  }
  for (const field of ['dist', 'bucket', 'distribution-id'] as const) {
    if (!values[field]) throw new UsageError(`--${field}`, 'required');
  }
  const s3 = new S3Client({ region: values.region });
  // CloudFront's API lives in us-east-1 whatever the distribution serves.
  const cdn = { cloudfront: new CloudFrontClient({ region: 'us-east-1' }), distributionId: values['distribution-id']! };
  const result = await publish({ s3, cdn, bucket: values.bucket!, distDir: values.dist!, pruneAfterDays });
  return report(result, {});
}

/**
 * The publish's log line, then exit 1 when S3 kept objects it was asked to delete: the build is
 * live and invalidated either way, but the release step must see that the bucket was not pruned.
 */
function report(result: PublishResult, fields: Record<string, unknown>): number {
  log.info('frontend-published', { ...result, ...fields });
  if (result.notPruned.length === 0) return 0;
  log.error('frontend-prune-incomplete', { notPruned: result.notPruned, ...fields });
  return 1;
}

/**
 * `--env local`: the same uploads, with the same headers, into the emulator of `npm run dev`
 * (EMULATOR_PORT), where the local edge reads them with LOCAL_EDGE_SOURCE=bucket. Nothing to
 * invalidate: the local edge caches nothing.
 */
async function publishLocally(distDir: string, bucket: string, pruneAfterDays: number): Promise<number> {
  const endpoint = `http://127.0.0.1:${localEmulatorPort()}`;
  const s3 = emulatorS3Client(endpoint);
  try {
    const result = await publish({ s3, bucket, distDir, pruneAfterDays, cacheControlMetadata: true });
    return report(result, { bucket, endpoint });
  } catch (err) {
    if ((err as { code?: string }).code === 'ECONNREFUSED' || (err as Error).message.includes('ECONNREFUSED')) {
      throw new UsageError('--env', `local: nothing answers at ${endpoint}; start npm run dev first (EMULATOR_PORT names another port)`);
    }
    throw err;
  } finally {
    s3.destroy();
  }
}

if (require.main === module) runCli(() => main(process.argv.slice(2)), { log, usage: USAGE });
