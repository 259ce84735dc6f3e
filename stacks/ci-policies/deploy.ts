import { INTERNAL_SERVICES, LIVE_ALIAS } from '../../core/contract';
import { Statement } from '../../modules/iam-statements';
import {
  arns,
  denyEdgeSecret,
  BUCKET_CONFIG_READS,
  BUCKET_CONFIG_WRITES,
  denyDataObjects,
  EC2_ATTRIBUTE_READS,
  EC2_LISTINGS,
  EnvironmentPolicyContext,
  publicAmiParameters,
  stateStatements,
} from './context';
import { RDS_CLUSTER_SECRET_TAG, RDS_SECRET_TAG } from './boundary';

/**
 * Resources AWS names by id are scoped by the environment's `project` and `env` tags (the
 * provider's default_tags): on the create request, then on the resource.
 */
const tags = (c: EnvironmentPolicyContext, key: 'RequestTag' | 'ResourceTag') => ({
  [`aws:${key}/project`]: c.project,
  [`aws:${key}/env`]: c.env,
});
const requestTag = (c: EnvironmentPolicyContext) => ({ StringEquals: tags(c, 'RequestTag') });
const resourceTag = (c: EnvironmentPolicyContext) => ({ StringEquals: tags(c, 'ResourceTag') });
/**
 * A create carries the environment's tags, and every existing resource it names (the subnet
 * and security group of RunInstances, the VPC of CreateSubnet) is the environment's too: the
 * request tags alone would let one environment launch into another's network. Those existing
 * resources are authorised without request tags, by their own (Ec2CreateInOwnNetwork).
 */
const createTagged = (c: EnvironmentPolicyContext) => ({ StringEquals: tags(c, 'RequestTag'), StringEqualsIfExists: tags(c, 'ResourceTag') });
/** The tag RDS puts on the master secret it manages: the ARN of its instance. */
const RDS_INSTANCE_TAG = RDS_SECRET_TAG.slice('aws:ResourceTag/'.length);
const RDS_CLUSTER_TAG = RDS_CLUSTER_SECRET_TAG.slice('aws:ResourceTag/'.length);

/**
 * The role `cdktf deploy` runs with in one GitHub environment, one service area after another.
 * Every statement is scoped to that environment (`c.envPrefixes` holds its prefix alone). The
 * order is the order of the statements in the managed policies (packed in sequence into as few
 * as fit IAM's size limit), so a statement moved between areas moves between policies.
 */
export function deployStatements(c: EnvironmentPolicyContext): Statement[] {
  return [
    ...stateStatements(c, true),
    ...guardStatements(c),
    ...unscopedStatements(),
    ...networkStatements(c),
    ...bucketStatements(c),
    ...queueStatements(c),
    ...secretStatements(c),
    ...databaseStatements(c),
    ...functionStatements(c),
    ...apiStatements(c),
    ...containerStatements(c),
    ...monitoringStatements(c),
    ...edgeStatements(c),
    ...iamStatements(c),
  ];
}

/** Deny guards that hold whatever else is allowed: no secret value, no data object, no state bucket reconfiguration. */
function guardStatements(c: EnvironmentPolicyContext): Statement[] {
  return [
    {
      sid: 'DenySecretValues',
      effect: 'Deny',
      actions: ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue'],
      resources: ['*'],
      justification: 'A deny guard: secret values are put out of band and never pass through CI.',
    },
    denyDataObjects(c),
    denyEdgeSecret(),
    {
      sid: 'DenyStateBucketConfig',
      effect: 'Deny',
      actions: ['s3:DeleteBucket', 's3:PutBucketPolicy', 's3:DeleteBucketPolicy', 's3:PutBucketVersioning', 's3:PutLifecycleConfiguration'],
      resources: [`arn:aws:s3:::${c.stateBucket}`],
    },
  ];
}

/**
 * The APIs IAM authorises on `*` only (the catalogue lists no resource type for them; a
 * statement naming resources would never match them), each listed in the justification.
 */
function unscopedStatements(): Statement[] {
  return [
    {
      sid: 'ReadOnlyDescribe',
      actions: [
        ...EC2_LISTINGS,
        'ec2:DescribeFlowLogs',
        'ec2:DescribeAddressesAttribute',
        'autoscaling:DescribeAutoScalingGroups',
        'autoscaling:DescribeScalingActivities',
        'autoscaling:DescribeInstanceRefreshes',
        'autoscaling:DescribeWarmPool',
        'autoscaling:DescribeTrafficSources',
        'autoscaling:DescribeLoadBalancers',
        'autoscaling:DescribeLoadBalancerTargetGroups',
        'ecs:DescribeTaskDefinition',
        'ecs:DeregisterTaskDefinition',
        'ecs:ListTaskDefinitions',
        'ecr:GetAuthorizationToken',
        'application-autoscaling:Describe*',
        'logs:DescribeLogGroups',
        'cloudfront:ListCachePolicies',
        'cloudfront:ListResponseHeadersPolicies',
        'cloudfront:ListOriginRequestPolicies',
        'rds:DescribeDBEngineVersions',
        'rds:DescribeOrderableDBInstanceOptions',
        'rds:DescribeGlobalClusters',
      ],
      resources: ['*'],
      justification:
        'These APIs have no resource-level permission (IAM authorises them on "*" only): the EC2 ' +
        'listings Terraform refreshes the network with (an explicit list, not ec2:Describe*), ECS ' +
        'task-definition describe/deregister/list, the account-wide ECR login token, ' +
        'application-autoscaling:Describe*, the EC2 Auto Scaling group listings (groups, activities, refreshes, warm pools, ' +
        'traffic sources, load balancers), the flow-log and Elastic IP attribute listings, the log-group listing (Terraform finds a group by ' +
        'prefix), the CloudFront managed-policy listings, the RDS engine catalogue and the global-cluster listing ' +
        '(aws_rds_cluster\'s read filters it by db-cluster-id, with no identifier to scope it). The only ' +
        'write is deregistering a task-definition revision, which running tasks and services outlive.',
    },
  ];
}

/** EC2 creates that take tags on the request (checked against `project` before the resource exists). */
const TAG_CREATE_ACTIONS_EC2 = [
  'ec2:CreateVpc',
  'ec2:CreateSubnet',
  'ec2:CreateSecurityGroup',
  'ec2:CreateRouteTable',
  'ec2:CreateInternetGateway',
  'ec2:CreateNatGateway',
  'ec2:AllocateAddress',
  'ec2:CreateVpcEndpoint',
  'ec2:CreateNetworkInterface',
  'ec2:CreateLaunchTemplate',
  'ec2:RunInstances',
  'ec2:CreateFlowLogs',
  // Rules created with tags (aws_vpc_security_group_*_rule) are new security-group-rule resources.
  'ec2:AuthorizeSecurityGroupIngress',
  'ec2:AuthorizeSecurityGroupEgress',
];

/**
 * EC2 creates that also authorise existing resources they name (the catalogue's resource types of
 * each action): the VPC of a subnet, security group, route table, endpoint or flow log; the route
 * tables of a gateway endpoint; the subnets and security groups of an endpoint, an interface or a
 * NAT gateway; the subnet, security groups and launch template of RunInstances. Those carry no
 * request tag (only what the call creates does), so they are granted apart, by their own tags.
 */
const CREATES_NAMING_PARENTS_EC2 = [
  'ec2:CreateSubnet',
  'ec2:CreateSecurityGroup',
  'ec2:CreateRouteTable',
  'ec2:CreateVpcEndpoint',
  'ec2:CreateFlowLogs',
  'ec2:CreateNetworkInterface',
  'ec2:CreateNatGateway',
  'ec2:RunInstances',
];

/** The existing resource types those creates name. */
const PARENT_TYPES_EC2 = ['vpc', 'subnet', 'security-group', 'route-table', 'launch-template'];

/** Network layer: the VPC, subnets, routes, security groups, endpoints and the NAT instance (by `project` tag). */
function networkStatements(c: EnvironmentPolicyContext): Statement[] {
  const { region: r, accountId: a } = c;
  return [
    {
      sid: 'Ec2CreateTagged',
      actions: TAG_CREATE_ACTIONS_EC2,
      resources: [`arn:aws:ec2:${r}:${a}:*`],
      conditions: createTagged(c),
    },
    {
      // As AWS's examples do: the new resource by its request tags (above), the existing ones it
      // names by the tags they carry, so a create names only this environment's network.
      sid: 'Ec2CreateInOwnNetwork',
      actions: CREATES_NAMING_PARENTS_EC2,
      resources: PARENT_TYPES_EC2.map((type) => `arn:aws:ec2:${r}:${a}:${type}/*`),
      conditions: resourceTag(c),
    },
    {
      // RunInstances authorises the image: the NAT's AL2023 AMI, resolved from AWS's public
      // parameter, is Amazon's (no tag of ours, no account in its ARN).
      sid: 'Ec2LaunchAmazonImages',
      actions: ['ec2:RunInstances'],
      resources: [`arn:aws:ec2:${r}::image/*`],
      conditions: { StringEquals: { 'ec2:Owner': 'amazon' } },
    },
    {
      // The root volume and primary interface a launch creates with its instance: RunInstances makes
      // them only beside an instance this environment's tags allow (Ec2CreateTagged); when the launch
      // tags them, with this environment's tags.
      sid: 'Ec2LaunchVolumesAndInterfaces',
      actions: ['ec2:RunInstances'],
      resources: [`arn:aws:ec2:${r}:${a}:volume/*`, `arn:aws:ec2:${r}:${a}:network-interface/*`],
      conditions: { StringEqualsIfExists: tags(c, 'RequestTag') },
    },
    {
      // The tags a create puts on what it makes: ec2:CreateAction is set by EC2 during those
      // creates only, so no standalone CreateTags on an existing resource matches.
      sid: 'Ec2TagOnCreate',
      actions: ['ec2:CreateTags'],
      resources: [`arn:aws:ec2:${r}:${a}:*`],
      conditions: { StringEquals: { ...tags(c, 'RequestTag'), 'ec2:CreateAction': TAG_CREATE_ACTIONS_EC2.map((action) => action.slice('ec2:'.length)) } },
    },
    {
      // aws_default_security_group adopts the group AWS makes with a VPC, untagged, by tagging it;
      // the one existing resource CI tags. Security groups only: a route table, interface or
      // endpoint without our tags (ElastiCache's carries only AmazonElastiCacheManaged) tagged as
      // this environment's would then be this environment's to change or delete (Ec2ManageTagged).
      // IAM cannot tell a default group from another untagged one, nor see its VPC's tags, and the
      // VPC's ARN is not known when this policy is applied: an untagged group of another VPC can be
      // adopted too. Every group of ours is tagged from its creation (or, for a default group, in
      // the apply that creates its VPC), so such a group is none of ours.
      sid: 'Ec2AdoptDefaultSecurityGroup',
      actions: ['ec2:CreateTags'],
      resources: [`arn:aws:ec2:${r}:${a}:security-group/*`],
      conditions: { StringEquals: tags(c, 'RequestTag'), Null: { 'aws:ResourceTag/project': 'true', 'aws:ResourceTag/env': 'true' } },
    },
    {
      sid: 'Ec2ManageTagged',
      actions: [
        'ec2:AttachInternetGateway',
        'ec2:DetachInternetGateway',
        'ec2:AssociateRouteTable',
        'ec2:DisassociateRouteTable',
        'ec2:ReplaceRouteTableAssociation',
        'ec2:CreateRoute',
        'ec2:ReplaceRoute',
        'ec2:DeleteRoute',
        'ec2:AuthorizeSecurityGroupIngress',
        'ec2:AuthorizeSecurityGroupEgress',
        'ec2:RevokeSecurityGroupIngress',
        'ec2:RevokeSecurityGroupEgress',
        'ec2:ModifySecurityGroupRules',
        'ec2:UpdateSecurityGroupRuleDescriptionsIngress',
        'ec2:UpdateSecurityGroupRuleDescriptionsEgress',
        'ec2:ModifyVpcAttribute',
        'ec2:ModifySubnetAttribute',
        'ec2:ModifyVpcEndpoint',
        'ec2:ModifyInstanceAttribute',
        'ec2:ModifyNetworkInterfaceAttribute',
        'ec2:AssociateAddress',
        'ec2:DisassociateAddress',
        'ec2:ReleaseAddress',
        'ec2:StartInstances',
        'ec2:StopInstances',
        'ec2:TerminateInstances',
        'ec2:CreateLaunchTemplateVersion',
        'ec2:ModifyLaunchTemplate',
        'ec2:DeleteLaunchTemplate',
        'ec2:DeleteVpc',
        'ec2:DeleteSubnet',
        'ec2:DeleteSecurityGroup',
        'ec2:DeleteRouteTable',
        'ec2:DeleteInternetGateway',
        'ec2:DeleteNatGateway',
        'ec2:DeleteVpcEndpoints',
        'ec2:DeleteFlowLogs',
        'ec2:DeleteNetworkInterface',
        'ec2:DetachNetworkInterface',
        'ec2:CreateTags',
        'ec2:DeleteTags',
        ...EC2_ATTRIBUTE_READS,
      ],
      resources: [`arn:aws:ec2:${r}:${a}:*`],
      conditions: resourceTag(c),
    },
    {
      // The NAT's Auto Scaling group (one instance that takes over the floating interface), by name.
      sid: 'AutoScalingGroups',
      actions: [
        'autoscaling:CreateAutoScalingGroup',
        'autoscaling:UpdateAutoScalingGroup',
        'autoscaling:DeleteAutoScalingGroup',
        'autoscaling:PutLifecycleHook',
        'autoscaling:DeleteLifecycleHook',
        'autoscaling:CreateOrUpdateTags',
        'autoscaling:DeleteTags',
        'autoscaling:EnableMetricsCollection',
        'autoscaling:DisableMetricsCollection',
        'autoscaling:StartInstanceRefresh',
        'autoscaling:CancelInstanceRefresh',
      ],
      resources: arns(c, (p) => `arn:aws:autoscaling:${r}:${a}:autoScalingGroup:*:autoScalingGroupName/${p}-*`),
    },
    publicAmiParameters(c),
  ];
}

/**
 * Data and edge buckets, configured at bucket level only (no object action matches a bucket
 * ARN), and the one bucket whose objects CI writes (the SPA build). The objects of the data
 * buckets are denied outright (guardStatements).
 */
function bucketStatements(c: EnvironmentPolicyContext): Statement[] {
  return [
    {
      sid: 'Buckets',
      actions: [...BUCKET_CONFIG_READS, ...BUCKET_CONFIG_WRITES],
      resources: arns(c, (p) => `arn:aws:s3:::${p}-*`),
    },
    {
      // The SPA bucket receives the Angular build; no object of any other bucket is written.
      sid: 'FrontendObjects',
      actions: ['s3:PutObject', 's3:DeleteObject'],
      resources: arns(c, (p) => `arn:aws:s3:::${p}-spa*/*`),
    },
  ];
}

/** The job queues and their DLQs. */
function queueStatements(c: EnvironmentPolicyContext): Statement[] {
  const { region: r, accountId: a } = c;
  return [
    {
      sid: 'Queues',
      actions: [
        'sqs:CreateQueue',
        'sqs:DeleteQueue',
        'sqs:GetQueueAttributes',
        'sqs:SetQueueAttributes',
        'sqs:GetQueueUrl',
        'sqs:TagQueue',
        'sqs:UntagQueue',
        'sqs:ListQueueTags',
        'sqs:ListDeadLetterSourceQueues',
      ],
      resources: arns(c, (p) => `arn:aws:sqs:${r}:${a}:${p}-*`),
    },
  ];
}

/** Secrets without their values, and the RDS-managed master secret. */
function secretStatements(c: EnvironmentPolicyContext): Statement[] {
  const { region: r, accountId: a } = c;
  return [
    {
      sid: 'SecretsWithoutValues',
      actions: [
        'secretsmanager:CreateSecret',
        'secretsmanager:DeleteSecret',
        'secretsmanager:RestoreSecret',
        'secretsmanager:DescribeSecret',
        'secretsmanager:UpdateSecret',
        'secretsmanager:GetResourcePolicy',
        'secretsmanager:PutResourcePolicy',
        'secretsmanager:DeleteResourcePolicy',
        'secretsmanager:TagResource',
        'secretsmanager:UntagResource',
      ],
      resources: arns(c, (p) => `arn:aws:secretsmanager:${r}:${a}:secret:${p}-*`),
    },
    {
      // RDS-managed master password (manage_master_user_password): RDS creates and tags the `rds!…`
      // secret with the caller's permissions (RDS user guide, "Permissions required for Secrets
      // Manager integration": secretsmanager:CreateSecret, secretsmanager:TagResource, and
      // kms:DescribeKey, below). It calls as a forward access session, which carries
      // aws:ViaAWSService, not aws:CalledVia (set by a few services only, RDS not among them). A name
      // with `!` is a managing service's, never a caller's; the secret is tagged with its instance,
      // which must be this environment's.
      sid: 'RdsManagedMasterSecret',
      actions: ['secretsmanager:CreateSecret', 'secretsmanager:TagResource', 'secretsmanager:DescribeSecret', 'secretsmanager:DeleteSecret'],
      resources: [`arn:aws:secretsmanager:${r}:${a}:secret:rds!*`],
      conditions: {
        Bool: { 'aws:ViaAWSService': 'true' },
        StringLikeIfExists: {
          [`aws:RequestTag/${RDS_INSTANCE_TAG}`]: arns(c, (p) => `arn:aws:rds:${r}:${a}:db:${p}-*`),
          [`aws:ResourceTag/${RDS_INSTANCE_TAG}`]: arns(c, (p) => `arn:aws:rds:${r}:${a}:db:${p}-*`),
          // The Aurora engine's secret is tagged with its cluster.
          [`aws:RequestTag/${RDS_CLUSTER_TAG}`]: arns(c, (p) => `arn:aws:rds:${r}:${a}:cluster:${p}-*`),
          [`aws:ResourceTag/${RDS_CLUSTER_TAG}`]: arns(c, (p) => `arn:aws:rds:${r}:${a}:cluster:${p}-*`),
        },
      },
    },
    {
      // RDS describes the key of the master secret, aws/secretsmanager (the one the secret uses:
      // no master_user_secret_kms_key_id). That key's policy leaves its metadata to IAM policies.
      // Metadata only: no encrypt or decrypt.
      sid: 'RdsManagedSecretKey',
      actions: ['kms:DescribeKey'],
      resources: [`arn:aws:kms:${r}:${a}:key/*`],
      conditions: { 'ForAnyValue:StringEquals': { 'kms:ResourceAliases': 'alias/aws/secretsmanager' } },
    },
  ];
}

/** RDS PostgreSQL (the instance, or the Aurora cluster and its instances) and the ElastiCache Serverless cache. */
function databaseStatements(c: EnvironmentPolicyContext): Statement[] {
  const { region: r, accountId: a } = c;
  return [
    {
      sid: 'Database',
      actions: [
        'rds:CreateDBInstance',
        'rds:ModifyDBInstance',
        'rds:DeleteDBInstance',
        'rds:RebootDBInstance',
        'rds:CreateDBSubnetGroup',
        'rds:ModifyDBSubnetGroup',
        'rds:DeleteDBSubnetGroup',
        'rds:CreateDBParameterGroup',
        'rds:ModifyDBParameterGroup',
        'rds:ResetDBParameterGroup',
        'rds:DeleteDBParameterGroup',
        'rds:CreateDBSnapshot',
        'rds:CreateDBCluster',
        'rds:ModifyDBCluster',
        'rds:DeleteDBCluster',
        'rds:CreateDBClusterParameterGroup',
        'rds:ModifyDBClusterParameterGroup',
        'rds:ResetDBClusterParameterGroup',
        'rds:DeleteDBClusterParameterGroup',
        'rds:CreateDBClusterSnapshot',
        'rds:Describe*',
        'rds:ListTagsForResource',
        'rds:AddTagsToResource',
        'rds:RemoveTagsFromResource',
      ],
      resources: [
        ...arns(c, (p) => `arn:aws:rds:${r}:${a}:db:${p}-*`),
        ...arns(c, (p) => `arn:aws:rds:${r}:${a}:subgrp:${p}-*`),
        ...arns(c, (p) => `arn:aws:rds:${r}:${a}:pg:${p}-*`),
        ...arns(c, (p) => `arn:aws:rds:${r}:${a}:snapshot:${p}-*`),
        ...arns(c, (p) => `arn:aws:rds:${r}:${a}:cluster:${p}-*`),
        ...arns(c, (p) => `arn:aws:rds:${r}:${a}:cluster-pg:${p}-*`),
        ...arns(c, (p) => `arn:aws:rds:${r}:${a}:cluster-snapshot:${p}-*`),
        `arn:aws:rds:${r}:${a}:og:default:*`,
      ],
    },
    {
      sid: 'Cache',
      actions: [
        'elasticache:CreateServerlessCache',
        'elasticache:ModifyServerlessCache',
        'elasticache:DeleteServerlessCache',
        'elasticache:CreateCacheSubnetGroup',
        'elasticache:ModifyCacheSubnetGroup',
        'elasticache:DeleteCacheSubnetGroup',
        'elasticache:CreateUser',
        'elasticache:ModifyUser',
        'elasticache:DeleteUser',
        'elasticache:CreateUserGroup',
        'elasticache:ModifyUserGroup',
        'elasticache:DeleteUserGroup',
        'elasticache:Describe*',
        'elasticache:ListTagsForResource',
        'elasticache:AddTagsToResource',
        'elasticache:RemoveTagsFromResource',
      ],
      resources: [
        ...arns(c, (p) => `arn:aws:elasticache:${r}:${a}:serverlesscache:${p}-*`),
        ...arns(c, (p) => `arn:aws:elasticache:${r}:${a}:subnetgroup:${p}-*`),
        // The workloads' IAM-authenticated cache users and their group, attached to the cache.
        ...arns(c, (p) => `arn:aws:elasticache:${r}:${a}:user:${p}-*`),
        ...arns(c, (p) => `arn:aws:elasticache:${r}:${a}:usergroup:${p}-*`),
      ],
    },
    {
      // ElastiCache Serverless creates its VPC endpoint with the caller's permissions, as the
      // managed policy AmazonElastiCacheFullAccess grants them: the endpoint of its own service
      // here; the VPC, subnets and security group it names by their tags (Ec2CreateInOwnNetwork).
      sid: 'CacheVpcEndpoint',
      actions: ['ec2:CreateVpcEndpoint'],
      resources: [`arn:aws:ec2:${r}:${a}:vpc-endpoint/*`],
      conditions: { StringLike: { 'ec2:VpceServiceName': 'com.amazonaws.elasticache.serverless.*' } },
    },
    {
      // The tag ElastiCache puts on that endpoint as it creates it (only then: ec2:CreateAction), by
      // which its service-linked role later changes and deletes it.
      sid: 'CacheVpcEndpointTag',
      actions: ['ec2:CreateTags'],
      resources: [`arn:aws:ec2:${r}:${a}:vpc-endpoint/*`],
      conditions: { StringEquals: { 'ec2:CreateAction': 'CreateVpcEndpoint', 'aws:RequestTag/AmazonElastiCacheManaged': 'true' } },
    },
  ];
}

/** Lambda functions and the log groups of every layer. */
function functionStatements(c: EnvironmentPolicyContext): Statement[] {
  const { region: r, accountId: a } = c;
  return [
    {
      sid: 'Functions',
      actions: [
        'lambda:CreateFunction',
        'lambda:DeleteFunction',
        'lambda:UpdateFunctionCode',
        'lambda:UpdateFunctionConfiguration',
        'lambda:PublishVersion',
        'lambda:CreateAlias',
        'lambda:UpdateAlias',
        'lambda:DeleteAlias',
        'lambda:AddPermission',
        'lambda:RemovePermission',
        'lambda:PutFunctionConcurrency',
        'lambda:DeleteFunctionConcurrency',
        'lambda:TagResource',
        'lambda:UntagResource',
        'lambda:Get*',
        'lambda:List*',
      ],
      resources: [
        ...arns(c, (p) => `arn:aws:lambda:${r}:${a}:function:${p}-*`),
        ...arns(c, (p) => `arn:aws:lambda:${r}:${a}:function:${p}-*:*`),
      ],
    },
    // The deploy and the rollback call each internal service's live alias with GET /health
    // (scripts/release/internal-health.ts) once the aliases move. The role can already replace
    // their code, so calling them adds no power; the gateways are checked through the edge.
    {
      sid: 'InternalHealthChecks',
      actions: ['lambda:InvokeFunction'],
      resources: INTERNAL_SERVICES.flatMap((service) => arns(c, (p) => `arn:aws:lambda:${r}:${a}:function:${p}-${service}:${LIVE_ALIAS}`)),
    },
    {
      sid: 'LogGroups',
      actions: [
        'logs:CreateLogGroup',
        'logs:DeleteLogGroup',
        'logs:PutRetentionPolicy',
        'logs:DeleteRetentionPolicy',
        'logs:TagResource',
        'logs:UntagResource',
        'logs:TagLogGroup',
        'logs:UntagLogGroup',
        'logs:ListTagsForResource',
        'logs:ListTagsLogGroup',
      ],
      resources: arns(c, (p) => `arn:aws:logs:${r}:${a}:log-group:*${p}-*`),
    },
    ...logDeliveryStatements(c),
  ];
}

/**
 * Logs AWS delivers (VPC flow logs to S3, the WAF's blocked requests to CloudWatch Logs): the
 * service sets up the delivery with the caller's permissions when the flow log or the logging
 * configuration is created, changed or deleted. Only for an environment whose stacks have one.
 */
function logDeliveryStatements(c: EnvironmentPolicyContext): Statement[] {
  if (!c.logDeliveries) return [];
  return [
    {
      sid: 'LogDeliveries',
      actions: [
        'logs:CreateLogDelivery',
        'logs:GetLogDelivery',
        'logs:UpdateLogDelivery',
        'logs:DeleteLogDelivery',
        'logs:ListLogDeliveries',
        'logs:PutResourcePolicy',
        'logs:DescribeResourcePolicies',
      ],
      resources: ['*'],
      justification:
        'The vended-log delivery APIs (logs:CreateLogDelivery, GetLogDelivery, UpdateLogDelivery, ' +
        'DeleteLogDelivery, ListLogDeliveries) and the account\'s CloudWatch Logs resource policies ' +
        '(logs:PutResourcePolicy, DescribeResourcePolicies) have no resource-level permission. EC2 ' +
        '(flow logs) and WAF (logging configuration) call them with the deploy role\'s permissions; WAF ' +
        'puts the resource policy that lets delivery.logs write to aws-waf-logs-* groups. They grant ' +
        'AWS services delivery into log groups; no read of any log.',
    },
  ];
}

/** The REST API (by `project` tag), its account-level logging setting and its web ACL. */
function apiStatements(c: EnvironmentPolicyContext): Statement[] {
  const { region: r, accountId: a } = c;
  return [
    {
      sid: 'ApiCreateTagged',
      actions: ['apigateway:POST'],
      resources: [`arn:aws:apigateway:${r}::/restapis`],
      conditions: requestTag(c),
    },
    {
      // API Gateway authorises sub-resources (stages, deployments, methods) by the REST API's tags.
      sid: 'ApiManageTagged',
      actions: ['apigateway:GET', 'apigateway:POST', 'apigateway:PUT', 'apigateway:PATCH', 'apigateway:DELETE', 'apigateway:UpdateRestApiPolicy', 'apigateway:SetWebACL'],
      resources: [`arn:aws:apigateway:${r}::/restapis/*`, `arn:aws:apigateway:${r}::/tags/*`],
      conditions: resourceTag(c),
    },
    {
      // Tag changes of the REST API and its stages (TagResource, UntagResource: PUT and DELETE on
      // /tags/<url-encoded ARN>). IAM's catalogue gives that resource no tag condition key, so the
      // REST API's tags cannot scope them: any tag but the environment's own `project` and `env`,
      // which are set when the API is created (ApiCreateTagged) and never change, so no API moves
      // between environments this way.
      sid: 'ApiTagsButTheEnvironment',
      actions: ['apigateway:PUT', 'apigateway:DELETE'],
      resources: [`arn:aws:apigateway:${r}::/tags/${encodeURIComponent(`arn:aws:apigateway:${r}::/restapis/`)}*`],
      conditions: { 'ForAllValues:StringNotEquals': { 'aws:TagKeys': ['project', 'env'] } },
    },
    // The account-level CloudWatch role that stage access logs need; it has no tags. Only the
    // environment that owns the setting (`api.ownsAccountLogRole`) may change it.
    ...(c.ownsAccountLogRole
      ? [{ sid: 'ApiAccountLogging', actions: ['apigateway:GET', 'apigateway:PATCH'], resources: [`arn:aws:apigateway:${r}::/account`] }]
      : []),
    {
      sid: 'WebAcl',
      actions: [
        'wafv2:CreateWebACL',
        'wafv2:UpdateWebACL',
        'wafv2:DeleteWebACL',
        'wafv2:GetWebACL',
        'wafv2:GetWebACLForResource',
        'wafv2:AssociateWebACL',
        'wafv2:DisassociateWebACL',
        'wafv2:PutLoggingConfiguration',
        'wafv2:GetLoggingConfiguration',
        'wafv2:DeleteLoggingConfiguration',
        'wafv2:TagResource',
        'wafv2:UntagResource',
        'wafv2:ListTagsForResource',
      ],
      resources: [
        ...arns(c, (p) => `arn:aws:wafv2:${r}:${a}:regional/webacl/${p}-*/*`),
        `arn:aws:wafv2:${r}:${a}:regional/managedruleset/*/*`,
        // The origin-verify pattern set the ACL references (created out of band, named by the environment).
        ...arns(c, (p) => `arn:aws:wafv2:${r}:${a}:regional/regexpatternset/${p}-*/*`),
        `arn:aws:apigateway:${r}::/restapis/*/stages/*`,
      ],
    },
  ];
}

/** The ECS cluster, services and tasks, the image repositories and the workers’ scaling. */
function containerStatements(c: EnvironmentPolicyContext): Statement[] {
  const { region: r, accountId: a } = c;
  return [
    {
      sid: 'Containers',
      actions: [
        // Registering names the revision's ARN (family and revision), so it is scoped like the others.
        'ecs:RegisterTaskDefinition',
        'ecs:CreateCluster',
        'ecs:DeleteCluster',
        'ecs:UpdateCluster',
        'ecs:UpdateClusterSettings',
        'ecs:PutClusterCapacityProviders',
        'ecs:DescribeClusters',
        'ecs:CreateService',
        'ecs:UpdateService',
        'ecs:DeleteService',
        'ecs:DescribeServices',
        'ecs:RunTask',
        'ecs:DescribeTasks',
        'ecs:StopTask',
        'ecs:TagResource',
        'ecs:UntagResource',
        'ecs:ListTagsForResource',
      ],
      resources: [
        // The cluster is named after the environment itself (`docplatform-dev`).
        ...arns(c, (p) => `arn:aws:ecs:${r}:${a}:cluster/${p}`),
        ...arns(c, (p) => `arn:aws:ecs:${r}:${a}:service/${p}/*`),
        ...arns(c, (p) => `arn:aws:ecs:${r}:${a}:task/${p}/*`),
        ...arns(c, (p) => `arn:aws:ecs:${r}:${a}:task-definition/${p}-*:*`),
      ],
    },
    {
      sid: 'ImageRepositories',
      actions: [
        'ecr:CreateRepository',
        'ecr:DeleteRepository',
        'ecr:DescribeRepositories',
        'ecr:DescribeImages',
        'ecr:PutLifecyclePolicy',
        'ecr:GetLifecyclePolicy',
        'ecr:DeleteLifecyclePolicy',
        'ecr:SetRepositoryPolicy',
        'ecr:GetRepositoryPolicy',
        'ecr:DeleteRepositoryPolicy',
        'ecr:PutImageTagMutability',
        'ecr:PutImageScanningConfiguration',
        'ecr:TagResource',
        'ecr:UntagResource',
        'ecr:ListTagsForResource',
        'ecr:BatchCheckLayerAvailability',
        'ecr:InitiateLayerUpload',
        'ecr:UploadLayerPart',
        'ecr:CompleteLayerUpload',
        'ecr:PutImage',
        // Promotion copies dev's image into prod's repository (docker buildx imagetools create).
        'ecr:BatchGetImage',
        'ecr:GetDownloadUrlForLayer',
      ],
      resources: arns(c, (p) => `arn:aws:ecr:${r}:${a}:repository/${p}-*`),
    },
    ...imagePromotionStatements(c),
    {
      // Scalable targets are named by service id (`service/<cluster>/<service>`), not by prefix.
      sid: 'Autoscaling',
      actions: [
        'application-autoscaling:RegisterScalableTarget',
        'application-autoscaling:DeregisterScalableTarget',
        'application-autoscaling:PutScalingPolicy',
        'application-autoscaling:DeleteScalingPolicy',
        'application-autoscaling:PutScheduledAction',
        'application-autoscaling:DeleteScheduledAction',
        'application-autoscaling:TagResource',
        'application-autoscaling:UntagResource',
        'application-autoscaling:ListTagsForResource',
      ],
      resources: [`arn:aws:application-autoscaling:${r}:${a}:scalable-target/*`],
      // Tagged by default_tags: another environment's targets carry its own `env`.
      conditions: { StringEqualsIfExists: { ...tags(c, 'RequestTag'), ...tags(c, 'ResourceTag') } },
    },
  ];
}

/**
 * Promotion (deploy.yml's `promote-from`) copies the source environment's images, same commit
 * SHA, into this one's repositories: pulls from the source repositories, nothing else of that
 * environment (not even its state; the workflow names the repositories).
 */
function imagePromotionStatements(c: EnvironmentPolicyContext): Statement[] {
  const { region: r, accountId: a } = c;
  if (c.imageSources.length === 0) return [];
  return [
    {
      sid: 'ImagePromotionSource',
      actions: ['ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer', 'ecr:BatchCheckLayerAvailability', 'ecr:DescribeImages'],
      resources: c.imageSources.map((env) => `arn:aws:ecr:${r}:${a}:repository/${c.project}-${env}-*`),
    },
  ];
}

/** Alarms, the alarm topic and the cost budget. */
function monitoringStatements(c: EnvironmentPolicyContext): Statement[] {
  const { region: r, accountId: a } = c;
  return [
    {
      sid: 'Alarms',
      actions: ['cloudwatch:PutMetricAlarm', 'cloudwatch:DeleteAlarms', 'cloudwatch:DescribeAlarms', 'cloudwatch:TagResource', 'cloudwatch:UntagResource', 'cloudwatch:ListTagsForResource'],
      // Every alarm is ours and named after the environment; the workers scale by step policies on
      // those alarms, so no target-tracking alarm (which Application Auto Scaling would name) exists.
      resources: arns(c, (p) => `arn:aws:cloudwatch:${r}:${a}:alarm:${p}-*`),
    },
    {
      // The saved Logs Insights queries beside each dashboard: no ARN, no resource-level permission.
      sid: 'LogQueries',
      actions: ['logs:PutQueryDefinition', 'logs:DescribeQueryDefinitions', 'logs:DeleteQueryDefinition'],
      resources: ['*'],
      justification:
        'Saved Logs Insights queries (aws_cloudwatch_query_definition) have no ARN and IAM authorises them on "*" only. ' +
        'A definition holds a query text and log group names, no log data: running it needs logs:StartQuery on the groups.',
    },
    {
      // The environment's operations dashboard, named after it (`docplatform-<env>`); dashboards have no Region in their ARN.
      sid: 'Dashboards',
      actions: ['cloudwatch:PutDashboard', 'cloudwatch:GetDashboard', 'cloudwatch:DeleteDashboards'],
      resources: [...arns(c, (p) => `arn:aws:cloudwatch::${a}:dashboard/${p}`), ...arns(c, (p) => `arn:aws:cloudwatch::${a}:dashboard/${p}-*`)],
    },
    {
      sid: 'AlarmTopics',
      actions: [
        'sns:CreateTopic',
        'sns:DeleteTopic',
        'sns:GetTopicAttributes',
        'sns:SetTopicAttributes',
        'sns:Subscribe',
        'sns:Unsubscribe',
        'sns:GetSubscriptionAttributes',
        'sns:SetSubscriptionAttributes',
        'sns:ListSubscriptionsByTopic',
        'sns:TagResource',
        'sns:UntagResource',
        'sns:ListTagsForResource',
      ],
      resources: [...arns(c, (p) => `arn:aws:sns:${r}:${a}:${p}-*`)],
    },
    {
      sid: 'Budgets',
      actions: ['budgets:ViewBudget', 'budgets:ModifyBudget', 'budgets:TagResource', 'budgets:UntagResource', 'budgets:ListTagsForResource'],
      resources: arns(c, (p) => `arn:aws:budgets::${a}:budget/${p}-*`),
    },
  ];
}

/** Edge layer: the CloudFront distribution (by `project` tag), its policies and functions. */
function edgeStatements(c: EnvironmentPolicyContext): Statement[] {
  const { accountId: a } = c;
  return [
    {
      // The CreateDistributionWithTags API Terraform calls is authorised as cloudfront:CreateDistribution
      // (on "*": IAM knows no distribution before it exists) plus cloudfront:TagResource on the new
      // distribution; there is no cloudfront:CreateDistributionWithTags action.
      sid: 'CdnCreateTagged',
      actions: ['cloudfront:CreateDistribution'],
      resources: ['*'],
      conditions: requestTag(c),
      justification:
        'cloudfront:CreateDistribution has no resource-level permission; it is scoped by the ' +
        'project and env tags the request must carry (aws:RequestTag), which the distribution then keeps.',
    },
    {
      sid: 'CdnTagOnCreate',
      actions: ['cloudfront:TagResource'],
      resources: [`arn:aws:cloudfront::${a}:distribution/*`],
      conditions: createTagged(c),
    },
    {
      // Creates IAM authorises on "*" only: these resources get an id, and no tag, at creation.
      sid: 'CdnCreates',
      actions: ['cloudfront:CreateOriginAccessControl', 'cloudfront:CreateResponseHeadersPolicy', 'cloudfront:CreateFunction', 'cloudfront:CreateKeyValueStore'],
      resources: ['*'],
      justification:
        'cloudfront:CreateOriginAccessControl, CreateResponseHeadersPolicy, CreateFunction and ' +
        'CreateKeyValueStore have no resource-level permission. They only add a resource; changing or ' +
        'deleting one is scoped below.',
    },
    {
      sid: 'CdnManageTagged',
      actions: [
        'cloudfront:GetDistribution',
        'cloudfront:GetDistributionConfig',
        'cloudfront:UpdateDistribution',
        'cloudfront:DeleteDistribution',
        'cloudfront:CreateInvalidation',
        'cloudfront:GetInvalidation',
        'cloudfront:ListTagsForResource',
        'cloudfront:TagResource',
        'cloudfront:UntagResource',
      ],
      resources: [`arn:aws:cloudfront::${a}:distribution/*`],
      conditions: resourceTag(c),
    },
    {
      // Origin access controls and policies take no tags and are named by id.
      sid: 'CdnPolicies',
      actions: [
        'cloudfront:GetOriginAccessControl',
        'cloudfront:UpdateOriginAccessControl',
        'cloudfront:DeleteOriginAccessControl',
        'cloudfront:GetResponseHeadersPolicy',
        'cloudfront:UpdateResponseHeadersPolicy',
        'cloudfront:DeleteResponseHeadersPolicy',
        'cloudfront:GetCachePolicy',
        'cloudfront:GetOriginRequestPolicy',
      ],
      resources: [
        `arn:aws:cloudfront::${a}:origin-access-control/*`,
        `arn:aws:cloudfront::${a}:response-headers-policy/*`,
        `arn:aws:cloudfront::${a}:cache-policy/*`,
        `arn:aws:cloudfront::${a}:origin-request-policy/*`,
      ],
    },
    {
      // The edge store is named by id. Its keys (the origin secret) are another service,
      // cloudfront-keyvaluestore, which no CI role reaches (DenyEdgeSecret).
      sid: 'CdnKeyValueStores',
      actions: ['cloudfront:DescribeKeyValueStore', 'cloudfront:UpdateKeyValueStore', 'cloudfront:DeleteKeyValueStore'],
      resources: [`arn:aws:cloudfront::${a}:key-value-store/*`],
    },
    {
      sid: 'CdnFunctions',
      actions: [
        'cloudfront:DescribeFunction',
        'cloudfront:GetFunction',
        'cloudfront:UpdateFunction',
        'cloudfront:PublishFunction',
        'cloudfront:DeleteFunction',
      ],
      resources: arns(c, (p) => `arn:aws:cloudfront::${a}:function/${p}-*`),
    },
  ];
}

/**
 * Creating a role, or changing its permissions or its trust, while it carries the environment's
 * boundary (iam:PermissionsBoundary is the boundary the role has or is given).
 */
export const ROLE_CHANGES_UNDER_BOUNDARY = [
  'iam:CreateRole',
  'iam:PutRolePolicy',
  'iam:AttachRolePolicy',
  'iam:PutRolePermissionsBoundary',
  'iam:DeleteRolePolicy',
  'iam:DetachRolePolicy',
  'iam:UpdateAssumeRolePolicy',
];

/**
 * Workload roles: created and changed only under the environment's boundary, passed only to the
 * services that run them, never assumed by the deploy role; the boundaries themselves are out of
 * reach. IAM has no condition key on a trust policy's content, so a role the deploy role creates
 * may trust anyone: what holds is that such a role is capped by the boundary (this
 * environment's data, no IAM, no role assumption), and that the deploy role cannot assume it.
 */
function iamStatements(c: EnvironmentPolicyContext): Statement[] {
  const { accountId: a } = c;
  return [
    {
      // A role made by CI can never hold more than the boundary allows, whatever policy CI
      // attaches to it or whatever its trust policy says.
      sid: 'RolesWithBoundary',
      actions: ROLE_CHANGES_UNDER_BOUNDARY,
      resources: arns(c, (p) => `arn:aws:iam::${a}:role/${p}-*`),
      conditions: { StringEquals: { 'iam:PermissionsBoundary': c.workloadBoundaryArn } },
    },
    {
      // Holds whatever is allowed elsewhere: no role without this environment's boundary (absent
      // or another one) is created or changed, and no role loses its boundary.
      sid: 'DenyRolesWithoutBoundary',
      effect: 'Deny',
      actions: ROLE_CHANGES_UNDER_BOUNDARY,
      resources: [`arn:aws:iam::${a}:role/*`],
      conditions: { StringNotEquals: { 'iam:PermissionsBoundary': c.workloadBoundaryArn } },
    },
    {
      sid: 'DenyBoundaryRemoval',
      effect: 'Deny',
      actions: ['iam:DeleteRolePermissionsBoundary'],
      resources: [`arn:aws:iam::${a}:role/*`],
    },
    {
      // The boundaries carry an environment's prefix; no deploy role rewrites or deletes one.
      sid: 'DenyBoundaryChanges',
      effect: 'Deny',
      actions: ['iam:CreatePolicyVersion', 'iam:DeletePolicy', 'iam:DeletePolicyVersion', 'iam:SetDefaultPolicyVersion', 'iam:TagPolicy', 'iam:UntagPolicy'],
      resources: [c.workloadBoundaryArnPattern],
    },
    {
      sid: 'DenyAssumeRole',
      effect: 'Deny',
      actions: ['sts:AssumeRole'],
      resources: ['*'],
      justification:
        'A deny guard: the deploy role never chains into another role, so a workload role whose trust policy ' +
        'names it (or anyone) gives it nothing beyond its own policies.',
    },
    {
      sid: 'RolesManage',
      actions: [
        'iam:GetRole',
        'iam:GetRolePolicy',
        'iam:ListRolePolicies',
        'iam:ListAttachedRolePolicies',
        'iam:ListInstanceProfilesForRole',
        'iam:UpdateRole',
        'iam:UpdateRoleDescription',
        'iam:DeleteRole',
        'iam:TagRole',
        'iam:UntagRole',
        'iam:CreateInstanceProfile',
        'iam:GetInstanceProfile',
        'iam:DeleteInstanceProfile',
        'iam:AddRoleToInstanceProfile',
        'iam:RemoveRoleFromInstanceProfile',
        'iam:TagInstanceProfile',
        'iam:UntagInstanceProfile',
        'iam:CreatePolicy',
        'iam:CreatePolicyVersion',
        'iam:DeletePolicy',
        'iam:DeletePolicyVersion',
        'iam:GetPolicy',
        'iam:GetPolicyVersion',
        'iam:ListPolicyVersions',
        'iam:TagPolicy',
        'iam:UntagPolicy',
      ],
      resources: [
        ...arns(c, (p) => `arn:aws:iam::${a}:role/${p}-*`),
        ...arns(c, (p) => `arn:aws:iam::${a}:instance-profile/${p}-*`),
        ...arns(c, (p) => `arn:aws:iam::${a}:policy/${p}-*`),
      ],
    },
    {
      sid: 'PassRoleToWorkloads',
      actions: ['iam:PassRole'],
      resources: arns(c, (p) => `arn:aws:iam::${a}:role/${p}-*`),
      conditions: {
        StringEquals: {
          'iam:PassedToService': [
            'lambda.amazonaws.com',
            'ecs-tasks.amazonaws.com',
            'ec2.amazonaws.com',
            'apigateway.amazonaws.com',
            'monitoring.rds.amazonaws.com',
          ],
        },
      },
    },
    {
      sid: 'ServiceLinkedRoles',
      actions: ['iam:CreateServiceLinkedRole'],
      resources: [`arn:aws:iam::${a}:role/aws-service-role/*`],
      conditions: {
        StringEquals: {
          'iam:AWSServiceName': [
            'ecs.amazonaws.com',
            'ecs.application-autoscaling.amazonaws.com',
            'elasticache.amazonaws.com',
            'rds.amazonaws.com',
            'autoscaling.amazonaws.com',
          ],
        },
      },
    },
  ];
}
