import { Statement } from './iam-statements';

/**
 * Least-privilege IAM policies built from typed grants: each grant names the resources it
 * covers, so a role can only ever be given actions on resources that were passed to it.
 * The only `Resource: "*"` statements hold actions IAM authorises on `*` alone (the ENI and
 * subnet listings of eniStatements, ecrLoginStatement), and they carry their justification like
 * every other `*` (modules/iam-statements.ts).
 */

/**
 * Objects under a prefix of one bucket; `prefix` '' means the whole bucket. With `key`, only
 * those whose key below the prefix matches that IAM pattern (`*` any characters, `/` included;
 * `?` exactly one) and has its number of folders: the role is refused every object below that
 * prefix with more (so no other grant of the role may reach deeper keys there). Without `key`,
 * any key below the prefix.
 */
export interface ObjectScope {
  bucketArn: string;
  prefix: string;
  key?: string;
}

/**
 * A UUID (8-4-4-4-12) as an IAM pattern: one `?` per hex digit, the dashes literal. IAM has no
 * character class, so `?` also matches a `/`: a segment so written pins a key's length and its
 * dashes, where a `*` would take any number of folders.
 */
export const UUID_PATTERN_IAM = [8, 4, 4, 4, 12].map((n) => '?'.repeat(n)).join('-');

export interface Grants {
  /** sqs:SendMessage (SendMessage and SendMessageBatch) on these queue ARNs; reading a queue's attributes is a consumer's. */
  sendTo?: string[];
  /**
   * Receive, delete, change visibility and read attributes on these queue ARNs (a consumer: the
   * consumer loop and the doc worker's deadlines read the visibility timeout and redrive policy,
   * its sweeper the backlog).
   */
  consumeFrom?: string[];
  /** s3:GetObject on these objects. */
  readObjects?: ObjectScope[];
  /** s3:PutObject on these objects: writes that are never read back. */
  writeObjects?: ObjectScope[];
  /** s3:GetObject, s3:PutObject on these objects. */
  readWriteObjects?: ObjectScope[];
  /**
   * s3:ListBucket, for listings under these prefixes only (s3:prefix). S3 answers a GET or HEAD
   * of a missing key 404 NoSuchKey only to a caller that may list the bucket, and 403
   * AccessDenied to any other; for that check it takes the key as the prefix, so listing one
   * prefix is enough for its keys.
   */
  listPrefixes?: ObjectScope[];
  /**
   * Fill these buckets (ARNs) from elsewhere, never deleting: s3:ListBucket on each (HeadBucket,
   * and a HeadObject of a missing key answers 404, not 403), and on their objects s3:GetObject
   * (HeadObject, read-back), s3:PutObject (single and multipart uploads) and
   * s3:AbortMultipartUpload.
   */
  fillBuckets?: string[];
  /** secretsmanager:GetSecretValue on these secret ARNs. */
  readSecrets?: string[];
  /** lambda:InvokeFunction on these qualified (alias) function ARNs. */
  invoke?: string[];
  /** elasticache:Connect (IAM authentication) on these ARNs: the serverless cache and the workload's own cache user. */
  connectToCache?: string[];
}

/**
 * What a Lambda function in a VPC needs to manage its Hyperplane ENIs: the actions of the managed
 * AWSLambdaVPCAccessExecutionRole, minus its `logs:*` on `*`. EC2's Describe actions have no
 * resource-level permission (`*` only); the others are granted on the function's own subnets and
 * security groups (eniStatements).
 */
export const ENI_ACTIONS = [
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeSubnets',
  'ec2:DeleteNetworkInterface',
  'ec2:AssignPrivateIpAddresses',
  'ec2:UnassignPrivateIpAddresses',
];
/** The listings among them: IAM authorises these on `*` only. */
export const ENI_DESCRIBE_ACTIONS = ENI_ACTIONS.filter((a) => a.startsWith('ec2:Describe'));
/** The changes among them: authorised on the network interface, subnet and security group. */
export const ENI_MANAGE_ACTIONS = ENI_ACTIONS.filter((a) => !a.startsWith('ec2:Describe'));
/** The create, authorised on the new interface, the subnet it goes in and its security groups. */
export const ENI_CREATE_ACTION = 'ec2:CreateNetworkInterface';
/** The changes of an existing interface, authorised on the interface alone (with its ec2:Subnet). */
export const ENI_INTERFACE_ACTIONS = ENI_MANAGE_ACTIONS.filter((a) => a !== ENI_CREATE_ACTION);

/** ecr:GetAuthorizationToken is account-wide: AWS accepts only `*` as its resource. */
export const ECR_AUTH_ACTION = 'ecr:GetAuthorizationToken';

const objectArns = (scopes: ObjectScope[]): string[] => scopes.map((s) => `${s.bucketArn}/${s.prefix}${s.key ?? '*'}`);
// A `?` matches `/` as well, so a key pattern of n folders also matches keys of more folders at the same
// length: every key below its prefix with more slashes than the pattern's is refused, which leaves its depth only.
const deeperThanKeyArns = (scopes: ObjectScope[]): string[] => [
  ...new Set(scopes.filter((s) => s.key !== undefined).map((s) => `${s.bucketArn}/${s.prefix}*${'/*'.repeat(s.key!.split('/').length)}`)),
];

export function grantStatements(grants: Grants): Statement[] {
  const statements: Statement[] = [];
  const add = (sid: string, actions: string[], resources: string[] | undefined) => {
    if (resources && resources.length > 0) statements.push({ sid, actions, resources });
  };
  add('SendToQueues', ['sqs:SendMessage'], grants.sendTo);
  add(
    'ConsumeQueues',
    ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes'],
    grants.consumeFrom,
  );
  add('ReadObjects', ['s3:GetObject'], grants.readObjects && objectArns(grants.readObjects));
  add('WriteObjects', ['s3:PutObject'], grants.writeObjects && objectArns(grants.writeObjects));
  add('ReadWriteObjects', ['s3:GetObject', 's3:PutObject'], grants.readWriteObjects && objectArns(grants.readWriteObjects));
  const keyed = deeperThanKeyArns([...(grants.readObjects ?? []), ...(grants.writeObjects ?? []), ...(grants.readWriteObjects ?? [])]);
  if (keyed.length > 0) statements.push({ sid: 'NoObjectsDeeperThanTheirKey', effect: 'Deny', actions: ['s3:GetObject', 's3:PutObject'], resources: keyed });
  const listed = new Map<string, string[]>();
  for (const s of grants.listPrefixes ?? []) listed.set(s.bucketArn, [...(listed.get(s.bucketArn) ?? []), `${s.prefix}*`]);
  [...listed].forEach(([bucketArn, prefixes], i) =>
    statements.push({ sid: `ListPrefixes${i === 0 ? '' : i + 1}`, actions: ['s3:ListBucket'], resources: [bucketArn], conditions: { StringLike: { 's3:prefix': prefixes } } }),
  );
  add('ListFilledBuckets', ['s3:ListBucket'], grants.fillBuckets);
  add('FillBuckets', ['s3:GetObject', 's3:PutObject', 's3:AbortMultipartUpload'], grants.fillBuckets?.map((arn) => `${arn}/*`));
  add('ReadSecrets', ['secretsmanager:GetSecretValue'], grants.readSecrets);
  add('InvokeFunctions', ['lambda:InvokeFunction'], grants.invoke);
  add('ConnectToCache', ['elasticache:Connect'], grants.connectToCache);
  return statements;
}

/** Write access to one log group's streams (the group itself is created by Terraform). */
export function logStatement(logGroupArn: string): Statement {
  return {
    sid: 'WriteLogs',
    actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
    resources: [`${logGroupArn}:*`],
    scalar: ['resources'],
  };
}

/** Where a function's interfaces go: its Region and account, its subnets and security groups (ids). */
export interface EniScope {
  region: string;
  accountId: string;
  subnetIds: string[];
  securityGroupIds: string[];
}

/**
 * The ENI grants of a function in a VPC, as narrow as EC2 authorises them. CreateNetworkInterface
 * is authorised on the new interface (whose id does not exist yet, and which Lambda does not tag:
 * `network-interface/*` of the Region and account), on the subnet and on the security groups, so
 * those are the function's own. Delete and the private-address changes are authorised on the
 * interface only, whose `ec2:Subnet` says where it is: one of the function's subnets.
 */
export function eniStatements(scope: EniScope): Statement[] {
  const ec2Arn = (type: string, id: string) => `arn:aws:ec2:${scope.region}:${scope.accountId}:${type}/${id}`;
  const subnetArns = scope.subnetIds.map((id) => ec2Arn('subnet', id));
  return [
    {
      sid: 'ListVpcNetworkInterfaces',
      actions: ENI_DESCRIBE_ACTIONS,
      resources: ['*'],
      justification:
        'Lambda manages the Hyperplane ENIs of a function in a VPC; ec2:DescribeNetworkInterfaces and ' +
        'ec2:DescribeSubnets have no resource-level permission, so IAM accepts only "*" for them.',
      scalar: ['resources'],
    },
    {
      sid: 'CreateVpcNetworkInterfaces',
      actions: [ENI_CREATE_ACTION],
      resources: [ec2Arn('network-interface', '*'), ...subnetArns, ...scope.securityGroupIds.map((id) => ec2Arn('security-group', id))],
    },
    {
      sid: 'ManageVpcNetworkInterfaces',
      actions: ENI_INTERFACE_ACTIONS,
      resources: [ec2Arn('network-interface', '*')],
      conditions: { ArnEquals: { 'ec2:Subnet': subnetArns } },
    },
  ];
}

/** The resource types ENI_MANAGE_ACTIONS are authorised on (the workload boundary caps them by type). */
export const ENI_RESOURCE_TYPES = ['network-interface', 'subnet', 'security-group'];

/** The registry login ECS makes before pulling an image. */
export function ecrLoginStatement(): Statement {
  return {
    sid: 'EcrLogin',
    actions: [ECR_AUTH_ACTION],
    resources: ['*'],
    justification: 'ecr:GetAuthorizationToken is account-wide: AWS accepts only "*" as its resource; pulls are scoped to one repository.',
    scalar: ['resources'],
  };
}

/**
 * The SSM Agent's actions, those of the AWS managed policy AmazonSSMManagedInstanceCore (Session
 * Manager shells, Run Command, inventory and associations), written here so that every resource
 * IAM lets them name is named: the instance's own ARN (`instance/*` of the account and Region; the
 * agent acts only for the instance whose credentials it holds), SSM documents (AWS-owned and the
 * account's, e.g. SSM-SessionManagerRunShell), associations, and the environment's parameters
 * (`<prefix>-…`, `/<prefix>/…`: the managed policy grants every parameter of the account). The
 * rest IAM authorises on `*` only.
 */
export const SSM_AGENT_UNSCOPED_ACTIONS = [
  'ssm:GetDeployablePatchSnapshotForInstance',
  'ssm:GetManifest',
  'ssm:ListAssociations',
  'ssm:PutInventory',
  'ssm:PutConfigurePackageResult',
  'ssmmessages:CreateControlChannel',
  'ssmmessages:CreateDataChannel',
  'ssmmessages:OpenControlChannel',
  'ssmmessages:OpenDataChannel',
  'ec2messages:AcknowledgeMessage',
  'ec2messages:DeleteMessage',
  'ec2messages:FailMessage',
  'ec2messages:GetEndpoint',
  'ec2messages:GetMessages',
  'ec2messages:SendReply',
];
export const SSM_AGENT_INSTANCE_ACTIONS = [
  'ssm:UpdateInstanceInformation',
  'ssm:ListInstanceAssociations',
  'ssm:DescribeAssociation',
  'ssm:PutComplianceItems',
  'ssm:UpdateInstanceAssociationStatus',
  'ssm:UpdateAssociationStatus',
];
export const SSM_AGENT_DOCUMENT_ACTIONS = ['ssm:GetDocument', 'ssm:DescribeDocument', 'ssm:DescribeAssociation', 'ssm:UpdateAssociationStatus'];
export const SSM_AGENT_PARAMETER_ACTIONS = ['ssm:GetParameter', 'ssm:GetParameters'];

export function ssmAgentStatements(region: string, accountId: string, prefix: string): Statement[] {
  return [
    {
      sid: 'SsmAgentChannels',
      actions: SSM_AGENT_UNSCOPED_ACTIONS,
      resources: ['*'],
      justification:
        'The SSM Agent\u2019s message and session channels (ssmmessages, ec2messages), its inventory, patch ' +
        'snapshot, manifest and association listing have no resource-level permission: IAM accepts only "*". ' +
        'SSM ties each call to the instance whose credentials make it.',
      scalar: ['resources'],
    },
    {
      sid: 'SsmAgentInstance',
      actions: SSM_AGENT_INSTANCE_ACTIONS,
      resources: [`arn:aws:ec2:${region}:${accountId}:instance/*`, `arn:aws:ssm:${region}:${accountId}:association/*`],
    },
    {
      sid: 'SsmAgentDocuments',
      actions: SSM_AGENT_DOCUMENT_ACTIONS,
      resources: [`arn:aws:ssm:${region}::document/*`, `arn:aws:ssm:${region}:${accountId}:document/*`],
    },
    {
      sid: 'SsmAgentParameters',
      actions: SSM_AGENT_PARAMETER_ACTIONS,
      resources: [`arn:aws:ssm:${region}:${accountId}:parameter/${prefix}-*`, `arn:aws:ssm:${region}:${accountId}:parameter/${prefix}/*`],
    },
  ];
}
