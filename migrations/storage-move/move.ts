import type { Client } from 'pg';
import { open } from '../data-move/db';
import { UsageError } from '../../core/cli';
import { onInterrupt, type Interrupt } from '../../core/interrupt';
import { log } from '../data-move/log';
import type { Args } from './args';
import { formOf, loadKeyMap, normalisable, type Alike, type KeyMap } from './keys';
import { commitBatch, describeTarget, ensureState, markUnverified, readState, replacedOutcomes, type Replaced, type State, type Verified } from './state';
import {
  cacheControlFor,
  checkBucket,
  contentTypeFor,
  credentialsFor,
  digestOf,
  lazyS3Client,
  openSource,
  resolveBucket,
  servedFor,
  targetDigest,
  type Served,
  type LazyClient,
  type SourceObject,
  type SourceStore,
} from './storage';
import { objectRequests, type StoreRequests } from './object-requests';
import { PARTS_IN_FLIGHT, uploadObject } from './upload';

export interface Skipped {
  key: string;
  reason: string;
}

export interface Problem {
  sourceKey: string;
  targetKey: string;
  problem: string;
}

/** An object recorded at one key that the key map now gives another (a corrected --map), and what became of that key. */
export interface Remapped {
  sourceKey: string;
  from: Replaced;
  to: { targetKey: string; orderId?: string };
  /** Set once the run's rows are committed (state.ts replacedOutcomes); a dry run has none. */
  outcome?: string;
}

export interface Report {
  source: string;
  bucket: string;
  listed: number;
  copied: number;
  /** Already verified by an earlier run. */
  alreadyDone: number;
  bytes: number;
  seconds: number;
  skipped: Skipped[];
  problems: Problem[];
  remapped: Remapped[];
  verifyOnly: boolean;
  /** Headers `--verify-only` could not compare: the local emulator keeps none of them. */
  notCompared: string[];
  /** Recorded objects `--verify-only` found missing or different, whose rows it marked for the next move to copy again. */
  requeued: number;
  dryRun: boolean;
  /** The signal that stopped the run before the end of the listing (stopOnSignal). */
  interrupted?: NodeJS.Signals;
  /**
   * How each object was checked: the target's SHA-256 (answered to the upload, or kept and given
   * by HeadObject), the MD5 the target computed over what it stored (ETag, per part for multipart;
   * upload.ts), or read back and hashed.
   */
  checkedBy: { checksum: number; md5: number; reread: number };
}

interface Context {
  args: Args;
  source: SourceStore;
  target: LazyClient;
  targetRequests: StoreRequests;
  bucket: string;
  /** The target as progress is keyed (state.ts describeTarget). */
  targetId: string;
  db: Client;
  keyMap: KeyMap | null;
  state: State;
}

/** Runs `fn` over a stream of items with at most `limit` in flight, taking none once `stop` has a signal. */
async function pool<T>(items: AsyncIterable<T> | T[], limit: number, stop: Stop, fn: (item: T) => Promise<void>): Promise<void> {
  const it: AsyncIterator<T> | Iterator<T> = Array.isArray(items) ? items[Symbol.iterator]() : items[Symbol.asyncIterator]();
  let failure: unknown;
  const worker = async () => {
    while (failure === undefined && !stop.signal) {
      let next: IteratorResult<T>;
      try {
        next = await it.next();
      } catch (err) {
        // A listing that fails ends the run once the objects in flight are done (and committed).
        failure ??= err;
        return;
      }
      if (next.done || stop.signal) return;
      try {
        await fn(next.value);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  if (failure !== undefined) throw failure;
}

async function prepare(args: Args): Promise<Context> {
  const source = openSource(args.source, args.maxAttempts);
  const credentials = credentialsFor(args.targetRegion);
  const targetRequests = objectRequests(credentials, { endpoint: args.targetEndpoint, region: args.targetRegion, maxAttempts: args.maxAttempts });
  const target = lazyS3Client({ endpoint: args.targetEndpoint, region: args.targetRegion, credentials, retries: targetRequests.retries });
  const closeStores = () => {
    targetRequests.close();
    source.close();
    target.destroy();
  };
  if (!args.databaseUrl) {
    closeStores();
    throw new UsageError('--database-url', '(or DATABASE_URL) is required: progress is recorded in the target database');
  }
  // The three checks at once (each is a round trip), reported in the order source, target bucket, database.
  const [checked, resolved, opened] = await Promise.allSettled([
    source.check(),
    resolveBucket(target, args.target, args.env, args.targetBucket).then(async (name) => {
      await checkBucket(targetRequests, name, '--target', args.target);
      return name;
    }),
    open(args.databaseUrl, 'target', { applicationName: 'storage-move', option: '--database-url' }),
  ]);
  const bad = [checked, resolved, opened].find((r) => r.status === 'rejected');
  if (bad) {
    if (opened.status === 'fulfilled') await opened.value.end().catch(() => undefined);
    closeStores();
    throw (bad as PromiseRejectedResult).reason;
  }
  const bucket = (resolved as PromiseFulfilledResult<string>).value;
  const db = (opened as PromiseFulfilledResult<Client>).value;
  try {
    if (args.source.kind === 's3' && args.source.bucket === bucket && sameEndpoint(args.source.endpoint, args.targetEndpoint))
      throw new UsageError('--target', `bucket ${bucket} is the source bucket (${source.describe}): the source is never written to; name the platform's bucket`);
    const keyMap = args.target === 'reports' ? await loadKeyMap(db, args.mapFile) : null;
    const targetId = describeTarget(bucket, args.target === 'reports' ? '' : args.targetPrefix, args.targetEndpoint);
    const state = await readState(db, targetId, source.describe);
    return { args, source, target, targetRequests, bucket, targetId, db, keyMap, state };
  } catch (err) {
    await db.end().catch(() => undefined);
    closeStores();
    throw err;
  }
}

/** Two endpoints of the same store: both AWS (bucket names are global there), or the same origin. */
const sameEndpoint = (a: string | undefined, b: string | undefined) => (a === undefined || b === undefined ? a === b : new URL(a).origin === new URL(b).origin);

type Destination = { targetKey: string; orderId?: string; replaced?: Replaced };

/** An object whose key is an order's old key only in another Unicode normalisation: decided once the source is listed (eachObject). */
type Later = { alike: Alike[] };

/** Where a source object goes: the order's new key (reports) or the same key under the prefix (assets). */
function targetFor(ctx: Context, o: SourceObject): Destination | Skipped | Later {
  const done = ctx.state.done.get(o.key);
  // With its order: a copy made again (the source changed) rewrites the row, and a row without
  // its order gives a later move of this source into another target no order for the key.
  const recorded = done && { targetKey: done.target_key, orderId: done.order_id ?? undefined };
  if (!ctx.keyMap) return recorded ?? { targetKey: ctx.args.targetPrefix + o.key };
  const prefix = ctx.args.source.kind === 's3' ? ctx.args.source.prefix : '';
  // The key map decides where a recorded object goes too: a corrected --map that gives it another
  // order was ignored, the object left at the old order's key (another client's document). One the
  // map no longer names stays where it is recorded (a delta pass's --map names only the new objects),
  // as does one whose order a first move re-pointed (orders.document_key no longer holds its old key,
  // nor, when it went into another target, does anything but that move's row).
  const mapped = ctx.keyMap(o.key, prefix + o.key);
  // Unless the map gives its recorded key to another object (the order's right document): kept
  // there, each run's verification found the other's bytes, and the move copied it back over them.
  const holder = !mapped && recorded ? ctx.keyMap.holderOf(recorded.targetKey) : undefined;
  if (holder !== undefined && holder !== o.key && holder !== prefix + o.key)
    return { key: o.key, reason: `recorded at ${recorded!.targetKey}, which the key map now gives ${holder}: not copied again; give it its order in --map, if it has one` };
  const t = mapped ?? recorded ?? (ctx.args.mapFile ? null : ctx.state.moved.get(o.key)) ?? null;
  if (t && 'orderIds' in t) return { key: o.key, reason: `${t.orderIds.length} orders have this old key (${t.orderIds.join(', ')}): not copied, no key changed; give its order in --map` };
  if (!t) {
    const alike = ctx.keyMap.alike(o.key, prefix + o.key);
    if (alike.length) return { alike };
    return { key: o.key, reason: ctx.args.mapFile ? `maps to no order (not in --map ${ctx.args.mapFile}, or its order does not exist)` : 'maps to no order (no orders.document_key equals it)' };
  }
  // A row of an earlier version without its order (same key) is no other order's.
  const moved = recorded && (recorded.targetKey !== t.targetKey || (recorded.orderId !== undefined && recorded.orderId !== t.orderId));
  return moved ? { ...t, replaced: recorded } : t;
}

/**
 * Every source object with its destination, at most --jobs at a time. A key is its bytes: two
 * names that differ only in their Unicode normalisation (é composed, or e and U+0301 as macOS
 * names files) are two objects, and each is matched to an order's old key exactly. One that
 * matches no old key exactly but one in another normalisation (a folder copied through a Mac,
 * the orders keeping the old platform's composed keys) waits for the end of the listing: it goes
 * to that order if it is its only such object and no object of the source holds the order's old
 * key exactly (that one is its document); otherwise it is skipped, naming the orders.
 */
async function eachObject(ctx: Context, report: Report, stop: Stop, fn: (o: SourceObject, to: Destination | Skipped) => Promise<void>): Promise<void> {
  const prefix = ctx.args.source.kind === 's3' ? ctx.args.source.prefix : '';
  const later: { o: SourceObject; alike: Alike[] }[] = [];
  // Orders given an object by a key that can be written two ways (the only ones a later object can contend for).
  const claimed = new Set<string>();
  await pool(ctx.source.list(), ctx.args.jobs, stop, async (o) => {
    report.listed++;
    const to = o.unreadable ? { key: o.key, reason: o.unreadable } : targetFor(ctx, o);
    if ('alike' in to) {
      later.push({ o, alike: to.alike });
      return;
    }
    if (!('reason' in to) && to.orderId && normalisable(prefix + o.key)) claimed.add(to.orderId);
    await fn(o, to);
  });
  await pool(matchAlike(later, claimed), ctx.args.jobs, stop, ({ o, to }) => fn(o, to));
}

/** A key with every character past ASCII as its \u escape: names that look the same are told apart (and can be written so in a --map with printf). */
const spelled = (key: string) => key.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

function matchAlike(later: { o: SourceObject; alike: Alike[] }[], claimed: Set<string>): { o: SourceObject; to: Destination | Skipped }[] {
  const open = (alike: Alike[]) => alike.filter((a) => 'orderIds' in a.target || !claimed.has(a.target.orderId));
  const wanted = new Map<string, string[]>();
  for (const { o, alike } of later) {
    const [only, ...more] = open(alike);
    if (only && !more.length && 'orderId' in only.target) wanted.set(only.target.orderId, [...(wanted.get(only.target.orderId) ?? []), o.key]);
  }
  const named = (alike: Alike[]) => alike.map((a) => `"${spelled(a.oldKey)}" (${formOf(a.oldKey)}, ${'orderId' in a.target ? `order ${a.target.orderId}` : `orders ${a.target.orderIds.join(', ')}`})`).join(', ');
  return later.map(({ o, alike }) => {
    const skipped = (why: string) => ({ o, to: { key: o.key, reason: `its name "${spelled(o.key)}" (${formOf(o.key)}) is no order's old key exactly, only in another Unicode normalisation: ${named(alike)}; ${why}` } });
    const [only, ...more] = open(alike);
    if (!only) return skipped("the source also holds that name exactly, the order's document: not copied (names that differ only in normalisation are two objects)");
    if (more.length || 'orderIds' in only.target) return skipped('which order it is is not known: not copied; give its order in --map');
    const rivals = wanted.get(only.target.orderId)!.filter((k) => k !== o.key);
    if (rivals.length) return skipped(`so is ${rivals.map((k) => `"${spelled(k)}" (${formOf(k)})`).join(', ')}, and which one is the order's document is not known: not copied; give it in --map`);
    log('object_matched_by_normalisation', { key: o.key, oldKey: only.oldKey, orderId: only.target.orderId }, 'warn');
    return { o, to: only.target };
  });
}

function emptyReport(ctx: Context): Report {
  return {
    source: ctx.source.describe,
    bucket: ctx.bucket,
    listed: 0,
    copied: 0,
    alreadyDone: 0,
    bytes: 0,
    seconds: 0,
    skipped: [],
    problems: [],
    remapped: [],
    verifyOnly: ctx.args.verifyOnly,
    notCompared: ctx.args.verifyOnly && ctx.args.env === 'local' ? NOT_KEPT_LOCALLY : [],
    requeued: 0,
    dryRun: ctx.args.dryRun,
    checkedBy: { checksum: 0, md5: 0, reread: 0 },
  };
}

function skip(report: Report, s: Skipped): void {
  report.skipped.push(s);
  log('object_skipped', { key: s.key, reason: s.reason }, 'warn');
}

/** Why an object's request failed: the message names the request (object-requests.ts failure) or the file; an SDK error adds its name. */
function causeOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err.name && err.name !== 'Error' && !err.message.includes(err.name) ? `${err.name}: ${err.message}` : err.message;
}

/**
 * A signal (onInterrupt) stops the run: it takes no more objects, commits at once the ones verified
 * and waiting for their batch, and finishes those in flight, each committed as soon as it is
 * verified. Killed instead, the process took the waiting batch with it: those objects were in the
 * target, unrecorded (and their orders on their old keys), copied again by the next run. What a
 * second signal cuts is unverified, and the next run copies it.
 */
interface Stop {
  readonly signal?: NodeJS.Signals;
  onStop(fn: () => void): void;
}

function stopOnSignal(): Stop & Interrupt {
  const listeners: (() => void)[] = [];
  const interrupt = onInterrupt((signal) => {
    log('move_interrupting', { signal, note: 'no more objects taken; those in flight finish and are recorded; a second signal ends the run at once' }, 'warn');
    for (const fn of listeners) fn();
  });
  return {
    get signal() {
      return interrupt.signal;
    },
    onStop: (fn) => listeners.push(fn),
    off: interrupt.off,
  };
}

const BATCH = 100;
const BATCH_MS = 500;

async function copyAll(ctx: Context, stop: Stop): Promise<Report> {
  const { args } = ctx;
  const report = emptyReport(ctx);
  const started = Date.now();
  // The state table is made while the first objects are copied: only the commits need it, and
  // they wait for it (a failure to make it is theirs, at the first commit).
  const stateReady = args.dryRun ? Promise.resolve() : ensureState(ctx.db);
  stateReady.catch(() => undefined);
  let pending: Verified[] = [];
  let committing = Promise.resolve();
  let lastFlush = Date.now();
  let committed = 0;
  const flush = () => {
    const batch = pending;
    pending = [];
    lastFlush = Date.now();
    committing = committing.then(async () => {
      await stateReady;
      await commitBatch(ctx.db, { id: ctx.targetId, bucket: ctx.bucket }, ctx.source.describe, batch);
      committed += batch.length;
      if (batch.length) log('batch_committed', { objects: batch.length, total: committed });
    });
    return committing;
  };
  // Its failure is the run's, met again by the last flush.
  if (!args.dryRun) stop.onStop(() => void flush().catch(() => undefined));

  const copyOne = async (o: SourceObject, to: Destination): Promise<Verified | null> => {
    const opened = await ctx.source.open(o.key);
    const put = await uploadObject(
      {
        client: ctx.target,
        requests: ctx.targetRequests,
        bucket: ctx.bucket,
        key: to.targetKey,
        contentType: contentTypeFor(to.targetKey, opened.contentType),
        cacheControl: cacheControlFor(args.target, opened.cacheControl),
        objectHeaders: opened.objectHeaders,
        reopen: () => ctx.source.open(o.key),
      },
      opened,
      o.size,
      args.partSizeMb * 1024 * 1024,
      PARTS_IN_FLIGHT,
    );
    if (put.size !== o.size) {
      report.problems.push({ sourceKey: o.key, targetKey: to.targetKey, problem: `source changed while copying: listed ${o.size} bytes, read ${put.size}` });
      return null;
    }
    let how: keyof Report['checkedBy'] | undefined = put.proof ?? undefined;
    let sha256 = put.sha256;
    if (!how) {
      // A streamed object the target's ETag did not prove was not hashed on the way: the source is read again.
      const [src, got] = await Promise.all([sha256 ?? ctx.source.open(o.key).then((x) => digestOf(x.body).then((d) => d.sha256)), targetDigest(ctx.target(), ctx.bucket, to.targetKey)]);
      sha256 = src;
      if (!got || got.size !== put.size || got.sha256 !== sha256) {
        report.problems.push({
          sourceKey: o.key,
          targetKey: to.targetKey,
          problem: got ? `target differs after the copy: ${got.size} bytes sha256 ${got.sha256}, source ${put.size} bytes sha256 ${sha256}` : 'missing in the target after the copy',
        });
        return null;
      }
      how = got.how;
    }
    report.checkedBy[how]++;
    report.copied++;
    report.bytes += put.size;
    return { sourceKey: o.key, targetKey: to.targetKey, size: put.size, sourceVersion: o.version, ...(sha256 !== undefined ? { sha256 } : { md5: put.md5! }), orderId: to.orderId, replaced: to.replaced };
  };

  try {
    await eachObject(ctx, report, stop, async (o, to) => {
      if ('reason' in to) {
        skip(report, to);
        return;
      }
      const done = ctx.state.done.get(o.key);
      // The size alone would miss an object rewritten at the same size; a row without a version
      // (an earlier version of the tool) is copied and verified again.
      if (!to.replaced && done && Number(done.size) === o.size && done.source_version !== null && done.source_version === o.version) {
        report.alreadyDone++;
        return;
      }
      const remapped = to.replaced && { sourceKey: o.key, from: to.replaced, to: { targetKey: to.targetKey, orderId: to.orderId } };
      if (remapped) log('object_remapped', { key: o.key, from: remapped.from.targetKey, to: remapped.to.targetKey }, 'warn');
      if (args.dryRun) {
        if (remapped) report.remapped.push(remapped);
        report.copied++;
        report.bytes += o.size;
        return;
      }
      let verified: Verified | null;
      try {
        verified = await copyOne(o, to);
      } catch (err) {
        // One object the source will not give or the target will not take is this object's
        // failure, not the run's: the others go on, and a rerun tries it again.
        skip(report, { key: o.key, reason: `not copied, its key unchanged: ${causeOf(err)}` });
        return;
      }
      if (!verified) return;
      if (remapped) report.remapped.push(remapped);
      pending.push(verified);
      // A commit that fails is the run's failure (exit 3): it is awaited outside the object's.
      if (stop.signal || pending.length >= BATCH || Date.now() - lastFlush >= BATCH_MS) await flush();
    });
  } finally {
    // Also when the run fails (the listing, a commit): the objects verified so far keep their rows and keys.
    if (!args.dryRun) await flush();
  }
  if (!args.dryRun) await describeRemapped(ctx, report);
  report.interrupted = stop.signal;
  report.seconds = +((Date.now() - started) / 1000).toFixed(2);
  return report;
}

/**
 * What became of each remapped object's old key and order, said in the report: storage:move
 * deletes nothing (its task role may not), so an old key no object is recorded at any more is
 * left for the operator; an order still pointing at it (its key before the move not recorded, by
 * an earlier version of the tool) would serve another order's document, and is a problem (exit 1).
 */
async function describeRemapped(ctx: Context, report: Report): Promise<void> {
  const outcomes = new Map((await replacedOutcomes(ctx.db, ctx.targetId, report.remapped)).map((x) => [x.sourceKey, x]));
  for (const r of report.remapped) {
    const x = outcomes.get(r.sourceKey)!;
    const key = x.keyNowHolds !== undefined ? `${r.from.targetKey} now holds ${x.keyNowHolds}` : `${r.from.targetKey} is left in the bucket with the earlier copy (storage:move deletes nothing): delete it`;
    const order = r.from.orderId === undefined || r.from.orderId === r.to.orderId ? '' : x.orderKeyNow === r.from.targetKey ? (x.keyNowHolds !== undefined ? `; order ${r.from.orderId} keeps it` : '') : `; order ${r.from.orderId} is back on its key before the move, ${JSON.stringify(x.orderKeyNow ?? null)}`;
    r.outcome = key + order;
    if (r.from.orderId !== undefined && r.from.orderId !== r.to.orderId && x.orderKeyNow === r.from.targetKey && x.keyNowHolds === undefined)
      report.problems.push({
        sourceKey: r.sourceKey,
        targetKey: r.from.targetKey,
        problem: `order ${r.from.orderId} still points at this key, which holds the earlier copy of an object now given to ${r.to.orderId ? `order ${r.to.orderId}` : r.to.targetKey}: its key before the move is not recorded (copied by an earlier version of storage:move); set it by hand`,
      });
  }
}

/**
 * The headers fauxqs, the emulator behind `--env local`, does not keep (it answers none of them):
 * against it they cannot be compared, and the report says so.
 */
export const NOT_KEPT_LOCALLY = ['cache-control', 'content-encoding', 'content-disposition', 'content-language'];

/** Each header the move sets that the target answers otherwise (or not at all), as `name source-derived "…", target "…"`. */
function servedDifferences(expected: Served, got: Served, skip: string[]): string[] {
  const names = [...new Set([...Object.keys(expected), ...Object.keys(got)])].filter((n) => !skip.includes(n)).sort();
  const shown = (v: string | undefined) => (v === undefined ? 'none' : JSON.stringify(v));
  return names.filter((n) => expected[n] !== got[n]).map((n) => `${n} ${shown(expected[n])} expected, target ${shown(got[n])}`);
}

async function verifyAll(ctx: Context, stop: Stop): Promise<Report> {
  const report = emptyReport(ctx);
  const started = Date.now();
  // A recorded object is never read again by the move (that is what makes a rerun free): one found
  // missing or different here is marked so the next move copies it again, as its report says;
  // without the mark "rerun the move" skipped it as verified, and the difference stayed.
  const requeue: string[] = [];
  try {
    await verifyEach(ctx, report, requeue, stop);
  } finally {
    await markUnverified(ctx.db, ctx.targetId, ctx.source.describe, requeue);
    report.requeued = requeue.length;
  }
  report.interrupted = stop.signal;
  report.seconds = +((Date.now() - started) / 1000).toFixed(2);
  return report;
}

async function verifyEach(ctx: Context, report: Report, requeue: string[], stop: Stop): Promise<void> {
  await eachObject(ctx, report, stop, async (o, to) => {
    if ('reason' in to) {
      report.skipped.push(to);
      return;
    }
    let src, got;
    let expected: Served = {};
    try {
      [src, got] = await Promise.all([
        ctx.source.open(o.key).then((x) => {
          expected = servedFor(ctx.args.target, to.targetKey, x);
          return digestOf(x.body);
        }),
        targetDigest(ctx.target(), ctx.bucket, to.targetKey),
      ]);
    } catch (err) {
      skip(report, { key: o.key, reason: `not checked: ${causeOf(err)}` });
      return;
    }
    report.bytes += src.size;
    // The headers as the bytes: a stylesheet served as application/octet-stream, or gzip bytes
    // without their Content-Encoding, is not what the browser was given before.
    const differences = !got
      ? ['missing in the target']
      : [
          ...(got.size !== src.size
            ? [`size differs: source ${src.size} bytes, target ${got.size}`]
            : got.sha256 !== src.sha256
              ? [`content differs: sha256 source ${src.sha256}, target ${got.sha256}`]
              : []),
          ...servedDifferences(expected, got.served, report.notCompared),
        ];
    const problem = differences.length ? differences.join('; ') : null;
    if (problem) report.problems.push({ sourceKey: o.key, targetKey: to.targetKey, problem });
    else report.checkedBy[got!.how]++;
    if (problem && ctx.state.done.get(o.key)?.target_key === to.targetKey) requeue.push(o.key);
    if (!problem && !ctx.state.done.has(o.key)) report.problems.push({ sourceKey: o.key, targetKey: to.targetKey, problem: 'in the target but not recorded as verified (run the move)' });
  });
}

export async function run(args: Args): Promise<Report> {
  const ctx = await prepare(args);
  const stop = stopOnSignal();
  try {
    const report = await (args.verifyOnly ? verifyAll(ctx, stop) : copyAll(ctx, stop));
    // Every pass of a move lists the same objects (the source is never written): none is a
    // prefix or folder mistyped (case counts), which ended 'ok', exit 0, with nothing moved.
    if (report.listed === 0 && !report.interrupted)
      throw new UsageError('--source', `${ctx.source.describe} holds no object to move: check the bucket, the prefix or folder (case counts)${args.source.kind === 's3' ? ' and --source-region' : ''}`);
    return report;
  } finally {
    stop.off();
    await ctx.db.end().catch(() => undefined);
    ctx.targetRequests.close();
    ctx.source.close();
    ctx.target.destroy();
  }
}

export function formatReport(r: Report): string {
  const mb = (r.bytes / 1e6).toFixed(1);
  const lines = [
    r.verifyOnly
      ? `storage verify ${r.source} -> ${r.bucket}: ${r.listed} objects listed, ${r.listed - r.skipped.length - r.problems.length} ok, ${r.problems.length} missing or different, ${r.skipped.length} skipped; ${mb} MB in ${r.seconds} s\n` +
        `compared: size, SHA-256, ${['content-type', ...NOT_KEPT_LOCALLY.filter((n) => !r.notCompared.includes(n)), 'x-amz-meta-*'].join(', ')}${r.notCompared.length ? ` (not ${r.notCompared.join(', ')}: the local emulator keeps none)` : ''}`
      : `storage move ${r.source} -> ${r.bucket}${r.dryRun ? ' (dry run: nothing written)' : ''}: ${r.listed} objects listed, ${r.copied} ${r.dryRun ? 'to copy' : 'copied and verified'}, ${r.alreadyDone} already verified, ${r.skipped.length} skipped, ${r.problems.length} failed; ${mb} MB in ${r.seconds} s`,
  ];
  if (r.interrupted)
    lines.push(
      r.verifyOnly
        ? `interrupted by ${r.interrupted}: not every object was checked; run --verify-only again`
        : `interrupted by ${r.interrupted}: ${r.dryRun ? 'not every object was listed' : 'every object copied is recorded, the others are not copied yet'}; run the same command again to go on`,
    );
  if (!r.dryRun)
    lines.push(`verified by: ${r.checkedBy.checksum} SHA-256 checksum of the target, ${r.checkedBy.md5} MD5 computed by the target (ETag, per part), ${r.checkedBy.reread} read back and hashed`);
  if (r.problems.length) {
    lines.push(r.requeued ? `missing or different (the next move copies the ${r.requeued} recorded as verified again):` : 'missing or different:');
    for (const p of [...r.problems].sort((a, b) => (a.sourceKey < b.sourceKey ? -1 : 1))) lines.push(`  ${p.sourceKey} -> ${p.targetKey}: ${p.problem}`);
  }
  if (r.remapped.length) {
    lines.push(r.dryRun ? 'to move to another key (the key map gives them another order or key than recorded):' : 'moved to another key (the key map gives them another order or key than recorded):');
    const order = (id?: string) => (id ? ` (order ${id})` : '');
    for (const m of [...r.remapped].sort((a, b) => (a.sourceKey < b.sourceKey ? -1 : 1)))
      lines.push(`  ${m.sourceKey}: ${m.from.targetKey}${order(m.from.orderId)} -> ${m.to.targetKey}${order(m.to.orderId)}${m.outcome ? `; ${m.outcome}` : ''}`);
  }
  if (r.skipped.length) {
    lines.push('skipped (bad input, not copied, no key changed):');
    for (const s of [...r.skipped].sort((a, b) => (a.key < b.key ? -1 : 1))) lines.push(`  ${s.key}: ${s.reason}`);
  }
  return lines.join('\n');
}

/** 3 for a run stopped by a signal (it did not finish), 1 for a difference, 2 for skipped bad input, else 0. */
export const exitCodeOf = (r: Report): number => (r.interrupted ? 3 : r.problems.length ? 1 : r.skipped.length ? 2 : 0);
