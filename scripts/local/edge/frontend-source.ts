import { UsageError } from '../../../core/cli';
import { emulatorS3Client } from '../emulator';
import { EDGE_SOURCES, EdgeSourceKind, LOCAL_EDGE_SOURCE_VAR, LOCAL_FRONTEND_BUCKET } from '../defaults';
import { FRONTEND_BUILD_DIR } from '../frontend';
import type { FrontendSource } from './server';

/** The source LOCAL_EDGE_SOURCE names (folder when unset); any other value is refused, naming the variable. */
export function edgeSourceKind(value = process.env[LOCAL_EDGE_SOURCE_VAR]): EdgeSourceKind {
  const kind = value || 'folder';
  if (!(EDGE_SOURCES as readonly string[]).includes(kind)) throw new UsageError(LOCAL_EDGE_SOURCE_VAR, `must be one of ${EDGE_SOURCES.join(', ')} (got "${kind}")`);
  return kind as EdgeSourceKind;
}

/** The front end the local edge serves: the build folder, or the local bucket of the emulator at `emulatorEndpoint`. */
export function frontendSource(kind: EdgeSourceKind, emulatorEndpoint: string, dir = FRONTEND_BUILD_DIR): FrontendSource {
  return kind === 'folder' ? { kind, dir } : { kind, bucket: LOCAL_FRONTEND_BUCKET, s3: emulatorS3Client(emulatorEndpoint) };
}
