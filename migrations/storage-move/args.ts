import { resolve } from 'node:path';
import { BUCKETS, ENV, type BucketName } from '../../core/contract';
import { integerOption, parseOptions, UsageError } from '../../core/cli';
import { checkPostgresUrl } from '../postgres-url';
import { PARTS_IN_FLIGHT } from './upload';
import { MAX_ATTEMPTS } from './object-requests';

/**
 * The object bytes a run may hold: the migration task's 4 GiB (stacks/config.ts
 * migrationTask.memoryMb) less Node's own heap, the sockets' read buffers and the listing.
 */
export const MEMORY_BUDGET_MB = 3072;

export type Source = { kind: 's3'; bucket: string; prefix: string; endpoint?: string; region: string } | { kind: 'file'; dir: string };

export interface Args {
  source: Source;
  target: BucketName;
  env: string;
  /** Explicit target bucket; otherwise derived from --env (see bucket.ts). */
  targetBucket?: string;
  targetEndpoint?: string;
  targetRegion: string;
  /** Assets: keys kept as they are under this prefix. */
  targetPrefix: string;
  databaseUrl?: string;
  mapFile?: string;
  jobs: number;
  verifyOnly: boolean;
  dryRun: boolean;
  /** Objects at or above this size go up in parts (upload.ts). */
  partSizeMb: number;
  /** Attempts of each request to either store (object-requests.ts storeRetries). */
  maxAttempts: number;
}

export const USAGE = `usage: npm run storage:move -- --source <s3://bucket/prefix | file:///dir> --target <reports|assets> --env <env|local> [options]

options:
  --source URL               old storage: s3://bucket/prefix (any S3-compatible endpoint; the prefix is a folder,
                             s3://b/docs means docs/) or file:///dir
  --source-endpoint URL      S3 endpoint of the source (e.g. https://s3.fr-par.scw.cloud); default AWS
  --source-region R          region of the source (default eu-west-3)
  --target reports|assets    the platform bucket to fill
  --env ENV|local            environment whose bucket is the target (local: the emulator's "reports"/"assets")
  --target-bucket NAME       the target bucket by name instead of by --env
  --target-endpoint URL      S3 endpoint of the target (default AWS; required with --env local: the emulator's)
  --target-region R          default eu-west-3
  --target-prefix P          assets: the folder the kept keys go under (legacy = legacy/; default none)
  --database-url URL         the migrated database (reports: old keys come from orders.document_key;
                             progress is recorded there in _storage_move.objects); default DATABASE_URL
  --map FILE                 CSV old_key,order_id instead of orders.document_key
  --jobs N                   objects in flight (1-64, default 16)
  --part-size-mb N           multipart threshold and part size (5-512, default 8); --jobs x 5 parts of
                             this size are held at worst, at most ${MEMORY_BUDGET_MB} MiB
  --max-attempts N           tries of each request throttled (SlowDown, 503, 429), timed out or dropped, with
                             the AWS SDK's backoff (1-20, default ${MAX_ATTEMPTS}: up to 71 s of waiting when throttled)
  --verify-only              re-check every object (size + SHA-256 on both sides, and the headers the move sets:
                             Content-Type, Cache-Control, Content-Encoding/-Disposition/-Language, x-amz-meta-*);
                             exit 1 naming differences, which the next move copies again
  --dry-run                  list what would be copied; write nothing

credentials: the SDK's chain for the target (AWS_*); the source takes SOURCE_AWS_ACCESS_KEY_ID /
SOURCE_AWS_SECRET_ACCESS_KEY when set, both (e.g. a Scaleway key; one alone is refused), else the same chain.

exit codes: 0 ok, 1 verification mismatch, 2 bad input (endpoint, credentials, bucket, unmapped key, an object
the source or the target refused: skipped, named with the cause), 3 unexpected error (a failed listing or commit) or
interrupted (SIGINT, SIGTERM: the objects in flight finish and every one copied is recorded; a second signal ends it at once)`;

function url(name: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(value);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
  } catch {
    // Text before an @ may be a key: it is not repeated.
    throw new UsageError(`--${name}`, `must be an http(s):// URL${value.includes('@') ? '' : `, got "${value}"`}`);
  }
  // The endpoint is part of the move's name: in the report, the log lines and every progress row.
  // A key in it would be kept there, and it signs nothing (the keys come from the environment).
  if (u.username || u.password)
    throw new UsageError(`--${name}`, `must not hold a key (user:secret@): the old storage's key is ${ENV.storageSourceAccessKeyId}/${ENV.storageSourceSecretAccessKey}, the target's the SDK's chain (AWS_*)`);
  // One spelling per store (the host's case, a trailing slash, :443): progress is keyed by it, and
  // a delta pass spelled otherwise was another move, copying everything again, a reports one
  // finding no order for any document (the first pass had taken their old keys off the orders).
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
}

export function parseSource(value: string | undefined, endpoint: string | undefined, region: string): Source {
  if (!value) throw new UsageError('--source', 'is required (s3://bucket/prefix or file:///dir)');
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new UsageError('--source', `is not a URL: expected s3://bucket/prefix or file:///dir, got "${value}"`);
  }
  // A URL ends its path at # or ?: s3://old/docs#2020/ would move all of docs/, file:///srv/a#b all of /srv/a.
  if (/[#?]/.test(value)) throw new UsageError('--source', `${value}: a # or ? ends a URL's path; in a folder name write them %23 and %3F`);
  const decoded = (path: string) => {
    try {
      return decodeURIComponent(path);
    } catch {
      throw new UsageError('--source', `${value}: a % starts an escape (%20 is a space); a % in a folder name is %25`);
    }
  };
  if (u.protocol === 'file:') {
    const path = decoded(u.pathname);
    // file://srv/old/assets reads srv as a host and would move /old/assets.
    if (u.hostname && u.hostname !== 'localhost') throw new UsageError('--source', `${value} names the host ${u.hostname}: a folder is file:///${u.hostname}${path} (three slashes, then its absolute path)`);
    if (path.length <= 1) throw new UsageError('--source', 'file:/// names no directory');
    // One spelling per folder (no trailing or doubled slash), as for the endpoints (url above).
    return { kind: 'file', dir: resolve(path) };
  }
  if (u.protocol === 's3:') {
    if (!u.hostname) throw new UsageError('--source', 's3:// names no bucket');
    const path = decoded(u.pathname.replace(/^\//, ''));
    // A folder: without its slash, s3://old/docs would also list docs-archive/… and give every key a leading '/'.
    const prefix = path && !path.endsWith('/') ? `${path}/` : path;
    return { kind: 's3', bucket: u.hostname, prefix, endpoint, region };
  }
  throw new UsageError('--source', `must start with s3:// or file://, got "${value}"`);
}

export function parse(argv: string[]): Args | 'help' {
  const parsed = parseOptions({
    args: argv,
    allowPositionals: false,
    options: {
      source: { type: 'string' },
      'source-endpoint': { type: 'string' },
      'source-region': { type: 'string' },
      target: { type: 'string' },
      env: { type: 'string' },
      'target-bucket': { type: 'string' },
      'target-endpoint': { type: 'string' },
      'target-region': { type: 'string' },
      'target-prefix': { type: 'string' },
      'database-url': { type: 'string' },
      map: { type: 'string' },
      jobs: { type: 'string' },
      'part-size-mb': { type: 'string' },
      'max-attempts': { type: 'string' },
      'verify-only': { type: 'boolean' },
      'dry-run': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const v = parsed.values;
  if (v.help) return 'help';
  const target = v.target;
  if (!target || !(target in BUCKETS)) throw new UsageError('--target', `must be one of ${Object.keys(BUCKETS).join(', ')}, got "${target ?? ''}"`);
  // Each shapes one kind of key only: given for the other, it would be ignored without a word.
  if (target === 'reports' && v['target-prefix'] !== undefined) throw new UsageError('--target-prefix', 'applies to --target assets only: a document goes under its order\'s key (<clientId>/<orderId>.<format>)');
  if (target === 'assets' && v.map !== undefined) throw new UsageError('--map', 'applies to --target reports only: assets keep their keys (under --target-prefix)');
  if (!v.env || !/^[a-z0-9-]{1,20}$/.test(v.env)) throw new UsageError('--env', `is required: an environment of stacks/config.ts or local, got "${v.env ?? ''}"`);
  // One of the pair alone would send the source the target's credentials (the SDK's chain) and fail
  // as 'credentials rejected' naming --source, not the variable that is missing.
  const [keyId, secret] = [ENV.storageSourceAccessKeyId, ENV.storageSourceSecretAccessKey];
  if (Boolean(process.env[keyId]) !== Boolean(process.env[secret])) {
    const [missing, given] = process.env[keyId] ? [secret, keyId] : [keyId, secret];
    throw new UsageError(missing, `is required with ${given} (the old storage's key pair): set both, or neither for the SDK's credentials chain`);
  }
  const databaseUrl = v['database-url'] ?? process.env.DATABASE_URL;
  if (databaseUrl) checkPostgresUrl(v['database-url'] ? '--database-url' : 'DATABASE_URL', databaseUrl);
  if (target === 'reports' && !databaseUrl) throw new UsageError('--database-url', '(or DATABASE_URL) is required for --target reports: the orders give the new keys');
  // A folder, as the source prefix is: without its slash, legacy gave legacylogo.png; and no
  // platform key starts with a slash (S3 would keep it: /legacy/logo.png is another key).
  const prefix = v['target-prefix'] ?? '';
  if (prefix.startsWith('/')) throw new UsageError('--target-prefix', `must not start with / (got "${prefix}"): keys have no leading slash, e.g. legacy/`);
  const targetEndpoint = url('target-endpoint', v['target-endpoint']);
  // The emulator's buckets have the plain names (resolveBucket): on AWS, 'reports' and 'assets' are other accounts' buckets.
  if (v.env === 'local' && !targetEndpoint) throw new UsageError('--target-endpoint', "is required with --env local: the emulator's endpoint (npm run dev's, on EMULATOR_PORT)");
  const region = v['source-region'] ?? 'eu-west-3';
  const jobs = integerOption('--jobs', v.jobs, { min: 1, max: 64 }, 16);
  const partSizeMb = integerOption('--part-size-mb', v['part-size-mb'], { min: 5, max: 512 }, 8);
  const maxAttempts = integerOption('--max-attempts', v['max-attempts'], { min: 1, max: 20 }, MAX_ATTEMPTS);
  // Each object in flight holds up to its parts in flight and the one being read (upload.ts).
  const heldMb = jobs * (PARTS_IN_FLIGHT + 1) * partSizeMb;
  if (heldMb > MEMORY_BUDGET_MB)
    throw new UsageError('--part-size-mb', `${partSizeMb} with --jobs ${jobs} holds up to ${jobs} x ${PARTS_IN_FLIGHT + 1} parts = ${heldMb} MiB, over ${MEMORY_BUDGET_MB} MiB: lower one of them`);
  return {
    source: parseSource(v.source, url('source-endpoint', v['source-endpoint']), region),
    target: target as BucketName,
    env: v.env,
    targetBucket: v['target-bucket'],
    targetEndpoint,
    targetRegion: v['target-region'] ?? 'eu-west-3',
    targetPrefix: prefix && !prefix.endsWith('/') ? `${prefix}/` : prefix,
    databaseUrl,
    mapFile: v.map,
    jobs,
    partSizeMb,
    maxAttempts,
    verifyOnly: v['verify-only'] ?? false,
    dryRun: v['dry-run'] ?? false,
  };
}
