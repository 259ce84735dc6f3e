import { environments } from '../../stacks/config';
import { ErrorBody } from '../../functions/shared/public-api';
import { resources, synthesizedStack } from '../support/infra-synth';

/**
 * What API Gateway answers itself, before any function runs: over the stage's throttle (429), a
 * path the API does not route (403 "Missing Authentication Token"), a function past 29 s (504).
 * Its defaults are `{"message": …}` without Retry-After, which is neither the public contract's
 * error body nor a rate limit a client can wait out. The API answers them as the services do.
 */
interface GatewayResponse {
  response_type: string;
  status_code?: string;
  response_templates: Record<string, string>;
  response_parameters?: Record<string, string>;
}

/** The template as API Gateway fills it: `$context.error.messageString` is the message, JSON-quoted. */
const filled = (template: string) => JSON.parse(template.replaceAll('$context.error.messageString', JSON.stringify('Missing Authentication Token')));

describe.each(Object.values(environments).map((c) => [c.env] as const))('%s', (env) => {
  const stack = synthesizedStack(`${env}-compute`);
  const answers = resources(stack, 'aws_api_gateway_gateway_response').map((r) => r.config as GatewayResponse);
  const of = (type: string) => answers.find((a) => a.response_type === type);

  test('over the stage throttle: 429 with Retry-After and the error body (rate_limited)', () => {
    const throttled = of('THROTTLED');
    expect(throttled).toMatchObject({ status_code: '429', response_parameters: { 'gatewayresponse.header.Retry-After': "'1'" } });
    const body = ErrorBody.safeParse(filled(throttled!.response_templates['application/json']));
    expect(body.success && body.data.error.code).toBe('rate_limited');
  });

  test.each(['DEFAULT_4XX', 'DEFAULT_5XX'])('%s answers the error body with API Gateway’s message', (type) => {
    const answer = of(type);
    const body = ErrorBody.safeParse(filled(answer!.response_templates['application/json']));
    expect(body.success && body.data.error.message).toBe('Missing Authentication Token');
  });

  test('a change of these answers redeploys the stage (they take effect only with a deployment)', () => {
    const [deployment] = resources(stack, 'aws_api_gateway_deployment');
    const addresses = resources(stack, 'aws_api_gateway_gateway_response').map((r) => r.address);
    expect(addresses).toHaveLength(3);
    for (const address of addresses) expect(deployment.config.triggers.redeployment).toContain(address);
  });
});
