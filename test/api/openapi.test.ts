import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Koa from 'koa';
import type Router from '@koa/router';
import { createApp as gatewayB2b } from '../../functions/gateway-b2b/app';
import { createApp as gatewayB2c } from '../../functions/gateway-b2c/app';
import { B2B_ROUTES } from '../../functions/gateway-b2b/routes';
import { B2C_ROUTES } from '../../functions/gateway-b2c/routes';
import { HEALTH_ROUTE, PublicRoute } from '../../functions/shared/public-api';
import type { ServiceRuntime } from '../../functions/shared/service-runtime';
import { createLogger } from '../../core/logger';
import { apiRouteOf } from '../../modules/api-routes';
import { buildOpenApiDocument, OPENAPI_PATH, openApiPath, openApiText, validateOpenApi } from '../../scripts/openapi/document';
import { contractViolations } from '../support/openapi-contract';

/**
 * The published contract (docs/api/openapi.json): valid OpenAPI 3.1 by @readme/openapi-parser,
 * the file committed is the one `npm run openapi` writes, and it names exactly the routes the
 * gateways' routers answer.
 */
const ROOT = join(__dirname, '..', '..');

describe('the OpenAPI document', () => {
  test('is valid OpenAPI 3.1 (schema and the spec rules the validator adds)', async () => {
    const document = buildOpenApiDocument();
    expect(document.openapi).toBe('3.1.0');
    expect(await validateOpenApi(document)).toEqual({ valid: true, report: 'valid' });
  });

  test('the validator refuses a document that breaks a rule (a path parameter it does not declare)', async () => {
    const document = buildOpenApiDocument() as { paths: Record<string, Record<string, { parameters: unknown[] }>> };
    document.paths['/b2c/orders/{id}'].get.parameters = [];
    const verdict = await validateOpenApi(document);
    expect(verdict.valid).toBe(false);
    expect(verdict.report).toMatch(/id/);
  });

  test(`${OPENAPI_PATH} is what npm run openapi writes (run it after changing a route or a schema)`, () => {
    expect(readFileSync(join(ROOT, OPENAPI_PATH), 'utf8')).toBe(openApiText());
  });
});

/** The routes a Koa app's router answers, `METHOD /path` (HEAD is Koa's echo of GET). */
function routesOf(app: Koa<any>): string[] {
  const router = app.middleware.map((m) => (m as { router?: Router }).router).find(Boolean)!;
  return router.stack.flatMap((layer) => layer.methods.filter((m) => m !== 'HEAD').map((m) => `${m} ${layer.path}`)).sort();
}
const registered = (routes: PublicRoute[]) => routes.map((r) => `${r.method} ${r.path}`).sort();

describe('the routers and the document name the same routes', () => {
  // Introspection only: building the apps reads one setting and calls nothing.
  const runtime = { config: { themeCacheTtlSeconds: 60 }, logger: createLogger({}, 'error') } as unknown as ServiceRuntime<'internal' | 'storage'>;
  const health = `${HEALTH_ROUTE.method} ${HEALTH_ROUTE.path}`;

  test.each([
    ['gateway-b2c', gatewayB2c, B2C_ROUTES],
    ['gateway-b2b', gatewayB2b, B2B_ROUTES],
  ] as const)('%s: its router and its registry', (_name, createApp, routes) => {
    expect(routesOf(createApp(runtime))).toEqual([...registered(routes), health].sort());
  });

  test('the REST API sends each registered route to the gateway that answers it', () => {
    const reached = (routes: PublicRoute[]) => routes.map((r) => [`${r.method} ${r.path}`, apiRouteOf(r.method, r.path.replace(/:\w+/g, 'x'))]);
    expect(reached(B2C_ROUTES)).toEqual(B2C_ROUTES.map((r) => [`${r.method} ${r.path}`, 'gateway-b2c']));
    expect(reached(B2B_ROUTES)).toEqual(B2B_ROUTES.map((r) => [`${r.method} ${r.path}`, 'gateway-b2b']));
    expect(reached([HEALTH_ROUTE])).toEqual([['GET /health', 'gateway-b2c']]);
  });

  test('the document holds every registered route and nothing else', () => {
    const document = buildOpenApiDocument() as { paths: Record<string, Record<string, unknown>> };
    const inDocument = Object.entries(document.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)).sort();
    const expected = [...B2C_ROUTES, ...B2B_ROUTES, HEALTH_ROUTE].map((r) => `${r.method} ${openApiPath(r.path)}`).sort();
    expect(inDocument).toEqual(expected);
  });
});

describe('the response check of the gateway tests (test/support/openapi-contract.ts)', () => {
  const json = (status: number, body: unknown, headers: Record<string, string> = {}) => ({
    status,
    headers: new Headers({ 'content-type': 'application/json; charset=utf-8', 'x-request-id': 'r', ...headers }),
    text: JSON.stringify(body),
    json: body,
  });
  const theme = { id: '6f1c2b4e-8a3d-4c5e-9f10-1a2b3c4d5e6f', slug: 'product-sheet', title: 'Product sheet', outputFormat: 'pdf', priceCents: 900, currency: 'eur', fields: ['product'], active: true };

  test('accepts an answer the contract describes', () => {
    expect(contractViolations('GET', '/b2c/themes', json(200, { themes: [theme] }))).toEqual([]);
    expect(contractViolations('GET', '/b2c/orders/6f1c2b4e-8a3d-4c5e-9f10-1a2b3c4d5e6f?token=x', json(404, { error: { code: 'not_found', message: 'no' } }))).toEqual([]);
  });

  test('names a member the contract does not have, a wrong type, a missing header, a non-JSON error', () => {
    expect(contractViolations('GET', '/b2c/themes', json(200, { themes: [{ ...theme, promptTemplate: 'x' }] }))).toEqual([
      expect.stringMatching(/additional properties.*promptTemplate/),
    ]);
    expect(contractViolations('GET', '/b2c/themes', json(200, { themes: [{ ...theme, priceCents: '9' }] }))).toEqual([expect.stringMatching(/priceCents must be number/)]);
    expect(contractViolations('POST', '/b2c/orders', json(503, { error: { code: 'service_unavailable', message: 'x' } }))).toEqual([expect.stringMatching(/header retry-after missing/)]);
    const html = { status: 404, headers: new Headers({ 'content-type': 'text/html', 'x-request-id': 'r' }), text: '<html>', json: undefined };
    expect(contractViolations('GET', '/b2b/batches/6f1c2b4e-8a3d-4c5e-9f10-1a2b3c4d5e6f', html)).toEqual([expect.stringMatching(/a JSON body was expected/)]);
  });
});
