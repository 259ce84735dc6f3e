import { createContext, Script } from 'node:vm';

/**
 * Executes a CloudFront Function's source as the cloudfront-js-2.0 runtime does, so that the
 * local edge runs the code the edge stack deploys rather than a copy of what it means: the
 * source is evaluated in a context of its own (no require, no process, no timers: the
 * runtime has none), `handler(event)` is called with a viewer-request event of the runtime's
 * shape, and its result is the request to forward or a response to answer with.
 *
 * The runtime's one module import, `import cf from 'cloudfront'`, gives `cf.kvs()`, the
 * function's KeyValueStore; here a local store (a map) stands in. node:vm runs scripts, not
 * modules (that needs --experimental-vm-modules), so that import statement, and only it, is
 * bound to the local module before the script runs; any other import is refused.
 */
export interface CfValue {
  value: string;
  multiValue?: { value: string }[];
}

export interface CfRequest {
  method: string;
  uri: string;
  querystring: Record<string, CfValue>;
  headers: Record<string, CfValue>;
  cookies: Record<string, CfValue>;
}

export interface CfResponse {
  statusCode: number;
  statusDescription?: string;
  headers?: Record<string, CfValue>;
  body?: string | { encoding: 'text' | 'base64'; data: string };
}

export interface ViewerRequestEvent {
  version: '1.0';
  context: { distributionDomainName: string; distributionId: string; eventType: 'viewer-request'; requestId: string };
  viewer: { ip: string };
  request: CfRequest;
}

export type FunctionResult = { request: CfRequest } | { response: CfResponse };

export type CloudFrontFunction = (event: ViewerRequestEvent) => Promise<FunctionResult>;

/** The function's KeyValueStore: `get` fails for a missing key, as the runtime's does. */
export function keyValueStore(entries: Record<string, string>) {
  const store = new Map(Object.entries(entries));
  return {
    get: async (key: string) => {
      if (!store.has(key)) throw new Error(`KeyValueStore: key not found: ${key}`);
      return store.get(key)!;
    },
    exists: async (key: string) => store.has(key),
    meta: async () => ({ creationDateTime: new Date(0).toISOString(), lastUpdatedDateTime: new Date(0).toISOString(), keyCount: store.size }),
  };
}

const CLOUDFRONT_IMPORT = /^\s*import\s+([A-Za-z_$][\w$]*)\s+from\s+['"]cloudfront['"];?\s*$/;
const ANY_IMPORT = /^\s*import\s/;

export function loadCloudFrontFunction(name: string, code: string, kvs: Record<string, string> = {}): CloudFrontFunction {
  const lines = code.split('\n').map((line) => {
    const cloudfront = CLOUDFRONT_IMPORT.exec(line);
    if (cloudfront) return `var ${cloudfront[1]} = __cloudfrontModule;`;
    if (ANY_IMPORT.test(line)) throw new Error(`${name}: only the cloudfront module can be imported, not: ${line.trim()}`);
    return line;
  });
  const context = createContext({ __cloudfrontModule: Object.freeze({ kvs: () => keyValueStore(kvs) }) }, { codeGeneration: { strings: false, wasm: false } });
  const script = new Script(`${lines.join('\n')}\n;handler`, { filename: `${name}.js` });
  const handler = script.runInContext(context) as (event: ViewerRequestEvent) => unknown;
  if (typeof handler !== 'function') throw new Error(`${name}: the code defines no handler function`);
  return async (event) => {
    const result = (await handler(event)) as (CfRequest & CfResponse) | undefined;
    if (!result || typeof result !== 'object') throw new Error(`${name}: handler returned neither a request nor a response`);
    return 'statusCode' in result ? { response: result } : { request: result };
  };
}
