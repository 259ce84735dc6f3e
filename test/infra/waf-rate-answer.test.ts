import { environments } from '../../stacks/config';
import { RATE_RULE } from '../../modules/web-acl';
import { ErrorBody } from '../../functions/shared/public-api';
import { resources, synthesizedStack } from '../support/infra-synth';

/**
 * What a client over the API's per-address rate limit reads: the WAF's rate rule answers before
 * any service, so its answer is the only one that can tell the client to slow down. WAF's default
 * block is a 403 `{"message":"Forbidden"}` (API Gateway's), the answer to a request the managed
 * rules refused: a client cannot tell it may retry, nor when. The rule answers as the services
 * do for a rate limit: 429, Retry-After, the error body of the public contract.
 */
describe.each(Object.values(environments).map((c) => [c.env] as const))('%s', (env) => {
  const [acl] = resources(synthesizedStack(`${env}-compute`), 'aws_wafv2_web_acl');
  const rate = (acl.config.rule as { name: string; action: any }[]).find((r) => r.name === RATE_RULE)!;

  test('the rate rule answers 429 with Retry-After (its 5-minute window), not a bare 403', () => {
    const response = rate.action.block?.custom_response;
    expect(response).toMatchObject({ response_code: 429, response_header: [{ name: 'retry-after', value: '300' }] });
  });

  test('its body is the public contract’s error body, as JSON', () => {
    const key = rate.action.block.custom_response.custom_response_body_key;
    const body = (acl.config.custom_response_body as { key: string; content: string; content_type: string }[]).find((b) => b.key === key)!;
    expect(body.content_type).toBe('APPLICATION_JSON');
    const parsed = ErrorBody.safeParse(JSON.parse(body.content));
    expect(parsed.success && parsed.data.error.code).toBe('rate_limited');
  });
});
