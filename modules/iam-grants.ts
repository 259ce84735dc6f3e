/**
 * Least-privilege IAM policies built from typed grants: each grant names the resources it
 * covers, so a role can only ever be given actions on resources that were passed to it.
 * The only `Resource: "*"` statements are those AWS requires (see ENI_ACTIONS, ECR_AUTH_ACTION).
 */

/** Objects under a prefix of one bucket; `prefix` '' means the whole bucket. */
export interface ObjectScope {
  bucketArn: string;
  prefix: string;
}

export interface Grants {
  /** sqs:SendMessage on these queue ARNs. */
  sendTo?: string[];
  /** Receive, delete, change visibility and read attributes on these queue ARNs (a consumer). */
  consumeFrom?: string[];
  /** s3:GetObject under these prefixes. */
  readObjects?: ObjectScope[];
  /** s3:GetObject, s3:PutObject under these prefixes. */
  readWriteObjects?: ObjectScope[];
  /** secretsmanager:GetSecretValue on these secret ARNs. */
  readSecrets?: string[];
  /** lambda:InvokeFunction on these qualified (alias) function ARNs. */
  invoke?: string[];
}

export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow';
  Action: string[];
  Resource: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: PolicyStatement[];
}

/**
 * What a Lambda function in a VPC needs to manage its Hyperplane ENIs. EC2's Describe* actions
 * have no resource-level permissions, so AWS requires `*` here (the same statements as the
 * managed AWSLambdaVPCAccessExecutionRole, minus its `logs:*` on `*`).
 */
export const ENI_ACTIONS = [
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DescribeSubnets',
  'ec2:DeleteNetworkInterface',
  'ec2:AssignPrivateIpAddresses',
  'ec2:UnassignPrivateIpAddresses',
];

/** ecr:GetAuthorizationToken is account-wide: AWS accepts only `*` as its resource. */
export const ECR_AUTH_ACTION = 'ecr:GetAuthorizationToken';

const objectArns = (scopes: ObjectScope[]): string[] => scopes.map((s) => `${s.bucketArn}/${s.prefix}*`);

export function grantStatements(grants: Grants): PolicyStatement[] {
  const statements: PolicyStatement[] = [];
  const add = (Sid: string, Action: string[], resources: string[] | undefined) => {
    if (resources && resources.length > 0) statements.push({ Sid, Effect: 'Allow', Action, Resource: resources });
  };
  add('SendToQueues', ['sqs:SendMessage', 'sqs:GetQueueAttributes'], grants.sendTo);
  add(
    'ConsumeQueues',
    ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility', 'sqs:GetQueueAttributes'],
    grants.consumeFrom,
  );
  add('ReadObjects', ['s3:GetObject'], grants.readObjects && objectArns(grants.readObjects));
  add('ReadWriteObjects', ['s3:GetObject', 's3:PutObject'], grants.readWriteObjects && objectArns(grants.readWriteObjects));
  add('ReadSecrets', ['secretsmanager:GetSecretValue'], grants.readSecrets);
  add('InvokeFunctions', ['lambda:InvokeFunction'], grants.invoke);
  return statements;
}

/** Write access to one log group's streams (the group itself is created by Terraform). */
export function logStatement(logGroupArn: string): PolicyStatement {
  return { Sid: 'WriteLogs', Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: `${logGroupArn}:*` };
}

export function eniStatement(): PolicyStatement {
  return { Sid: 'ManageVpcNetworkInterfaces', Effect: 'Allow', Action: ENI_ACTIONS, Resource: '*' };
}

export function policyJson(statements: PolicyStatement[]): string {
  const document: PolicyDocument = { Version: '2012-10-17', Statement: statements };
  return JSON.stringify(document);
}

/** Trust policy letting one AWS service assume a role. */
export function assumeRolePolicy(service: string): string {
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { Service: service }, Action: 'sts:AssumeRole' }],
  });
}
