import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vm from 'node:vm';
import { Testing } from 'cdktf';
import { dev, environments, EnvironmentConfig } from '../../stacks/config';
import { EDGE_HEADERS, ORIGIN_SECRET_KEY } from '../../core/contract';
import { EdgeStack } from '../../stacks/edge';
import { MANAGED_RULE_GROUPS, ORIGIN_RULE, RATE_RULE, REDACTED_HEADERS, RegionalWebAcl } from '../../modules/web-acl';
import { dataSources, resources, stackNames, synthesizedStack } from '../support/infra-synth';
import { AWS_PROVIDER_VERSION, describeRun, terraform } from '../support/infra-terraform';

/**
 * The API is reachable through CloudFront only, and its WAF sees the client: on the synthesised
 * JSON, the API's web ACL refuses first whatever lacks the origin secret (a call straight to the
 * execute-api host), its rate rule counts the viewer address the edge writes, and the edge
 * function writes both headers over anything a client sends, the secret coming from a key value
 * store whose value no Terraform configuration (hence no state) holds.
 */

interface Request {
  uriPath: string;
  headers: Record<string, string>;
}

/** WAF's evaluation of the statements the origin rule uses; anything else is not modelled here. */
function matches(statement: any, request: Request, patternSets: Record<string, string[]>): boolean {
  if (statement.not_statement) return !matches(statement.not_statement.statement, request, patternSets);
  if (statement.size_constraint_statement) {
    const s = statement.size_constraint_statement;
    if (!s.field_to_match.uri_path || s.comparison_operator !== 'GE') throw new Error(`size constraint not modelled: ${JSON.stringify(s)}`);
    return Buffer.byteLength(request.uriPath) >= s.size;
  }
  if (statement.regex_pattern_set_reference_statement) {
    const s = statement.regex_pattern_set_reference_statement;
    const value = request.headers[s.field_to_match.single_header.name.toLowerCase()];
    if (value === undefined) return false;
    const set = patternSets[s.arn];
    if (!set) throw new Error(`no pattern set ${s.arn} in the test`);
    return set.some((pattern) => new RegExp(pattern).test(value));
  }
  throw new Error(`statement not modelled: ${Object.keys(statement).join(', ')}`);
}

const byPriority = (acl: any): any[] => [...acl.rule].sort((a, b) => a.priority - b.priority);

/** What the first rule does with a request: BLOCK, or let it on to the managed groups and the rate rule. */
function originVerdict(acl: any, request: Request, patternSets: Record<string, string[]> = {}): 'BLOCK' | 'NEXT' {
  const [first] = byPriority(acl);
  expect(first.name).toBe(ORIGIN_RULE);
  return matches(first.statement, request, patternSets) ? (Object.keys(first.action)[0].toUpperCase() as 'BLOCK') : 'NEXT';
}

const direct = (headers: Record<string, string> = {}): Request => ({ uriPath: '/v1/b2c/themes', headers: { host: 'abc123.execute-api.eu-west-3.amazonaws.com', ...headers } });

/** The edge function of the synthesised JSON, run as CloudFront would, with a stand-in key value store. */
function edgeFunction(code: string, store: Record<string, string>) {
  const importLine = "import cf from 'cloudfront';";
  expect(code.startsWith(importLine)).toBe(true);
  const kvs = { get: async (key: string) => (key in store ? store[key] : Promise.reject(new Error(`The key ${key} was not found`))) };
  const handler = vm.runInNewContext(`${code.slice(importLine.length)}\nhandler`, { cf: { kvs: () => kvs } });
  return (uri: string, viewerIp: string, headers: Record<string, string> = {}) =>
    handler({
      viewer: { ip: viewerIp },
      request: { method: 'GET', uri, querystring: {}, cookies: {}, headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, { value: v }])) },
    }) as Promise<{ uri: string; headers: Record<string, { value: string }> }>;
}

const envs = Object.values(environments).map((c) => [c.env, c] as const);

describe.each(envs)('%s', (env, config: EnvironmentConfig) => {
  const compute = synthesizedStack(`${env}-compute`);
  const edge = synthesizedStack(`${env}-edge`);
  const [acl] = resources(compute, 'aws_wafv2_web_acl');

  test('the first rule of the API’s web ACL is the origin rule, and it blocks', () => {
    const [first, ...rest] = byPriority(acl.config);
    expect(first).toMatchObject({ name: ORIGIN_RULE, priority: 0, action: { block: {} } });
    expect(rest.every((r) => r.priority > first.priority)).toBe(true);
  });

  const arn = config.api.originVerifyPatternSetArn;
  test(
    arn
      ? 'a request straight to the execute-api host is refused: without the origin secret, or with a guess'
      : 'with no origin-secret pattern set configured the API is closed: every request is refused, with or without a header',
    () => {
      expect(originVerdict(acl.config, direct(), arn ? { [arn]: ['^probe$'] } : {})).toBe('BLOCK');
      expect(originVerdict(acl.config, direct({ [EDGE_HEADERS.originVerify]: 'guess' }), arn ? { [arn]: ['^probe$'] } : {})).toBe('BLOCK');
      if (!arn) expect(originVerdict(acl.config, direct({ [EDGE_HEADERS.originVerify]: 'anything' }))).toBe('BLOCK');
    },
  );

  test('the rate rule counts the client address the edge wrote (forwarded IP), never the connection’s (a CloudFront edge)', () => {
    const rules = byPriority(acl.config);
    const rate = rules.find((r) => r.name === RATE_RULE);
    expect(rate.statement.rate_based_statement).toEqual({
      limit: config.api.wafRateLimitPer5Min,
      aggregate_key_type: 'FORWARDED_IP',
      forwarded_ip_config: { header_name: EDGE_HEADERS.clientIp, fallback_behavior: 'MATCH' },
      evaluation_window_sec: 300,
    });
    expect(Object.keys(rate.action)).toEqual(['block']);
    expect(rules[rules.length - 1].name).toBe(RATE_RULE);
    // No rule reads the connection address: no IP-keyed rate rule, no IP set without forwarded IP, no IP reputation group.
    const json = JSON.stringify(acl.config.rule);
    expect(json).not.toMatch(/"aggregate_key_type":"IP"/);
    expect(json).not.toMatch(/ip_set_reference_statement(?![^}]*ip_set_forwarded_ip_config)/);
    expect(json).not.toContain('AWSManagedRulesAmazonIpReputationList');
    expect(rules.filter((r) => r.statement.managed_rule_group_statement).map((r) => r.name)).toEqual([...MANAGED_RULE_GROUPS]);
  });

  test('every /api/* request goes through the function that writes both headers, with the key value store associated', () => {
    const [store] = resources(edge, 'aws_cloudfront_key_value_store');
    const functions = resources(edge, 'aws_cloudfront_function');
    const [distribution] = resources(edge, 'aws_cloudfront_distribution');
    const [api] = distribution.config.ordered_cache_behavior;
    expect(api.path_pattern).toBe('/api/*');
    const fn = functions.find((f) => api.function_association[0].function_arn === `\${${f.address}.arn}`)!;
    expect(api.function_association).toEqual([{ event_type: 'viewer-request', function_arn: `\${${fn.address}.arn}` }]);
    expect(fn.config.key_value_store_associations).toEqual([`\${${store.address}.arn}`]);
    expect(fn.config.runtime).toBe('cloudfront-js-2.0');
    // The SPA's function has no access to the store: the secret is never added to a request for the bucket.
    for (const other of functions.filter((f) => f.address !== fn.address)) expect(other.config.key_value_store_associations).toBeUndefined();
  });

  test('the edge writes the viewer address and the secret over what the client sent, and drops a client’s secret when the store has none', async () => {
    const fn = resources(edge, 'aws_cloudfront_function').find((f) => f.config.key_value_store_associations)!;
    const withSecret = edgeFunction(fn.config.code, { [ORIGIN_SECRET_KEY]: 'the-secret' });
    const forged = { [EDGE_HEADERS.clientIp]: '198.51.100.66', [EDGE_HEADERS.originVerify]: 'guess', 'x-forwarded-for': '192.0.2.1' };
    const out = await withSecret('/api/b2c/themes', '203.0.113.7', forged);
    expect(out.uri).toBe('/b2c/themes');
    expect(out.headers[EDGE_HEADERS.clientIp]).toEqual({ value: '203.0.113.7' });
    expect(out.headers[EDGE_HEADERS.originVerify]).toEqual({ value: 'the-secret' });
    expect((await withSecret('/api/b2b/api/x', '2001:db8::7')).uri).toBe('/b2b/api/x');

    const empty = edgeFunction(fn.config.code, {});
    const closed = await empty('/api/b2c/themes', '203.0.113.7', forged);
    expect(closed.headers[EDGE_HEADERS.originVerify]).toBeUndefined();
    expect(closed.headers[EDGE_HEADERS.clientIp]).toEqual({ value: '203.0.113.7' });
  });

  test(`blocked requests, and only those, are logged when api.wafBlockedRequestLogs (${config.api.wafBlockedRequestLogs ? 'on' : 'off'}), without the secret, keys or query string`, () => {
    const logging = resources(compute, 'aws_wafv2_web_acl_logging_configuration');
    const wafGroups = resources(compute, 'aws_cloudwatch_log_group').filter((g) => String(g.config.name).startsWith('aws-waf-logs-'));
    if (!config.api.wafBlockedRequestLogs) {
      expect(logging).toEqual([]);
      expect(wafGroups).toEqual([]);
      return;
    }
    expect(logging).toHaveLength(1);
    const [log] = logging;
    const [group] = wafGroups;
    expect(group.config).toMatchObject({ name: `aws-waf-logs-docplatform-${env}-api`, retention_in_days: config.logs.retentionDays });
    expect(log.config.resource_arn).toBe(`\${${acl.address}.arn}`);
    expect(log.config.log_destination_configs).toEqual([`\${${group.address}.arn}`]);
    expect(log.config.logging_filter).toEqual({
      default_behavior: 'DROP',
      filter: [{ behavior: 'KEEP', requirement: 'MEETS_ANY', condition: [{ action_condition: { action: 'BLOCK' } }] }],
    });
    const redacted = log.config.redacted_fields;
    expect(redacted.filter((f: any) => f.single_header).map((f: any) => f.single_header.name).sort()).toEqual([...REDACTED_HEADERS, EDGE_HEADERS.originVerify].filter((v, i, a) => a.indexOf(v) === i).sort());
    expect(redacted).toContainEqual({ query_string: {} });
  });

  test('the origin secret is in no Terraform configuration, hence in no plan or state', () => {
    for (const name of stackNames()) {
      for (const type of ['aws_cloudfrontkeyvaluestore_key', 'aws_cloudfrontkeyvaluestore_keys_exclusive', 'aws_wafv2_regex_pattern_set', 'aws_secretsmanager_secret_version']) {
        expect({ stack: name, type, resources: resources(name, type).length }).toEqual({ stack: name, type, resources: 0 });
      }
      expect({ stack: name, data: dataSources(name, 'aws_wafv2_regex_pattern_set').length }).toEqual({ stack: name, data: 0 });
    }
    const [distribution] = resources(edge, 'aws_cloudfront_distribution');
    for (const origin of distribution.config.origin) expect(origin.custom_header).toBeUndefined();
    const fn = resources(edge, 'aws_cloudfront_function').find((f) => f.config.key_value_store_associations)!;
    expect(fn.config.code).toContain(`await kvs.get('${ORIGIN_SECRET_KEY}')`);
  });
});

describe('with the origin-secret pattern set configured (api.originVerifyPatternSetArn)', () => {
  const arn = 'arn:aws:wafv2:eu-west-3:123456789012:regional/regexpatternset/docplatform-dev-origin-verify/0a1b2c3d';
  const secret = 'c0ffee'.repeat(10);
  const synth = () =>
    JSON.parse(
      Testing.synthScope((scope) => {
        new RegionalWebAcl(scope, 'waf', {
          name: 'docplatform-dev-api',
          rateLimitPer5Min: dev.api.wafRateLimitPer5Min,
          resourceArn: 'arn:aws:apigateway:eu-west-3::/restapis/abc123/stages/v1',
          clientIpHeader: EDGE_HEADERS.clientIp,
          originVerify: { headerName: EDGE_HEADERS.originVerify, patternSetArn: arn },
        });
      }),
    );

  test('only a request carrying the secret gets past the first rule: none, a guess, or a longer value is blocked', () => {
    const acl = Object.values<any>(synth().resource.aws_wafv2_web_acl)[0];
    const sets = { [arn]: [`^${secret}$`] };
    expect(originVerdict(acl, direct(), sets)).toBe('BLOCK');
    expect(originVerdict(acl, direct({ [EDGE_HEADERS.originVerify]: 'guess' }), sets)).toBe('BLOCK');
    expect(originVerdict(acl, direct({ [EDGE_HEADERS.originVerify]: `${secret}x` }), sets)).toBe('BLOCK');
    expect(originVerdict(acl, direct({ [EDGE_HEADERS.originVerify]: secret }), sets)).toBe('NEXT');
    expect(acl.rule[0].statement.not_statement.statement.regex_pattern_set_reference_statement).toMatchObject({
      arn,
      field_to_match: { single_header: { name: EDGE_HEADERS.originVerify } },
    });
  });

  test('terraform validate accepts that web ACL', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'origin-acl-'));
    try {
      const stack = {
        terraform: { required_providers: { aws: { source: 'hashicorp/aws', version: AWS_PROVIDER_VERSION } } },
        provider: { aws: [{ region: 'eu-west-3' }] },
        resource: synth().resource,
      };
      fs.writeFileSync(path.join(dir, 'main.tf.json'), JSON.stringify(stack));
      const init = await terraform(dir, ['init', '-input=false']);
      expect(init.code === 0 ? 'ok' : describeRun(init)).toBe('ok');
      const validate = await terraform(dir, ['validate']);
      expect(validate.code === 0 ? 'ok' : describeRun(validate)).toBe('ok');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('without the API behaviour', () => {
  test('the edge has no key value store and no function reads one', () => {
    const stack = JSON.parse(Testing.synth(new EdgeStack(Testing.app(), 'probe-edge', { ...dev, edge: { ...dev.edge, apiBehaviour: false } })));
    expect(resources(stack, 'aws_cloudfront_key_value_store')).toEqual([]);
    for (const fn of resources(stack, 'aws_cloudfront_function')) expect(fn.config.key_value_store_associations).toBeUndefined();
  });
});
