import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseOptions, runCli } from '../../core/cli';
import { createLogger, stdoutSink } from '../../core/logger';
import { buildOpenApiDocument, OPENAPI_PATH, openApiText, validateOpenApi } from './document';

/**
 * `npm run openapi`: writes the public API's contract to docs/api/openapi.json, after the
 * validator accepted it. The file is committed: the front end generates its client from it, and
 * test/api/openapi.test.ts fails while it differs from what this writes.
 */
const log = createLogger({}, 'info', stdoutSink);

const USAGE = `usage: npm run openapi   writes ${OPENAPI_PATH} from the gateways' routes, once the validator accepts it`;

async function main(): Promise<number> {
  parseOptions({ args: process.argv.slice(2), options: {} });
  const verdict = await validateOpenApi(buildOpenApiDocument());
  if (!verdict.valid) {
    log.error('openapi-invalid', { report: verdict.report });
    return 1;
  }
  writeFileSync(join(__dirname, '..', '..', OPENAPI_PATH), openApiText());
  log.info('openapi-written', { path: OPENAPI_PATH });
  return 0;
}

runCli(main, { log, usage: USAGE });
