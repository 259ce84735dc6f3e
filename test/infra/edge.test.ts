import { Testing } from 'cdktf';
import { dev, environments, EnvironmentConfig } from '../../stacks/config';
import { EdgeStack } from '../../stacks/edge';
import { MANAGED_POLICY } from '../../modules/edge-behaviour';
import { parsePolicy, resources, synthesizedStack } from '../support/infra-synth';

const envs = Object.values(environments).map((c) => [c.env, c] as const);

function edgeWith(edge: Partial<EnvironmentConfig['edge']>, api?: { domainName: string; stagePath: string }): any {
  const stack = new EdgeStack(Testing.app(), 'probe-edge', { ...dev, edge: { ...dev.edge, ...edge } }, api);
  return JSON.parse(Testing.synth(stack));
}

describe.each(envs)('%s-edge', (_env, config: EnvironmentConfig) => {
  const stack = synthesizedStack(`${config.env}-edge`);
  const [distribution] = resources(stack, 'aws_cloudfront_distribution');
  const d = distribution.config;
  const spaOrigin = d.origin.find((o: any) => o.origin_id === 'spa-bucket');

  test('CloudFront reads the SPA bucket through Origin Access Control', () => {
    const [oac] = resources(stack, 'aws_cloudfront_origin_access_control');
    expect(oac.config).toMatchObject({ origin_access_control_origin_type: 's3', signing_behavior: 'always', signing_protocol: 'sigv4' });
    expect(spaOrigin.origin_access_control_id).toBe(`\${${oac.address}.id}`);
    expect(spaOrigin.s3_origin_config).toBeUndefined();
  });

  test('the SPA bucket policy lets only this distribution read (AWS:SourceArn)', () => {
    const [policy] = resources(stack, 'aws_s3_bucket_policy');
    const allows = parsePolicy(policy.config.policy).Statement.filter((s) => s.Effect === 'Allow');
    expect(allows).toEqual([
      expect.objectContaining({
        Principal: { Service: 'cloudfront.amazonaws.com' },
        Action: 's3:GetObject',
        Condition: { StringEquals: { 'AWS:SourceArn': `\${${distribution.address}.arn}` } },
      }),
    ]);
  });

  test('default root object is index.html and Angular routes fall back to /index.html', () => {
    expect(d.default_root_object).toBe('index.html');
    const [association] = d.default_cache_behavior.function_association;
    expect(association.event_type).toBe('viewer-request');
    const fn = resources(stack, 'aws_cloudfront_function').find((f) => association.function_arn === `\${${f.address}.arn}`)!;
    expect(fn.config.code).toContain("'/index.html'");
    expect(fn.config.publish).toBe(true);
  });

  test('responses carry security headers: HSTS, nosniff, frame DENY, referrer policy, CSP', () => {
    const [policy] = resources(stack, 'aws_cloudfront_response_headers_policy');
    const h = policy.config.security_headers_config;
    expect(h.strict_transport_security.access_control_max_age_sec).toBeGreaterThanOrEqual(31_536_000);
    expect(h.content_type_options.override).toBe(true);
    expect(h.frame_options.frame_option).toBe('DENY');
    expect(h.referrer_policy.referrer_policy).toBe('strict-origin-when-cross-origin');
    expect(h.content_security_policy.content_security_policy).toContain("frame-ancestors 'none'");
    const behaviours = [d.default_cache_behavior, ...(d.ordered_cache_behavior ?? [])];
    behaviours.forEach((b: any) => expect(b.response_headers_policy_id).toBe(`\${${policy.address}.id}`));
  });

  test('viewers only reach the distribution over HTTPS', () => {
    expect(d.default_cache_behavior.viewer_protocol_policy).toBe('redirect-to-https');
    (d.ordered_cache_behavior ?? []).forEach((b: any) => expect(b.viewer_protocol_policy).toBe('https-only'));
  });

  test(`price class comes from config (${config.edge.priceClass})`, () => {
    expect(d.price_class).toBe(config.edge.priceClass);
  });

  test('/api/* goes uncached to the API Gateway with all viewer headers but Host', () => {
    expect(config.edge.apiBehaviour).toBe(true);
    const [api] = d.ordered_cache_behavior;
    expect(api).toMatchObject({
      path_pattern: '/api/*',
      target_origin_id: 'api-gateway',
      cache_policy_id: MANAGED_POLICY.cachingDisabled,
      origin_request_policy_id: MANAGED_POLICY.allViewerExceptHostHeader,
    });
    expect(api.allowed_methods).toEqual(expect.arrayContaining(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']));
    const origin = d.origin.find((o: any) => o.origin_id === 'api-gateway');
    expect(origin.custom_origin_config).toMatchObject({ origin_protocol_policy: 'https-only', origin_ssl_protocols: ['TLSv1.2'] });
    expect(origin.domain_name).toMatch(/cross-stack-output/);
  });

  test('no 403/404 custom error responses that would rewrite API errors into index.html', () => {
    expect(d.custom_error_response).toBeUndefined();
  });
});

describe('edge configuration', () => {
  const api = { domainName: 'abc123.execute-api.eu-west-3.amazonaws.com', stagePath: '/v1' };

  test('the API origin path is the stage and the /api prefix is stripped before it', () => {
    const stack = edgeWith({}, api);
    const [distribution] = resources(stack, 'aws_cloudfront_distribution');
    const origin = distribution.config.origin.find((o: any) => o.origin_id === 'api-gateway');
    expect(origin).toMatchObject({ domain_name: api.domainName, origin_path: '/v1' });
    const strip = resources(stack, 'aws_cloudfront_function').find((f) => f.config.name.endsWith('api-prefix'))!;
    expect(distribution.config.ordered_cache_behavior[0].function_association[0].function_arn).toBe(`\${${strip.address}.arn}`);
  });

  test('without the API behaviour there is no API origin', () => {
    const stack = edgeWith({ apiBehaviour: false });
    const [distribution] = resources(stack, 'aws_cloudfront_distribution');
    expect(distribution.config.origin).toHaveLength(1);
    expect(distribution.config.ordered_cache_behavior).toBeUndefined();
  });

  test('the API behaviour without an API origin is refused naming the field', () => {
    expect(() => edgeWith({ apiBehaviour: true })).toThrow(/edge\.apiBehaviour/);
  });

  test('custom domain names need a certificate, and use it with SNI and TLS 1.2', () => {
    expect(() => edgeWith({ domainNames: ['app.example.com'] }, api)).toThrow(/edge\.certificateArn/);
    const certificateArn = 'arn:aws:acm:us-east-1:123456789012:certificate/abc';
    const stack = edgeWith({ domainNames: ['app.example.com'], certificateArn }, api);
    const [distribution] = resources(stack, 'aws_cloudfront_distribution');
    expect(distribution.config.aliases).toEqual(['app.example.com']);
    expect(distribution.config.viewer_certificate).toMatchObject({ acm_certificate_arn: certificateArn, ssl_support_method: 'sni-only', minimum_protocol_version: 'TLSv1.2_2021' });
  });
});
