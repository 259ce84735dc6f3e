import { Statement } from '../../modules/iam-statements';
import { BUCKETS } from '../../core/contract';

/**
 * What the GitHub Actions roles may do, as data (plan.ts, deploy.ts), and the permissions
 * boundary of the roles a deploy role creates (boundary.ts). `plan` reads (Terraform refresh),
 * for every environment, and writes nothing, not even a state lock; each environment's `deploy` role creates and
 * changes that environment's resources only: ARNs carrying its name prefix, or (where AWS names
 * resources by id) its `project` and `env` tags. The bootstrap stack (stacks/bootstrap.ts) turns
 * them into the roles' managed policies.
 */
export interface CiPolicyContext {
  region: string;
  accountId: string;
  stateBucket: string;
  /** Environments the role covers (`dev`, `prod`): their state lives under `<env>/` in the state bucket. */
  environments: string[];
  /** `docplatform-dev`, `docplatform-prod`, …: every resource of an environment starts with one. */
  envPrefixes: string[];
  project: string;
}

/**
 * The context of one environment's deploy role: `environments` and `envPrefixes` hold that
 * environment alone, so every statement built from them is scoped to it.
 */
export interface EnvironmentPolicyContext extends CiPolicyContext {
  env: string;
  /**
   * The environment's own permissions boundary (`docplatform-<env>-workload-boundary`): every
   * role the deploy role creates or changes must carry it (no privilege escalation through IAM).
   */
  workloadBoundaryArn: string;
  /** Every environment's boundary (`docplatform-*-workload-boundary`): no deploy role may change one. */
  workloadBoundaryArnPattern: string;
  /** Environments whose images this one's deploy copies (`images.promoteFrom`): pull only. */
  imageSources: string[];
  /** This environment's compute stack owns the account-level API Gateway logging setting. */
  ownsAccountLogRole: boolean;
  /**
   * Its stacks have AWS deliver logs (VPC flow logs to S3, WAF logs to CloudWatch Logs:
   * `network.flowLogs`, `api.wafBlockedRequestLogs`): set up with the deploy role's permissions.
   */
  logDeliveries: boolean;
}

export const arns = (c: CiPolicyContext, pattern: (prefix: string) => string): string[] => c.envPrefixes.map(pattern);

/**
 * The state bucket: a role reads the state of the environments it covers; a deploy role also
 * writes and locks it. The plan role takes no lock (plan.yml plans with -lock=false): a lock it
 * could write, a pull request's author could leave in the bucket to stop every deploy. Neither reaches `shared/` (the bootstrap's own state) or, for a deploy
 * role, another environment's keys: an environment's stacks read only their own layers.
 */
export function stateStatements(c: CiPolicyContext, write: boolean): Statement[] {
  const bucket = `arn:aws:s3:::${c.stateBucket}`;
  const keys = c.environments.map((env) => `${bucket}/${env}/*`);
  return [
    // Not narrowed by s3:prefix: the backend lists its workspace prefix (`env:/`) and reads a
    // state not written yet on an environment's first plan (which must answer 404, not 403), and
    // that both hold under a prefix condition is for real S3 to prove, not the policy simulator.
    // Beyond the role's own keys this grants the other keys' names, never their content.
    { sid: 'StateList', actions: ['s3:ListBucket'], resources: [bucket] },
    { sid: 'StateRead', actions: ['s3:GetObject'], resources: keys },
    ...(write
      ? [
          { sid: 'StateWrite', actions: ['s3:PutObject'], resources: keys },
          // Native S3 locking (use_lockfile) writes and removes `<key>.tflock` next to the state.
          { sid: 'StateLock', actions: ['s3:PutObject', 's3:DeleteObject'], resources: c.environments.map((env) => `${bucket}/${env}/*.tflock`) },
        ]
      : []),
  ];
}

/** The public SSM parameters the NAT instance's AMI is resolved from. */
export function publicAmiParameters(c: CiPolicyContext): Statement {
  return { sid: 'PublicAmiParameters', actions: ['ssm:GetParameter', 'ssm:GetParameters'], resources: [`arn:aws:ssm:${c.region}::parameter/aws/service/*`] };
}

/**
 * The bucket-level reads Terraform's refresh of a bucket and its configuration resources makes
 * (aws_s3_bucket reads each of its sub-configurations; ownership controls, public access block,
 * policy, versioning, encryption and lifecycle have their own resources). Every one of them is
 * authorised on the bucket ARN only, so none reads an object: not `s3:Get*`, which would include
 * s3:GetObject on `bucket/*` (the customers' documents), `bucket-name-*` patterns matching both.
 */
export const BUCKET_CONFIG_READS = [
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
  's3:GetBucketOwnershipControls',
  's3:GetBucketPublicAccessBlock',
];

/**
 * The bucket-level writes of those resources. Deleting a configuration is authorised as putting
 * it (DeleteBucketOwnershipControls needs s3:PutBucketOwnershipControls, DeletePublicAccessBlock
 * s3:PutBucketPublicAccessBlock, DeleteBucketEncryption s3:PutEncryptionConfiguration,
 * DeleteBucketLifecycle s3:PutLifecycleConfiguration, DeleteBucketTagging s3:PutBucketTagging);
 * only the bucket and its policy have delete actions of their own.
 */
export const BUCKET_CONFIG_WRITES = [
  's3:CreateBucket',
  's3:DeleteBucket',
  's3:PutBucketTagging',
  's3:PutBucketPolicy',
  's3:DeleteBucketPolicy',
  's3:PutBucketVersioning',
  's3:PutEncryptionConfiguration',
  's3:PutLifecycleConfiguration',
  's3:PutBucketOwnershipControls',
  's3:PutBucketPublicAccessBlock',
];

/** Objects of the data buckets (`reports`, `assets`) of every environment: the customers' documents and batch files. */
export const dataObjectArns = (c: CiPolicyContext): string[] => Object.values(BUCKETS).map((stem) => `arn:aws:s3:::${c.project}-*-${stem}-*/*`);

/**
 * No CI role reads, writes or deletes an object of a data bucket, whatever else it is allowed:
 * Terraform never needs one, and what they hold is customers' data.
 */
export function denyDataObjects(c: CiPolicyContext): Statement {
  return { sid: 'DenyDataObjects', effect: 'Deny', actions: ['s3:GetObject*', 's3:PutObject*', 's3:DeleteObject*'], resources: dataObjectArns(c) };
}


/**
 * The EC2 listings Terraform's refresh makes of the network layer (VPC, subnets, routes,
 * security groups and rules, gateway endpoint, NAT instance and launch template) and that
 * Lambda and ECS make of a VPC configuration. IAM authorises every one of them on `*` only. An
 * explicit list, not `ec2:Describe*`: that also holds Describe actions that do take resources
 * (DescribeInstanceAttribute reads an instance's user data), which then apply to every resource
 * of the account.
 */
export const EC2_LISTINGS = [
  'ec2:DescribeVpcs',
  'ec2:DescribeSubnets',
  'ec2:DescribeRouteTables',
  'ec2:DescribeSecurityGroups',
  'ec2:DescribeSecurityGroupRules',
  'ec2:DescribeNetworkAcls',
  'ec2:DescribeInternetGateways',
  'ec2:DescribeNatGateways',
  'ec2:DescribeAddresses',
  'ec2:DescribeVpcEndpoints',
  'ec2:DescribeVpcEndpointServices',
  'ec2:DescribePrefixLists',
  'ec2:DescribeManagedPrefixLists',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeLaunchTemplates',
  'ec2:DescribeLaunchTemplateVersions',
  'ec2:DescribeInstances',
  'ec2:DescribeInstanceStatus',
  'ec2:DescribeInstanceTypes',
  'ec2:DescribeInstanceCreditSpecifications',
  'ec2:DescribeImages',
  'ec2:DescribeVolumes',
  'ec2:DescribeTags',
  'ec2:DescribeAvailabilityZones',
  'ec2:DescribeAccountAttributes',
  'ec2:DescribeRegions',
];

/** The EC2 reads that do take a resource (the VPC's DNS attributes, the NAT instance's attributes): on the project's tagged resources. */
export const EC2_ATTRIBUTE_READS = ['ec2:DescribeVpcAttribute', 'ec2:DescribeInstanceAttribute'];

/**
 * The origin secret CloudFront adds to API requests lives in the edge KeyValueStore (its keys are
 * the cloudfront-keyvaluestore service) and in the WAF regex pattern set; both are put out of
 * band. No CI role reads or writes them, whatever else it is allowed.
 */
export function denyEdgeSecret(): Statement {
  return {
    sid: 'DenyEdgeSecret',
    effect: 'Deny',
    actions: ['cloudfront-keyvaluestore:*', 'wafv2:GetRegexPatternSet', 'wafv2:UpdateRegexPatternSet'],
    resources: ['*'],
    justification: 'A deny guard: the origin secret (edge KeyValueStore keys, WAF pattern set) never passes through CI.',
  };
}
