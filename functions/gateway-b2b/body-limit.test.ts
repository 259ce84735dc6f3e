import { LAMBDA_SYNC_PAYLOAD_BYTES, MAX_BATCH_ROWS } from '../../core/contract';
import { toApiGatewayEvent } from '../../core/internal-client';
import { BATCH_BODY_LIMIT } from './app';

/** The Lambda event API Gateway makes of a batch request: the body passed as text, as for text/csv and application/json. */
const eventBytes = (body: string, headers: Record<string, string>) =>
  Buffer.byteLength(JSON.stringify({ ...toApiGatewayEvent({ method: 'POST', path: '/b2b/batches', headers }, 'req-body-limit'), body }));

// API Gateway's 10 KiB of request headers, the most a client can send beside the body.
const fullHeaders = { 'content-type': 'text/csv', 'x-api-key': 'k'.repeat(64), 'x-padding': 'p'.repeat(10 * 1024 - 200) };

test('a batch body at the limit, every byte escaped in the event (quotes, backslashes, line breaks), still fits a Lambda invocation', () => {
  const worst = '"\\\n'.repeat(Math.ceil(BATCH_BODY_LIMIT / 3)).slice(0, BATCH_BODY_LIMIT);
  expect(Buffer.byteLength(worst)).toBe(BATCH_BODY_LIMIT);
  expect(eventBytes(worst, fullHeaders)).toBeLessThanOrEqual(LAMBDA_SYNC_PAYLOAD_BYTES);
});

test(`the limit holds a batch of ${MAX_BATCH_ROWS} rows of a few hundred characters each, quoted CSV or JSON`, () => {
  const row = { product: 'Solar kettle, "Deluxe" edition'.padEnd(200, '.'), audience: 'x'.repeat(200) };
  const json = JSON.stringify({ theme: 'product-sheet', rows: Array.from({ length: MAX_BATCH_ROWS }, () => row) });
  const csv = `product,audience\n${Array.from({ length: MAX_BATCH_ROWS }, () => `"${row.product.replace(/"/g, '""')}","${row.audience}"`).join('\n')}\n`;
  expect(Buffer.byteLength(json)).toBeLessThanOrEqual(BATCH_BODY_LIMIT);
  expect(Buffer.byteLength(csv)).toBeLessThanOrEqual(BATCH_BODY_LIMIT);
});
