import { http, startTestPlatform, TestPlatform } from '../support/functions-platform';

/**
 * Edges of the public gateways found by probing the running services: each test is a request a
 * client can send that got a 500 (or an answer that said more than it should) before its fix.
 */
let p: TestPlatform;
let b2b: string;

beforeAll(async () => {
  p = await startTestPlatform('fn_gateway_edges');
  b2b = p.urls['gateway-b2b'];
});
afterAll(() => p.teardown());

const UUID = '6f1c2b4e-8a3d-4c5e-9f10-1a2b3c4d5e6f';

describe('gateway-b2b', () => {
  // The router matches paths case-insensitively; the API key check looked for a lower-case '/b2b/'.
  test.each([
    ['GET', `/B2B/batches/${UUID}`],
    ['GET', `/B2b/orders/${UUID}`],
    ['POST', '/B2B/batches'],
  ])('%s %s without an API key is a 401, like its lower-case path', async (method, path) => {
    const res = await http(b2b, path, { method, ...(method === 'POST' ? { json: { theme: 'product-sheet', rows: [{ product: 'kettle' }] } } : {}) });
    expect({ status: res.status, body: res.json }).toEqual({ status: 401, body: { error: { code: 'unauthorized', message: expect.any(String) } } });
  });
});
