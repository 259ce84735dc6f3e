import { validate, compileErrors } from '@readme/openapi-parser';
import * as z from '../../core/zod';
import { B2B_ROUTES, B2B_SCHEMAS } from '../../functions/gateway-b2b/routes';
import { B2C_ROUTES, B2C_SCHEMAS } from '../../functions/gateway-b2c/routes';
import { ErrorBody, Health, HEALTH_ROUTE, OrderAnswer, PublicOrder, PublicRoute, PublicTheme, TimedLink } from '../../functions/shared/public-api';

/**
 * The OpenAPI 3.1 document of the public API, built from the route registries of the gateways
 * (functions/gateway-b2c/routes.ts, functions/gateway-b2b/routes.ts) and their zod schemas with
 * zod's own JSON Schema conversion: requests as the schemas read them (`io: input`), answers
 * as the routes produce them (`io: output`, no member beyond those named).
 */
export const OPENAPI_PATH = 'docs/api/openapi.json';

/** Every route the API forwards (stacks/compute.ts): `/health` goes to gateway-b2c. */
export const PUBLIC_ROUTES: PublicRoute[] = [...B2C_ROUTES, ...B2B_ROUTES, HEALTH_ROUTE];

/** The schemas named once in the document, shared by several routes. */
const SHARED: Record<string, z.ZodMiniType> = { Error: ErrorBody, Order: PublicOrder, OrderAnswer, Theme: PublicTheme, Link: TimedLink, Health, ...B2C_SCHEMAS, ...B2B_SCHEMAS };

type Json = Record<string, unknown>;

const REF = (id: string) => `#/components/schemas/${id}`;
const pascal = (s: string) => s[0].toUpperCase() + s.slice(1);
/** `/b2c/orders/:id` → `/b2c/orders/{id}`. */
export const openApiPath = (koaPath: string): string => koaPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

/** A schema inline, without the `$schema` a JSON Schema document carries (OpenAPI 3.1 sets the dialect). */
function inline(schema: z.ZodMiniType, io: 'input' | 'output'): Json {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io, target: 'draft-2020-12' }) as Json;
  return rest;
}

const SECURITY_SCHEMES = {
  apiKey: { type: 'apiKey', in: 'header', name: 'x-api-key', description: 'A B2B client’s API key' },
  apiKeyBearer: { type: 'http', scheme: 'bearer', description: 'The same API key as `Authorization: Bearer <key>`' },
  orderToken: { type: 'apiKey', in: 'query', name: 'token', description: 'The order’s access token, given once by createOrder (`accessToken`)' },
  stripeSignature: { type: 'apiKey', in: 'header', name: 'stripe-signature', description: 'Stripe’s signature of the raw body' },
};
const SECURITY: Record<NonNullable<PublicRoute['auth']>, Json[]> = {
  apiKey: [{ apiKey: [] }, { apiKeyBearer: [] }],
  orderToken: [{ orderToken: [] }],
  stripeSignature: [{ stripeSignature: [] }],
};

const HEADERS = {
  RequestId: { description: 'The request id, in every log line of the request', schema: { type: 'string' } },
  RetryAfter: { description: 'Seconds to wait before a retry', schema: { type: 'string' } },
};
const REQUEST_ID = { $ref: '#/components/headers/RequestId' };
const RETRY_AFTER = { $ref: '#/components/headers/RetryAfter' };

function errorResponse(description: string, status: number | 'default'): Json {
  const retry = status === 503 || status === 429;
  return {
    description,
    headers: { 'x-request-id': REQUEST_ID, ...(retry ? { 'retry-after': RETRY_AFTER } : {}) },
    content: { 'application/json': { schema: { $ref: REF('Error') } } },
  };
}

export function buildOpenApiDocument(): Json {
  // Named schemas: the shared ones, then each route's bodies under its operation's name.
  const requests = z.registry<{ id: string }>();
  const responses = z.registry<{ id: string }>();
  for (const [id, schema] of Object.entries(SHARED)) responses.add(schema, { id });
  const named = (registry: typeof requests, schema: z.ZodMiniType, id: string): string => {
    if (!registry.has(schema)) registry.add(schema, { id });
    return registry.get(schema)!.id;
  };

  const paths: Record<string, Record<string, Json>> = {};
  for (const route of PUBLIC_ROUTES) {
    const parameters: Json[] = [];
    for (const [name, schema] of Object.entries(route.pathParams ?? {})) {
      parameters.push({ name, in: 'path', required: true, schema: inline(schema, 'input') });
    }
    if (route.query) {
      const query = inline(route.query, 'input') as { properties?: Record<string, Json>; required?: string[] };
      for (const [name, schema] of Object.entries(query.properties ?? {})) {
        parameters.push({ name, in: 'query', required: (query.required ?? []).includes(name), schema });
      }
    }
    for (const [name, header] of Object.entries(route.headers ?? {})) {
      parameters.push({ name, in: 'header', required: header.required, description: header.description, schema: inline(header.schema, 'input') });
    }

    const operation: Json = {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      tags: route.tags,
      ...(route.auth ? { security: SECURITY[route.auth] } : {}),
      ...(parameters.length > 0 ? { parameters } : {}),
    };
    if (route.body) {
      const content: Json = {};
      for (const [type, schema] of Object.entries(route.body.content)) {
        content[type] = { schema: type === 'application/json' ? { $ref: REF(named(requests, schema, `${pascal(route.operationId)}Request`)) } : inline(schema, 'input') };
      }
      operation.requestBody = { required: route.body.required, description: `At most ${route.body.limitBytes} bytes (413 past it).`, content };
    }
    const answers: Json = {};
    for (const [status, response] of Object.entries(route.responses)) {
      const headers = { 'x-request-id': REQUEST_ID, ...Object.fromEntries(Object.entries(response.headers ?? {}).map(([name, h]) => [name, { description: h.description, schema: inline(h.schema, 'output') }])) };
      answers[status] = {
        description: response.description,
        headers,
        ...(response.body ? { content: { 'application/json': { schema: { $ref: REF(named(responses, response.body, `${pascal(route.operationId)}Response`)) } } } } : {}),
      };
    }
    for (const [status, description] of Object.entries(route.errors)) answers[status] = errorResponse(description, Number(status));
    answers.default = errorResponse('Any other error (405 wrong method, 429 over the API throttle or the per-address rate limit and 503, both with Retry-After, 500), always with the error body', 'default');
    operation.responses = answers;
    (paths[openApiPath(route.path)] ??= {})[route.method.toLowerCase()] = operation;
  }

  const schemas: Record<string, Json> = {};
  for (const [registry, io] of [[requests, 'input'], [responses, 'output']] as const) {
    const converted = z.toJSONSchema(registry, { io, target: 'draft-2020-12', uri: REF }) as { schemas: Record<string, Json> };
    for (const [id, schema] of Object.entries(converted.schemas)) {
      const { $schema: _dialect, $id: _id, ...rest } = schema;
      schemas[id] = rest;
    }
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'docplatform public API',
      version: '1',
      description:
        'Documents written on a theme: B2C orders paid through Stripe Checkout and read with their access token; B2B batches authenticated by API key. ' +
        'Generated by `npm run openapi` from the zod schemas the gateways validate with. Every error answers `{error: {code, message, fields?}}`, each bad field named.',
    },
    servers: [{ url: '/api', description: 'The front end’s own origin: CloudFront in AWS, the local edge of `npm run dev` (which strips /api)' }],
    tags: [
      { name: 'b2c', description: 'Consumers: themes, orders, documents' },
      { name: 'b2b', description: 'Business clients: batches by API key' },
      { name: 'health', description: 'Liveness' },
    ],
    paths,
    components: { schemas: Object.fromEntries(Object.entries(schemas).sort(([a], [b]) => a.localeCompare(b))), headers: HEADERS, securitySchemes: SECURITY_SCHEMES },
  };
}

/** The document as written: 2-space JSON with a final newline. */
export const openApiText = (): string => `${JSON.stringify(buildOpenApiDocument(), null, 2)}\n`;

/** The validator's verdict on a document (@readme/openapi-parser: the OpenAPI 3.1 schema and the spec's rules beyond it). */
export async function validateOpenApi(document: Json): Promise<{ valid: boolean; report: string }> {
  const result = await validate(structuredClone(document) as never);
  return { valid: result.valid, report: result.valid ? 'valid' : compileErrors(result) };
}
