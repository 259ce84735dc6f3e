import { Construct } from 'constructs';
import { Wafv2WebAcl, Wafv2WebAclRule } from '@cdktf/provider-aws/lib/wafv2-web-acl';
import { Wafv2WebAclAssociation } from '@cdktf/provider-aws/lib/wafv2-web-acl-association';
import { Wafv2WebAclLoggingConfiguration } from '@cdktf/provider-aws/lib/wafv2-web-acl-logging-configuration';
import { CloudwatchLogGroup } from '@cdktf/provider-aws/lib/cloudwatch-log-group';
import { EDGE_HEADERS, STRIPE_SIGNATURE_HEADER } from '../core/contract';

/**
 * AWS managed rule groups the API runs behind: the OWASP Top 10 classes (Common), request
 * patterns of known exploits (KnownBadInputs, e.g. Log4Shell) and SQL injection. All are free to
 * subscribe to (WCU within the 1,500 included).
 *
 * Not AWSManagedRulesAmazonIpReputationList: its rules read the address of the connection only
 * (AWS documents no forwarded-IP option for the IP reputation groups), and behind CloudFront that
 * address is always a CloudFront edge, so the group could never match a client; the one traffic
 * it could see, calls straight to the execute-api host, the origin rule already refuses.
 */
export const MANAGED_RULE_GROUPS = ['AWSManagedRulesCommonRuleSet', 'AWSManagedRulesKnownBadInputsRuleSet', 'AWSManagedRulesSQLiRuleSet'] as const;

/** Name of the first rule: requests without the edge's origin secret go no further. */
export const ORIGIN_RULE = 'origin-verify';
export const RATE_RULE = 'rate-per-client-ip';
/** The rate rule's evaluation window, which is also how long a blocked client is told to wait. */
export const RATE_WINDOW_SECONDS = 300;
const RATE_LIMITED_BODY = 'rate-limited';

export interface OriginVerify {
  /** Header the edge sets to the origin secret on every request it forwards. */
  headerName: string;
  /**
   * ARN of the REGIONAL regex pattern set holding `^<secret>$`, created and rotated outside
   * Terraform so that the secret is in no plan and no state (docs/deploy.md). Unset: the rule
   * blocks every request, so the API is closed until the secret exists.
   */
  patternSetArn?: string;
}

export interface RegionalWebAclProps {
  /** Web ACL name; also the prefix of its CloudWatch metric names. */
  name: string;
  /** Requests one client IP may send in any 5-minute window before it is blocked. */
  rateLimitPer5Min: number;
  /** ARN of the API Gateway stage the ACL protects. */
  resourceArn: string;
  /**
   * Header carrying the viewer's address, written by the edge over whatever the client sent. The
   * rate rule counts it instead of the connection's address (a CloudFront edge); it can be trusted
   * only because the origin rule has refused every request that did not come through the edge.
   */
  clientIpHeader: string;
  originVerify: OriginVerify;
  /** Rules of a managed group that only count (label and metric) instead of blocking. */
  countOnly?: Partial<Record<(typeof MANAGED_RULE_GROUPS)[number], string[]>>;
  /** Log the requests the ACL blocks (and only those) to a log group of this name (it must start with `aws-waf-logs-`). */
  blockedRequestLogs?: { logGroupName: string; retentionDays: number };
}

/**
 * What a WAF log record must not carry: the origin secret, the B2B clients' API keys (`x-api-key`
 * or `Authorization: Bearer`), cookies, Stripe's webhook signatures (as the services' logs redact
 * them), and the query string (the B2C order token travels there).
 */
export const REDACTED_HEADERS = [EDGE_HEADERS.originVerify, 'authorization', 'x-api-key', 'cookie', STRIPE_SIGNATURE_HEADER] as const;

const visibility = (metricName: string) => ({
  cloudwatchMetricsEnabled: true,
  metricName,
  sampledRequestsEnabled: true,
});

const NO_TRANSFORMATION = [{ priority: 0, type: 'NONE' }];

/** A statement every request matches (any URI path is at least 0 bytes long). */
const EVERY_REQUEST = {
  size_constraint_statement: { comparison_operator: 'GE', size: 0, field_to_match: { uri_path: {} }, text_transformation: NO_TRANSFORMATION },
};

/** The origin rule's statement: the header does not carry the secret (or, without a pattern set, always). */
export function originStatement(origin: OriginVerify): object {
  if (!origin.patternSetArn) return EVERY_REQUEST;
  return {
    not_statement: {
      statement: {
        regex_pattern_set_reference_statement: {
          arn: origin.patternSetArn,
          field_to_match: { single_header: { name: origin.headerName.toLowerCase() } },
          text_transformation: NO_TRANSFORMATION,
        },
      },
    },
  };
}

/**
 * The API's REGIONAL web ACL, evaluated in priority order, the first terminating match deciding:
 * 0. `origin-verify` blocks what lacks the edge's origin secret: a call straight to the
 *    execute-api host is refused before anything else looks at it (and is not counted);
 * 1–3. the managed groups block what they match;
 * 4. the rate rule blocks a client IP (the edge's header) over its 5-minute budget; it runs
 *    last so that requests already blocked do not count against a client.
 * Anything left is allowed.
 */
export class RegionalWebAcl extends Construct {
  readonly acl: Wafv2WebAcl;

  constructor(scope: Construct, id: string, props: RegionalWebAclProps) {
    super(scope, id);
    const origin: Wafv2WebAclRule = {
      name: ORIGIN_RULE,
      priority: 0,
      action: { block: {} },
      statement: originStatement(props.originVerify),
      visibilityConfig: visibility(`${props.name}-${ORIGIN_RULE}`),
    };
    const managed: Wafv2WebAclRule[] = MANAGED_RULE_GROUPS.map((group, i) => ({
      name: group,
      priority: 1 + i,
      overrideAction: { none: {} },
      statement: {
        managed_rule_group_statement: {
          name: group,
          vendor_name: 'AWS',
          rule_action_override: (props.countOnly?.[group] ?? []).map((rule) => ({ name: rule, action_to_use: { count: {} } })),
        },
      },
      visibilityConfig: visibility(`${props.name}-${group}`),
    }));
    // Answered as the services answer a rate limit (429, Retry-After, their error body): WAF's
    // default block is API Gateway's 403 {"message":"Forbidden"}, which says neither retry nor when.
    const rate: Wafv2WebAclRule = {
      name: RATE_RULE,
      priority: 1 + MANAGED_RULE_GROUPS.length,
      action: {
        block: {
          customResponse: {
            responseCode: 429,
            customResponseBodyKey: RATE_LIMITED_BODY,
            responseHeader: [{ name: 'retry-after', value: String(RATE_WINDOW_SECONDS) }],
          },
        },
      },
      statement: {
        rate_based_statement: {
          limit: props.rateLimitPer5Min,
          aggregate_key_type: 'FORWARDED_IP',
          // The edge always writes a valid address: anything else was not written by it.
          forwarded_ip_config: { header_name: props.clientIpHeader, fallback_behavior: 'MATCH' },
          evaluation_window_sec: RATE_WINDOW_SECONDS,
        },
      },
      visibilityConfig: visibility(`${props.name}-${RATE_RULE}`),
    };

    this.acl = new Wafv2WebAcl(this, 'acl', {
      name: props.name,
      description: 'Origin secret first, then managed OWASP/bad-input/SQLi rules and a per-client-IP rate limit',
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      rule: [origin, ...managed, rate],
      // The public API's error body (core/errors.ts AppError), which this layer may not import.
      customResponseBody: [
        {
          key: RATE_LIMITED_BODY,
          contentType: 'APPLICATION_JSON',
          content: JSON.stringify({ error: { code: 'rate_limited', message: `too many requests from this address; retry after ${RATE_WINDOW_SECONDS} s` } }),
        },
      ],
      visibilityConfig: visibility(props.name),
    });

    new Wafv2WebAclAssociation(this, 'association', {
      resourceArn: props.resourceArn,
      webAclArn: this.acl.arn,
    });

    if (props.blockedRequestLogs) this.logBlockedRequests(props.blockedRequestLogs);
  }

  /**
   * One record per blocked request (allowed ones are dropped by the filter, so the log costs what
   * the blocks cost), in a log group with retention. WAF adds the log group's resource policy for
   * its delivery itself when the logging configuration is put.
   */
  private logBlockedRequests(logs: { logGroupName: string; retentionDays: number }): void {
    if (!logs.logGroupName.startsWith('aws-waf-logs-')) throw new Error(`WAF log group ${logs.logGroupName}: the name must start with aws-waf-logs-`);
    const group = new CloudwatchLogGroup(this, 'blocked-requests', { name: logs.logGroupName, retentionInDays: logs.retentionDays });
    new Wafv2WebAclLoggingConfiguration(this, 'logging', {
      resourceArn: this.acl.arn,
      logDestinationConfigs: [group.arn],
      loggingFilter: {
        defaultBehavior: 'DROP',
        filter: [{ behavior: 'KEEP', requirement: 'MEETS_ANY', condition: [{ actionCondition: { action: 'BLOCK' } }] }],
      },
      redactedFields: [...REDACTED_HEADERS.map((name) => ({ singleHeader: { name } })), { queryString: {} }],
    });
  }
}
