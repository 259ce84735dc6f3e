import { Construct } from 'constructs';
import { Wafv2WebAcl, Wafv2WebAclRule } from '@cdktf/provider-aws/lib/wafv2-web-acl';
import { Wafv2WebAclAssociation } from '@cdktf/provider-aws/lib/wafv2-web-acl-association';

/**
 * AWS managed rule groups the API runs behind: the OWASP Top 10 classes (Common), request
 * patterns of known exploits (KnownBadInputs, e.g. Log4Shell), SQL injection, and addresses
 * Amazon threat intelligence flags. All are free to subscribe to (WCU within the 1,500 included).
 */
export const MANAGED_RULE_GROUPS = [
  'AWSManagedRulesAmazonIpReputationList',
  'AWSManagedRulesCommonRuleSet',
  'AWSManagedRulesKnownBadInputsRuleSet',
  'AWSManagedRulesSQLiRuleSet',
] as const;

export interface RegionalWebAclProps {
  /** Web ACL name; also the prefix of its CloudWatch metric names. */
  name: string;
  /** Requests one client IP may send in any 5-minute window before it is blocked. */
  rateLimitPer5Min: number;
  /** ARN of the API Gateway stage (or ALB) the ACL protects. */
  resourceArn: string;
  /** Rules of a managed group that only count (label and metric) instead of blocking. */
  countOnly?: Partial<Record<(typeof MANAGED_RULE_GROUPS)[number], string[]>>;
}

const visibility = (metricName: string) => ({
  cloudwatchMetricsEnabled: true,
  metricName,
  sampledRequestsEnabled: true,
});

/**
 * A REGIONAL web ACL: allow by default, block what the managed groups or the per-IP rate rule
 * match. The IP reputation list runs first (cheapest way to drop known bad sources), the rate
 * rule last so that requests already blocked do not count against a client's budget.
 */
export class RegionalWebAcl extends Construct {
  readonly acl: Wafv2WebAcl;

  constructor(scope: Construct, id: string, props: RegionalWebAclProps) {
    super(scope, id);
    const managed: Wafv2WebAclRule[] = MANAGED_RULE_GROUPS.map((group, priority) => ({
      name: group,
      priority,
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
    const rate: Wafv2WebAclRule = {
      name: 'rate-per-ip',
      priority: MANAGED_RULE_GROUPS.length,
      action: { block: {} },
      statement: {
        rate_based_statement: { limit: props.rateLimitPer5Min, aggregate_key_type: 'IP', evaluation_window_sec: 300 },
      },
      visibilityConfig: visibility(`${props.name}-rate-per-ip`),
    };

    this.acl = new Wafv2WebAcl(this, 'acl', {
      name: props.name,
      description: 'Managed OWASP/bad-input/SQLi/IP-reputation rules and a per-IP rate limit',
      scope: 'REGIONAL',
      defaultAction: { allow: {} },
      rule: [...managed, rate],
      visibilityConfig: visibility(props.name),
    });

    new Wafv2WebAclAssociation(this, 'association', {
      resourceArn: props.resourceArn,
      webAclArn: this.acl.arn,
    });
  }
}
