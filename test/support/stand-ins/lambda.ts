import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';

/**
 * A local stand-in for the part of the Lambda REST API the release script uses
 * (ListVersionsByFunction with paging, GetAlias, UpdateAlias with RevisionId, Invoke of a
 * qualifier), so the real `@aws-sdk/client-lambda` is exercised over HTTP: serialisation, paging,
 * error types. Lambda has no emulator here; the responses follow the API reference shapes.
 * Invoke runs the handler a test gave the version the qualifier resolves to (`setHandler`): the
 * services' own handlers, so what answers is their code.
 */

/** A version's code: the event in, the result out; a throw is Lambda's `Unhandled` function error. */
export type VersionHandler = (event: unknown) => Promise<unknown>;

interface Alias {
  version: string;
  revision: number;
  weights: Record<string, number>;
}

interface Fn {
  versions: string[];
  aliases: Map<string, Alias>;
  /** When each version was published, as ListVersionsByFunction's LastModified; none when not given. */
  published: Record<string, string>;
  handlers: Map<string, VersionHandler>;
}

/** One Invoke as it arrived: what `FunctionName` and `Qualifier` named, the version that ran, the event. */
export interface Invocation {
  functionName: string;
  qualifier?: string;
  version: string;
  event: unknown;
}

export interface LambdaStandIn {
  endpoint: string;
  /** Requests seen, as `METHOD path`. */
  requests: string[];
  addFunction(name: string, versions: number, live?: string, weights?: Record<string, number>, published?: Record<string, Date>): void;
  aliasVersion(name: string, alias?: string): string | undefined;
  aliasWeights(name: string, alias?: string): Record<string, number> | undefined;
  /** The code of one version, run by an Invoke that resolves to it. */
  setHandler(name: string, version: string, handler: VersionHandler): void;
  invocations: Invocation[];
  /** Refuses every Invoke of the function as IAM does (AccessDeniedException, 403). */
  denyInvoke(name: string): void;
  /** Refuses every UpdateAlias of the function as IAM does (AccessDeniedException, 403). */
  denyUpdate(name: string): void;
  /** Simulates someone else moving the alias (bumps its revision). */
  moveBehindTheScenes(name: string, version: string, alias?: string): void;
  close(): Promise<void>;
}

const PAGE = 2; // small pages, so paging is always exercised

function send(res: ServerResponse, status: number, body: unknown, errorType?: string): void {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-amzn-requestid': 'standin' };
  if (errorType) headers['x-amzn-errortype'] = errorType;
  res.writeHead(status, headers).end(JSON.stringify(body));
}

const notFound = (res: ServerResponse, message: string) =>
  send(res, 404, { Type: 'User', Message: message }, 'ResourceNotFoundException');

async function readBody(req: IncomingMessage): Promise<any> {
  let text = '';
  for await (const chunk of req) text += chunk;
  return text ? JSON.parse(text) : {};
}

export async function startLambdaStandIn(): Promise<LambdaStandIn> {
  const functions = new Map<string, Fn>();
  const requests: string[] = [];
  const invocations: Invocation[] = [];
  const denied = new Set<string>();
  const updateDenied = new Set<string>();
  const arn = (name: string, suffix?: string) => `arn:aws:lambda:eu-west-3:123456789012:function:${name}${suffix ? `:${suffix}` : ''}`;
  const aliasBody = (name: string, aliasName: string, alias: Alias) => ({
    AliasArn: arn(name, aliasName),
    Name: aliasName,
    FunctionVersion: alias.version,
    RevisionId: `rev-${alias.revision}`,
    RoutingConfig: Object.keys(alias.weights).length ? { AdditionalVersionWeights: alias.weights } : undefined,
  });

  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://standin');
    const path = decodeURIComponent(url.pathname);
    requests.push(`${req.method} ${path}`);
    const invokeMatch = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(path);
    if (invokeMatch && req.method === 'POST') {
      const target = functions.get(invokeMatch[1]);
      if (denied.has(invokeMatch[1])) {
        const resource = arn(invokeMatch[1], url.searchParams.get('Qualifier') ?? undefined);
        return send(res, 403, { Type: 'User', Message: `User: arn:aws:sts::123456789012:assumed-role/docplatform-github-deploy-dev/GitHubActions is not authorized to perform: lambda:InvokeFunction on resource: ${resource} because no identity-based policy allows the lambda:InvokeFunction action` }, 'AccessDeniedException');
      }
      const qualifier = url.searchParams.get('Qualifier') ?? undefined;
      const version = qualifier === undefined || qualifier === '$LATEST' ? target?.versions.at(-1) : /^\d+$/.test(qualifier) ? qualifier : target?.aliases.get(qualifier)?.version;
      const handler = version === undefined ? undefined : target?.handlers.get(version);
      if (!target || version === undefined || !target.versions.includes(version)) return notFound(res, `Function not found: ${arn(invokeMatch[1], qualifier)}`);
      let text = '';
      for await (const chunk of req) text += chunk;
      // Recorded as sent: the handler gets its own copy (serverless-http rewrites the event it is given).
      invocations.push({ functionName: invokeMatch[1], qualifier, version, event: JSON.parse(text) });
      const event = JSON.parse(text);
      const headers = { 'content-type': 'application/json', 'x-amzn-requestid': 'standin', 'x-amz-executed-version': version };
      if (!handler) {
        return res.writeHead(200, { ...headers, 'x-amz-function-error': 'Unhandled' }).end(JSON.stringify({ errorType: 'Runtime.HandlerNotFound', errorMessage: 'no code for this version' }));
      }
      let result: unknown;
      try {
        result = await handler(event);
      } catch (error) {
        return res.writeHead(200, { ...headers, 'x-amz-function-error': 'Unhandled' }).end(JSON.stringify({ errorType: (error as Error).name, errorMessage: (error as Error).message }));
      }
      return res.writeHead(200, headers).end(JSON.stringify(result));
    }
    const versionsMatch = /^\/2015-03-31\/functions\/([^/]+)\/versions$/.exec(path);
    const aliasMatch = /^\/2015-03-31\/functions\/([^/]+)\/aliases\/([^/]+)$/.exec(path);
    const fn = functions.get((versionsMatch ?? aliasMatch)?.[1] ?? '');
    const name = (versionsMatch ?? aliasMatch)?.[1] ?? '';

    if (versionsMatch && req.method === 'GET') {
      if (!fn) return notFound(res, `Function not found: ${arn(name)}`);
      const all = ['$LATEST', ...fn.versions];
      const start = Number(url.searchParams.get('Marker') ?? 0);
      const size = Math.min(Number(url.searchParams.get('MaxItems') ?? 50), PAGE);
      const page = all.slice(start, start + size);
      const next = start + size < all.length ? String(start + size) : undefined;
      return send(res, 200, {
        // Lambda's own timestamp form, e.g. 2026-12-01T10:00:00.000+0000.
        Versions: page.map((v) => ({ FunctionName: name, FunctionArn: arn(name, v), Version: v, ...(fn.published[v] ? { LastModified: fn.published[v] } : {}) })),
        NextMarker: next,
      });
    }
    if (aliasMatch) {
      const alias = fn?.aliases.get(aliasMatch[2]);
      if (!fn || !alias) return notFound(res, `Alias not found: ${arn(name, aliasMatch[2])}`);
      if (req.method === 'GET') return send(res, 200, aliasBody(name, aliasMatch[2], alias));
      if (req.method === 'PUT') {
        const body = await readBody(req);
        if (updateDenied.has(name)) {
          return send(res, 403, { Type: 'User', Message: `User: arn:aws:sts::123456789012:assumed-role/docplatform-github-deploy-dev/GitHubActions is not authorized to perform: lambda:UpdateAlias on resource: ${arn(name, aliasMatch[2])} because no identity-based policy allows the lambda:UpdateAlias action` }, 'AccessDeniedException');
        }
        if (body.RevisionId && body.RevisionId !== `rev-${alias.revision}`) {
          return send(res, 412, { Type: 'User', message: 'The RevisionId provided does not match the latest RevisionId for the Lambda function or alias.' }, 'PreconditionFailedException');
        }
        if (body.FunctionVersion && !fn.versions.includes(body.FunctionVersion)) {
          return notFound(res, `Function not found: ${arn(name, body.FunctionVersion)}`);
        }
        if (body.FunctionVersion) alias.version = body.FunctionVersion;
        if (body.RoutingConfig) alias.weights = body.RoutingConfig.AdditionalVersionWeights ?? {};
        alias.revision += 1;
        return send(res, 200, aliasBody(name, aliasMatch[2], alias));
      }
    }
    send(res, 400, { message: `stand-in does not serve ${req.method} ${path}` }, 'InvalidRequestContentException');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    addFunction(name, versions, live = String(versions), weights = {}, published = {}) {
      const list = Array.from({ length: versions }, (_, i) => String(i + 1));
      const dates = Object.fromEntries(Object.entries(published).map(([v, d]) => [v, d.toISOString().replace('Z', '+0000')]));
      functions.set(name, { versions: list, aliases: new Map([['live', { version: live, revision: 1, weights }]]), published: dates, handlers: new Map() });
    },
    setHandler: (name, version, handler) => void functions.get(name)!.handlers.set(version, handler),
    invocations,
    denyInvoke: (name) => void denied.add(name),
    denyUpdate: (name) => void updateDenied.add(name),
    aliasVersion: (name, alias = 'live') => functions.get(name)?.aliases.get(alias)?.version,
    aliasWeights: (name, alias = 'live') => functions.get(name)?.aliases.get(alias)?.weights,
    moveBehindTheScenes(name, version, alias = 'live') {
      const a = functions.get(name)!.aliases.get(alias)!;
      a.version = version;
      a.revision += 1;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
