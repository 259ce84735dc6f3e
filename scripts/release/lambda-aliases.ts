import {
  GetAliasCommand,
  LambdaClient,
  ListVersionsByFunctionCommand,
  ListVersionsByFunctionCommandOutput,
  UpdateAliasCommand,
} from '@aws-sdk/client-lambda';
import { UsageError } from '../../core/cli';
import { LIVE_ALIAS } from '../../core/contract';

/**
 * Rollback of Lambda services by moving their `live` alias between published versions. API
 * Gateway and internal callers reach a function only through that alias, so moving it is the
 * whole rollback: no rebuild, no Terraform run, effective on the next invocation.
 */

export interface AliasPosition {
  functionName: string;
  alias: string;
  version: string;
  /** Lets a later move fail instead of overwriting a move made in between. */
  revisionId?: string;
}

export interface AliasMove {
  functionName: string;
  alias: string;
  from: string;
  to: string;
}

/** The numbered versions of a function, oldest first (`$LATEST` is not a release), with when each was published when Lambda says. */
async function listVersions(client: LambdaClient, functionName: string): Promise<{ version: string; publishedAt?: number }[]> {
  const versions: { version: string; publishedAt?: number }[] = [];
  let marker: string | undefined;
  do {
    const page: ListVersionsByFunctionCommandOutput = await client.send(
      new ListVersionsByFunctionCommand({ FunctionName: functionName, Marker: marker, MaxItems: 50 }),
    );
    for (const v of page.Versions ?? []) {
      if (!v.Version || !/^\d+$/.test(v.Version)) continue;
      const at = v.LastModified ? Date.parse(v.LastModified) : NaN;
      versions.push({ version: v.Version, ...(Number.isFinite(at) ? { publishedAt: at } : {}) });
    }
    marker = page.NextMarker;
  } while (marker);
  return versions.sort((a, b) => Number(a.version) - Number(b.version));
}

export async function publishedVersions(client: LambdaClient, functionName: string): Promise<string[]> {
  return (await listVersions(client, functionName)).map((v) => v.version);
}

/**
 * One compute deploy publishes the versions of the functions it changed within minutes of each
 * other; two deploys of an environment are further apart than this (they never overlap, and each
 * runs its other layers, images and migrations between its compute applies).
 */
export const RELEASE_WINDOW_MS = 10 * 60_000;

export interface LastRelease {
  /** The functions whose live version came with the newest release among them: what `previous` undoes. */
  inRelease: string[];
  /** The others: their live version is older than that release, which did not change them. */
  left: { functionName: string; version: string; publishedAt: string; release: string }[];
}

/**
 * Which of these functions the last release changed. A release publishes a version only for the
 * functions whose code or settings changed, so the version before an unchanged function's live
 * one belongs to an older release still: rolling it back too would put code older than the
 * release being undone beside the rest. A function whose versions carry no date counts as changed.
 */
export async function lastRelease(client: LambdaClient, functionNames: string[]): Promise<LastRelease> {
  const live = await Promise.all(
    functionNames.map(async (functionName) => {
      const { version } = await aliasPosition(client, functionName);
      const publishedAt = (await listVersions(client, functionName)).find((v) => v.version === version)?.publishedAt;
      return { functionName, version, publishedAt };
    }),
  );
  const dated = live.filter((l): l is typeof l & { publishedAt: number } => l.publishedAt !== undefined);
  if (dated.length === 0) return { inRelease: functionNames, left: [] };
  const release = Math.max(...dated.map((l) => l.publishedAt));
  const older = dated.filter((l) => l.publishedAt < release - RELEASE_WINDOW_MS);
  const unchanged = new Set(older.map((l) => l.functionName));
  return {
    inRelease: functionNames.filter((name) => !unchanged.has(name)),
    left: older.map((l) => ({ functionName: l.functionName, version: l.version, publishedAt: new Date(l.publishedAt).toISOString(), release: new Date(release).toISOString() })),
  };
}

export async function aliasPosition(client: LambdaClient, functionName: string, alias = LIVE_ALIAS): Promise<AliasPosition> {
  const out = await client.send(new GetAliasCommand({ FunctionName: functionName, Name: alias }));
  if (!out.FunctionVersion) throw new Error(`alias ${alias} of ${functionName} points at no version`);
  return { functionName, alias, version: out.FunctionVersion, revisionId: out.RevisionId };
}

/** The newest published version older than `current`; undefined when `current` is the first. */
export function previousVersion(versions: string[], current: string): string | undefined {
  const older = versions.filter((v) => Number(v) < Number(current));
  return older.length ? older[older.length - 1] : undefined;
}

export type Target = 'previous' | string;

export function parseTarget(value: string | undefined): Target {
  if (value === undefined || value === '' || value === 'previous') return 'previous';
  if (!/^\d+$/.test(value)) throw new UsageError('--to', `must be "previous" or a version number, got "${value}"`);
  return value;
}

/** Where the alias should go: the previous version, or an explicit version that exists. */
export async function resolveTarget(client: LambdaClient, position: AliasPosition, target: Target): Promise<string> {
  const versions = await publishedVersions(client, position.functionName);
  if (target === 'previous') {
    const previous = previousVersion(versions, position.version);
    if (!previous) throw new Error(`${position.functionName}: no published version before ${position.version} to roll back to`);
    return previous;
  }
  if (!versions.includes(target)) {
    throw new Error(`${position.functionName}: version ${target} is not published (have ${versions.join(', ') || 'none'})`);
  }
  return target;
}

/**
 * Points the alias at `version` with all traffic (any weighted routing is cleared). With the
 * revision id of the position read earlier, a concurrent move makes this fail, not win silently.
 */
export async function moveAlias(client: LambdaClient, position: AliasPosition, version: string): Promise<AliasMove> {
  await client.send(
    new UpdateAliasCommand({
      FunctionName: position.functionName,
      Name: position.alias,
      FunctionVersion: version,
      RevisionId: position.revisionId,
      RoutingConfig: { AdditionalVersionWeights: {} },
    }),
  );
  return { functionName: position.functionName, alias: position.alias, from: position.version, to: version };
}

/** An alias the run meant to move and could not (a concurrent move, a throttle, a denied UpdateAlias); `from` is unknown when it could not be read. */
export interface AliasNotMoved {
  functionName: string;
  alias: string;
  from?: string;
  to: string;
  error: string;
}

/** What a rollback or a restore did: the aliases moved and those it could not move. */
export interface AliasMoves {
  moves: AliasMove[];
  failed: AliasNotMoved[];
}

const reasonOf = (err: unknown): string => `${(err as Error).name}: ${(err as Error).message}`;

/**
 * Moves each alias to its version, the others still when one fails: stopping there would leave
 * the rest where they were and say nothing of those already moved.
 */
async function moveEach(client: LambdaClient, plans: { position: AliasPosition; version: string }[]): Promise<AliasMoves> {
  const result: AliasMoves = { moves: [], failed: [] };
  for (const { position, version } of plans) {
    if (position.version === version) continue;
    try {
      result.moves.push(await moveAlias(client, position, version));
    } catch (err) {
      result.failed.push({ functionName: position.functionName, alias: position.alias, from: position.version, to: version, error: reasonOf(err) });
    }
  }
  return result;
}

export async function rollback(client: LambdaClient, functionNames: string[], target: Target, alias = LIVE_ALIAS): Promise<AliasMoves> {
  // Resolve every target before moving anything, so a bad function name moves nothing.
  const plans = await Promise.all(
    functionNames.map(async (name) => {
      const position = await aliasPosition(client, name, alias);
      return { position, version: await resolveTarget(client, position, target) };
    }),
  );
  return moveEach(client, plans);
}

/** The record a deploy takes before it changes anything, to restore if it fails. */
export interface AliasSnapshot {
  takenAt: string;
  positions: AliasPosition[];
}

export async function snapshot(client: LambdaClient, functionNames: string[], alias = LIVE_ALIAS): Promise<AliasSnapshot> {
  const positions = await Promise.all(functionNames.map((name) => aliasPosition(client, name, alias).catch(absentAsUndefined)));
  return { takenAt: new Date().toISOString(), positions: positions.filter((p): p is AliasPosition => p !== undefined) };
}

/** A function created by this deploy has nothing to go back to. */
function absentAsUndefined(error: unknown): undefined {
  if ((error as { name?: string }).name === 'ResourceNotFoundException') return undefined;
  throw error;
}

/** Moves every alias of the snapshot back to its recorded version; those already there are left alone, one that cannot be read or moved is reported and the others still go back. */
export async function restore(client: LambdaClient, recorded: AliasSnapshot): Promise<AliasMoves> {
  const plans: { position: AliasPosition; version: string }[] = [];
  const unread: AliasNotMoved[] = [];
  for (const before of recorded.positions) {
    try {
      plans.push({ position: await aliasPosition(client, before.functionName, before.alias), version: before.version });
    } catch (err) {
      // Not logged in: the person's to fix (exit 2), not a function to report.
      if ((err as Error).name === 'CredentialsProviderError') throw err;
      unread.push({ functionName: before.functionName, alias: before.alias, to: before.version, error: reasonOf(err) });
    }
  }
  const result = await moveEach(client, plans);
  return { moves: result.moves, failed: [...unread, ...result.failed] };
}

export function parseSnapshot(text: string, source: string): AliasSnapshot {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UsageError('--file', `${source}: not JSON`);
  }
  const positions = (value as AliasSnapshot)?.positions;
  if (!Array.isArray(positions)) throw new UsageError('--file', `${source}: field "positions" must be an array`);
  positions.forEach((p, i) => {
    if (typeof p?.functionName !== 'string' || typeof p?.alias !== 'string' || !/^\d+$/.test(String(p?.version))) {
      throw new UsageError('--file', `${source}: positions[${i}] needs functionName, alias and a numeric version`);
    }
  });
  return value as AliasSnapshot;
}
