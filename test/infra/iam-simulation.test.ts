import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bootstrap, deployRoleName, environments, namePrefix } from '../../stacks/config';
import { BATCH_KEY_PREFIX, INTERNAL_SERVICES, LIVE_ALIAS, PROJECT, REGION, SECRET_STEMS, SERVICE_NAMES } from '../../core/contract';
import { batchManifestKey, batchSourceKey, rejectedRowsKey } from '../../core/domain/batches';
import { SERVICE_ACCESS } from '../../stacks/access';
import { RDS_CLUSTER_SECRET_TAG, RDS_SECRET_TAG } from '../../stacks/ci-policies/boundary';
import {
  ACCOUNT,
  deployRole,
  Decision,
  environmentResources,
  planRole,
  roleUnderBoundary,
  simulate,
  SimPrincipal,
  SimRequest,
  resolvedPolicy,
  workloadRole,
} from '../support/iam-simulation';
import { resources, variantStack } from '../support/infra-synth';

/**
 * Proof by simulation (@cloud-copilot/iam-simulate) over the synthesised policies, for both
 * environments: each row is one request, the principal being exactly the policies its role
 * carries in the synthesised stacks (identity policies, permissions boundary, and the bucket or
 * queue policy of the resource), every Terraform expression resolved to the ARN it will have.
 *
 * The table is printed at the end and written to $TMPDIR/docplatform-iam-simulation.md.
 */

type Expected = 'Allow' | 'Deny';
interface Row extends SimRequest {
  expected: Expected;
  /** Why this is the expected answer. */
  why: string;
}

const ENVS = Object.keys(environments);
const other = (env: string) => ENVS.find((e) => e !== env)!;
const tags = (key: 'RequestTag' | 'ResourceTag', env: string) => ({ [`aws:${key}/project`]: PROJECT, [`aws:${key}/env`]: env });
const ec2 = (type: string, id: string) => `arn:aws:ec2:${REGION}:${ACCOUNT}:${type}/${id}`;
const role = (name: string) => `arn:aws:iam::${ACCOUNT}:role/${name}`;
const policy = (name: string) => `arn:aws:iam::${ACCOUNT}:policy/${name}`;
/** The Aurora variant's cluster and the master secret RDS makes for it (named by RDS, `rds!cluster-<uuid>`). */
const auroraCluster = (env: string) => `arn:aws:rds:${REGION}:${ACCOUNT}:cluster:${PROJECT}-${env}-aurora`;
const auroraSecret = (env: string) => `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:rds!cluster-0a1b2c3d-${env === 'dev' ? '1111' : '2222'}-4e5f-8a9b-0c1d2e3f4a5b-AbCdEf`;
const AWS_MANAGED_KEY = `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
/**
 * The key policy AWS gives the AWS-managed key aws/secretsmanager (AWS's, not ours; as AWS
 * documents it): any principal of the account, through Secrets Manager only. KMS authorises by
 * the key policy, so the simulation needs it; the role's boundary still caps what it grants.
 */
const SECRETSMANAGER_KEY_POLICY = {
  Version: '2012-10-17',
  Statement: [
    {
      Sid: 'ThroughSecretsManagerForTheAccount',
      Effect: 'Allow',
      Principal: { AWS: '*' },
      Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:CreateGrant', 'kms:DescribeKey'],
      Resource: '*',
      Condition: { StringEquals: { 'kms:CallerAccount': ACCOUNT, 'kms:ViaService': `secretsmanager.${REGION}.amazonaws.com` } },
    },
    { Sid: 'KeyMetadataToTheAccount', Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` }, Action: ['kms:Describe*', 'kms:Get*', 'kms:List*', 'kms:RevokeGrant'], Resource: '*' },
  ],
};

/** The deploy role of `env` against its own environment and against the other one. */
function deployRows(env: string): Row[] {
  const own = environmentResources(env);
  const theirs = environmentResources(other(env));
  const p = deployRole(env);
  const o = other(env);
  const both = (action: string, mine: string, their: string, context: (e: string) => Record<string, string> = () => ({}), extra: Partial<Row> = {}): Row[] => [
    { principal: p, action, resource: mine, context: context(env), expected: 'Allow', why: `its own environment (${env})`, ...extra },
    { principal: p, action, resource: their, context: context(o), expected: 'Deny', why: `another environment (${o})`, ...extra },
  ];
  return [
    ...both('lambda:UpdateFunctionCode', own.orderFunction, theirs.orderFunction),
    ...both('lambda:UpdateAlias', `${own.orderFunction}:live`, `${theirs.orderFunction}:live`),
    ...both('s3:PutObject', own.stateKey('compute'), theirs.stateKey('compute')),
    ...both('s3:GetObject', own.stateKey('data'), theirs.stateKey('data')),
    ...both('iam:CreateRole', role(`${namePrefix(env)}-x`), role(`${namePrefix(o)}-x`), (e) => ({ 'iam:PermissionsBoundary': environmentResources(e).boundary })),
    ...both('iam:PassRole', own.orderRole, theirs.orderRole, () => ({ 'iam:PassedToService': 'lambda.amazonaws.com' })),
    ...both('secretsmanager:UpdateSecret', own.stripeSecret, theirs.stripeSecret),
    { principal: p, action: 'secretsmanager:PutSecretValue', resource: theirs.stripeSecret, expected: 'Deny', why: `another environment (${o}); and secret values never pass through CI` },
    { principal: p, action: 'secretsmanager:PutSecretValue', resource: own.stripeSecret, expected: 'Deny', why: 'secret values are put out of band, never through CI (DenySecretValues)' },
    { principal: p, action: 'secretsmanager:GetSecretValue', resource: own.dbSecret, expected: 'Deny', why: 'secret values never pass through CI (DenySecretValues)' },
    ...both('sqs:SetQueueAttributes', own.docJobsQueue, theirs.docJobsQueue),
    ...both('ecr:PutImage', own.docGenerationRepository, theirs.docGenerationRepository),
    ...both('s3:PutBucketPolicy', own.reportsBucket, theirs.reportsBucket),
    ...both('s3:GetBucketPolicy', own.reportsBucket, theirs.reportsBucket),
    ...both('rds:ModifyDBInstance', own.dbInstance, theirs.dbInstance),
    ...both('ec2:TerminateInstances', ec2('instance', 'i-0nat'), ec2('instance', 'i-0nat'), (e) => tags('ResourceTag', e)),
    ...both('ec2:RunInstances', ec2('subnet', `subnet-0${env}`), ec2('subnet', `subnet-0${o}`), (e) => ({ ...tags('RequestTag', env), ...tags('ResourceTag', e) }), {
      why: 'launch (request tagged with its own env) into a subnet of',
    }),
    // The existing parents a create names carry no request tag: granted by their own tags, so only this environment's.
    ...both('ec2:CreateSubnet', ec2('vpc', `vpc-0${env}`), ec2('vpc', `vpc-0${o}`), (e) => tags('ResourceTag', e), { why: 'a subnet in the VPC (the parent CreateSubnet authorises) of' }),
    ...both('ec2:RunInstances', ec2('launch-template', `lt-0${env}`), ec2('launch-template', `lt-0${o}`), (e) => tags('ResourceTag', e), { why: 'a launch from the launch template of' }),
    ...both('ec2:CreateVpcEndpoint', ec2('subnet', `subnet-0${env}`), ec2('subnet', `subnet-0${o}`), (e) => ({ ...tags('ResourceTag', e), 'aws:ViaAWSService': 'true' }), {
      why: 'ElastiCache Serverless creating its endpoint (with the role’s permissions) in a subnet of',
    }),
    {
      principal: p,
      action: 'ec2:RunInstances',
      resource: `arn:aws:ec2:${REGION}::image/ami-0community`,
      context: { 'ec2:Owner': '210987654321' },
      expected: 'Deny',
      why: 'launch an image that is not Amazon’s',
    },
    ...both('secretsmanager:TagResource', own.dbSecret, theirs.dbSecret, (e) => ({ [RDS_SECRET_TAG]: environmentResources(e).dbInstance, 'aws:ViaAWSService': 'true' }), {
      why: 'RDS tagging the master secret (with the role’s permissions) of the database of',
    }),
    {
      principal: p,
      action: 'secretsmanager:TagResource',
      resource: own.dbSecret,
      context: { [RDS_SECRET_TAG]: own.dbInstance, 'aws:RequestTag/owner': 'ci', 'aws:TagKeys': ['owner'] },
      expected: 'Deny',
      why: 'tag the RDS-managed master secret itself: only RDS, on the role’s behalf, touches an rds!… secret',
    },
    {
      principal: p,
      action: 'kms:DescribeKey',
      resource: `arn:aws:kms:${REGION}:${ACCOUNT}:key/00000000-0000-4000-8000-0000000000aa`,
      context: { 'kms:ResourceAliases': ['alias/some-customer-key'] },
      expected: 'Deny',
      why: 'describe a key other than aws/secretsmanager (the one RDS describes for the master secret)',
    },
    ...(['env', 'layer'] as const).map(
      (key): Row => ({
        principal: p,
        action: 'apigateway:PUT',
        resource: `arn:aws:apigateway:${REGION}::/tags/${encodeURIComponent(`arn:aws:apigateway:${REGION}::/restapis/a1b2c3d4e5`)}`,
        context: { [`aws:RequestTag/${key}`]: key === 'env' ? env : 'compute', 'aws:TagKeys': [key] },
        expected: key === 'env' ? 'Deny' : 'Allow',
        why: key === 'env' ? 'retag a REST API’s env (it would move between environments)' : 'change a REST API tag that does not name the environment',
      }),
    ),
    {
      principal: p,
      action: 'ec2:CreateTags',
      resource: ec2('instance', `i-0${o}`),
      context: { ...tags('RequestTag', env), ...tags('ResourceTag', o) },
      expected: 'Deny',
      why: `retag another environment's (${o}) instance as ${env}`,
    },
    ...both('apigateway:PATCH', `arn:aws:apigateway:${REGION}::/restapis/a1b2c3d4e5`, `arn:aws:apigateway:${REGION}::/restapis/a1b2c3d4e5`, (e) => tags('ResourceTag', e)),
    ...both('cloudfront:UpdateDistribution', `arn:aws:cloudfront::${ACCOUNT}:distribution/E1234567890AB`, `arn:aws:cloudfront::${ACCOUNT}:distribution/E1234567890AB`, (e) =>
      tags('ResourceTag', e),
    ),
    ...(environments[env].images.promoteFrom
      ? [
          {
            principal: p,
            action: 'ecr:BatchGetImage',
            resource: environmentResources(environments[env].images.promoteFrom!).docGenerationRepository,
            expected: 'Allow' as const,
            why: `promotion pulls the images ${environments[env].images.promoteFrom} was tested with (images.promoteFrom)`,
          },
        ]
      : [{ principal: p, action: 'ecr:BatchGetImage', resource: theirs.docGenerationRepository, expected: 'Deny' as const, why: `it promotes nothing from ${o}` }]),
  ];
}

/**
 * EC2 resources belong to an environment by their tags, so tagging is where one environment could
 * take over another's network: a resource AWS or a service made without our tags (a VPC's main
 * route table, an interface, ElastiCache's endpoint with its AmazonElastiCacheManaged tag alone),
 * once tagged as `env`'s, would be `env`'s to change and delete. The deploy role tags what it
 * creates, and adopts its VPC's default security group, nothing else.
 */
function ec2TagRows(env: string): Row[] {
  const p = deployRole(env);
  const o = other(env);
  const takeOver = (type: string, id: string, carries: Record<string, string>, then: string, what: string): Row[] => [
    { principal: p, action: 'ec2:CreateTags', resource: ec2(type, id), context: { ...tags('RequestTag', env), ...carries }, expected: 'Deny', why: `tag ${what} of ${o}'s network as ${env}'s` },
    { principal: p, action: then, resource: ec2(type, id), context: carries, expected: 'Deny', why: `then change it: still not ${env}'s` },
  ];
  return [
    ...takeOver('route-table', `rtb-0main${o}`, {}, 'ec2:CreateRoute', 'the main route table AWS made with the VPC'),
    ...takeOver('network-interface', `eni-0${o}`, {}, 'ec2:DeleteNetworkInterface', 'an untagged network interface'),
    ...takeOver('vpc-endpoint', `vpce-0cache${o}`, { 'aws:ResourceTag/AmazonElastiCacheManaged': 'true' }, 'ec2:DeleteVpcEndpoints', 'ElastiCache’s endpoint (its own tag only)'),
    { principal: p, action: 'ec2:CreateTags', resource: ec2('security-group', `sg-0default${env}`), context: tags('RequestTag', env), expected: 'Allow', why: 'adopt the untagged default security group of its VPC as its own' },
    { principal: p, action: 'ec2:CreateTags', resource: ec2('security-group', `sg-0default${env}`), context: tags('RequestTag', o), expected: 'Deny', why: `adopt a default security group as ${o}'s` },
    { principal: p, action: 'ec2:CreateTags', resource: ec2('security-group', `sg-0default${o}`), context: { ...tags('RequestTag', env), ...tags('ResourceTag', o) }, expected: 'Deny', why: `retag the default security group ${o} adopted` },
    { principal: p, action: 'ec2:CreateTags', resource: ec2('route-table', `rtb-0${env}`), context: { ...tags('RequestTag', env), 'ec2:CreateAction': 'CreateRouteTable' }, expected: 'Allow', why: 'the tags of a route table it creates' },
    { principal: p, action: 'ec2:CreateTags', resource: ec2('route-table', `rtb-0${env}`), context: { ...tags('RequestTag', o), 'ec2:CreateAction': 'CreateRouteTable' }, expected: 'Deny', why: `create a route table tagged as ${o}'s` },
  ];
}

/**
 * The smoke step (scripts/release/aliases.ts smoke --env) describes every secret of the data stack
 * to name those without a value; the value itself stays out of reach.
 */
function smokeSecretRows(env: string): Row[] {
  const p = deployRole(env);
  const secretsOf = (e: string) => resources(`${e}-data`, 'aws_secretsmanager_secret').map((r) => `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${r.config.name}-AbCdEf`);
  return [
    ...secretsOf(env).map((resource): Row => ({ principal: p, action: 'secretsmanager:DescribeSecret', resource, expected: 'Allow', why: 'the smoke step names each secret without a value (VersionIdsToStages)' })),
    { principal: p, action: 'secretsmanager:DescribeSecret', resource: secretsOf(other(env))[0], expected: 'Deny', why: `${other(env)}'s secret` },
    { principal: p, action: 'secretsmanager:ListSecretVersionIds', resource: secretsOf(env)[0], expected: 'Deny', why: 'DescribeSecret is all the smoke step needs' },
  ];
}

/** The deploy's check of the internal services (scripts/release/internal-health.ts): their live aliases, nothing else. */
function internalHealthRows(env: string): Row[] {
  const p = deployRole(env);
  const fn = (e: string, service: string) => `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${namePrefix(e)}-${service}`;
  return [
    ...INTERNAL_SERVICES.map((s): Row => ({ principal: p, action: 'lambda:InvokeFunction', resource: `${fn(env, s)}:${LIVE_ALIAS}`, expected: 'Allow', why: `GET /health of ${s}'s live alias` })),
    { principal: p, action: 'lambda:InvokeFunction', resource: `${fn(other(env), 'order')}:${LIVE_ALIAS}`, expected: 'Deny', why: `${other(env)}'s order service` },
    { principal: p, action: 'lambda:InvokeFunction', resource: fn(env, 'order'), expected: 'Deny', why: 'the unqualified function ($LATEST): the check calls what callers call' },
    { principal: p, action: 'lambda:InvokeFunction', resource: `${fn(env, 'gateway-b2c')}:${LIVE_ALIAS}`, expected: 'Deny', why: 'a gateway: the smoke test reaches those through the edge' },
  ];
}

/** A deploy re-run asks ECR whether this commit's tag exists in each image repository before it builds (deploy-environment.yml). */
function imageTagRows(env: string): Row[] {
  const p = deployRole(env);
  const repositories = (e: string) => resources(`${e}-compute`, 'aws_ecr_repository').map((r) => `arn:aws:ecr:${REGION}:${ACCOUNT}:repository/${r.config.name}`);
  const promotes = environments[env].images.promoteFrom === other(env);
  return [
    ...repositories(env).map((resource): Row => ({ principal: p, action: 'ecr:DescribeImages', resource, expected: 'Allow', why: 'is this commit’s tag already there (a re-run skips the build)' })),
    {
      principal: p,
      action: 'ecr:DescribeImages',
      resource: repositories(other(env))[0],
      expected: promotes ? 'Allow' : 'Deny',
      why: promotes ? `promotion reads the digest ${other(env)}'s tag holds` : `${other(env)}'s repository: it promotes nothing from there`,
    },
  ];
}

/** What the deploy role of `env` may do with IAM: roles only under its own boundary, no boundary change, no role assumed. */
function iamRows(env: string): Row[] {
  const own = environmentResources(env);
  const theirs = environmentResources(other(env));
  const p = deployRole(env);
  const mine = role(`${namePrefix(env)}-x`);
  return [
    { principal: p, action: 'iam:CreateRole', resource: mine, expected: 'Deny', why: 'no permissions boundary on the new role' },
    { principal: p, action: 'iam:CreateRole', resource: mine, context: { 'iam:PermissionsBoundary': theirs.boundary }, expected: 'Deny', why: `${other(env)}'s boundary, not its own` },
    { principal: p, action: 'iam:CreateRole', resource: mine, context: { 'iam:PermissionsBoundary': policy('AdministratorAccess') }, expected: 'Deny', why: 'a boundary that is not the workload boundary' },
    { principal: p, action: 'iam:AttachRolePolicy', resource: own.orderRole, context: { 'iam:PermissionsBoundary': own.boundary, 'iam:PolicyARN': 'arn:aws:iam::aws:policy/AdministratorAccess' }, expected: 'Allow', why: 'any policy on a bounded role: the boundary caps it (next rows)' },
    { principal: p, action: 'iam:UpdateAssumeRolePolicy', resource: own.orderRole, context: { 'iam:PermissionsBoundary': own.boundary }, expected: 'Allow', why: 'a bounded role’s trust: what it trusts gets no more than the boundary' },
    { principal: p, action: 'iam:UpdateAssumeRolePolicy', resource: role(`${namePrefix(env)}-unbounded`), expected: 'Deny', why: 'the trust of a role without the boundary' },
    { principal: p, action: 'iam:UpdateAssumeRolePolicy', resource: role(deployRoleName(other(env))), expected: 'Deny', why: 'the trust of another deploy role' },
    { principal: p, action: 'iam:PutRolePolicy', resource: role(deployRoleName(env)), expected: 'Deny', why: 'widen itself' },
    { principal: p, action: 'iam:DeleteRolePermissionsBoundary', resource: own.orderRole, context: { 'iam:PermissionsBoundary': own.boundary }, expected: 'Deny', why: 'remove the boundary from a role' },
    { principal: p, action: 'iam:CreatePolicyVersion', resource: own.boundary, expected: 'Deny', why: 'rewrite its own environment’s boundary' },
    { principal: p, action: 'iam:SetDefaultPolicyVersion', resource: own.boundary, expected: 'Deny', why: 'switch its boundary to another version' },
    { principal: p, action: 'iam:DeletePolicy', resource: theirs.boundary, expected: 'Deny', why: 'delete another environment’s boundary' },
    { principal: p, action: 'iam:CreatePolicyVersion', resource: policy(`${namePrefix(env)}-other`), expected: 'Allow', why: 'its environment’s other managed policies stay its own' },
    { principal: p, action: 'sts:AssumeRole', resource: own.orderRole, expected: 'Deny', why: 'assume a workload role of its own environment (whatever its trust says)' },
    { principal: p, action: 'sts:AssumeRole', resource: role(deployRoleName(other(env))), expected: 'Deny', why: 'chain into another deploy role' },
    { principal: p, action: 'iam:PassRole', resource: own.orderRole, context: { 'iam:PassedToService': 'glue.amazonaws.com' }, expected: 'Deny', why: 'pass a workload role to a service no workload runs on' },
  ];
}

/** Neither CI role reads customers' objects. */
function objectRows(env: string): Row[] {
  const own = environmentResources(env);
  const p = deployRole(env);
  return [
    { principal: p, action: 's3:GetObject', resource: `${own.reportsBucket}/client-1/order-1.pdf`, resourcePolicy: own.reportsBucketPolicy, expected: 'Deny', why: 'a customer report (DenyDataObjects; bucket-level S3 only)' },
    { principal: p, action: 's3:GetObjectVersion', resource: `${own.reportsBucket}/client-1/order-1.pdf`, resourcePolicy: own.reportsBucketPolicy, expected: 'Deny', why: 'an older version of a report' },
    { principal: p, action: 's3:GetObject', resource: `${own.assetsBucket}/batches/client-1/b-1/source.csv`, resourcePolicy: own.assetsBucketPolicy, expected: 'Deny', why: 'a customer batch file' },
    { principal: p, action: 's3:PutObject', resource: `${own.reportsBucket}/client-1/order-1.pdf`, resourcePolicy: own.reportsBucketPolicy, expected: 'Deny', why: 'overwrite a report' },
    { principal: p, action: 's3:PutObject', resource: `${own.spaBucket}/index.html`, resourcePolicy: own.spaBucketPolicy, expected: 'Allow', why: 'the SPA build is the one upload CI makes' },
    { principal: planRole(), action: 's3:GetObject', resource: `${own.reportsBucket}/client-1/order-1.pdf`, resourcePolicy: own.reportsBucketPolicy, expected: 'Deny', why: 'a customer report' },
    { principal: planRole(), action: 's3:GetBucketTagging', resource: own.reportsBucket, resourcePolicy: own.reportsBucketPolicy, expected: 'Allow', why: 'bucket-level refresh' },
  ];
}

/** The read-only plan role. */
function planRows(env: string): Row[] {
  const own = environmentResources(env);
  const p = planRole();
  return [
    { principal: p, action: 'secretsmanager:GetSecretValue', resource: own.stripeSecret, expected: 'Deny', why: 'a secret value' },
    { principal: p, action: 'secretsmanager:GetSecretValue', resource: own.dbSecret, expected: 'Deny', why: 'the database master secret' },
    { principal: p, action: 'secretsmanager:DescribeSecret', resource: own.stripeSecret, expected: 'Allow', why: 'secret metadata for refresh' },
    { principal: p, action: 'sqs:ReceiveMessage', resource: own.docJobsQueue, resourcePolicy: own.docJobsQueuePolicy, expected: 'Deny', why: 'queue messages' },
    { principal: p, action: 's3:GetObject', resource: own.stateKey('compute'), expected: 'Allow', why: 'state, for the plan' },
    { principal: p, action: 's3:PutObject', resource: own.stateKey('compute'), expected: 'Deny', why: 'it never writes state' },
    { principal: p, action: 's3:PutObject', resource: `${own.stateKey('compute')}.tflock`, expected: 'Deny', why: 'a state lock (its plans take none; one left would stop the deploys)' },
    { principal: p, action: 'lambda:UpdateFunctionCode', resource: own.orderFunction, expected: 'Deny', why: 'read-only' },
    { principal: p, action: 'iam:GetRole', resource: own.orderRole, expected: 'Allow', why: 'role refresh' },
    { principal: p, action: 'iam:PutRolePolicy', resource: own.orderRole, expected: 'Deny', why: 'read-only' },
  ];
}

/** A role created under the boundary of `env`, holding `*` on `*` itself: the boundary is all that limits it. */
function boundaryRows(env: string): Row[] {
  const own = environmentResources(env);
  const theirs = environmentResources(other(env));
  const p = roleUnderBoundary(env);
  const o = other(env);
  const viaSecretsManager = { 'kms:CallerAccount': ACCOUNT, 'kms:ViaService': `secretsmanager.${REGION}.amazonaws.com` };
  const kms = { resource: AWS_MANAGED_KEY, resourcePolicy: SECRETSMANAGER_KEY_POLICY };
  return [
    { principal: p, action: 'secretsmanager:GetSecretValue', resource: theirs.stripeSecret, expected: 'Deny', why: `${o}'s secret` },
    { principal: p, action: 'secretsmanager:GetSecretValue', resource: own.stripeSecret, expected: 'Allow', why: 'its own environment’s secret' },
    { principal: p, action: 'secretsmanager:GetSecretValue', resource: theirs.dbSecret, context: { [RDS_SECRET_TAG]: theirs.dbInstance }, expected: 'Deny', why: `${o}'s RDS master secret (tagged with ${o}'s instance)` },
    { principal: p, action: 'secretsmanager:GetSecretValue', resource: own.dbSecret, context: { [RDS_SECRET_TAG]: own.dbInstance }, expected: 'Allow', why: 'its own RDS master secret' },
    // The Aurora engine: RDS tags the cluster's master secret with the cluster (docplatform-<env>-aurora).
    { principal: p, action: 'secretsmanager:GetSecretValue', resource: auroraSecret(o), context: { [RDS_CLUSTER_SECRET_TAG]: auroraCluster(o) }, expected: 'Deny', why: `${o}'s Aurora master secret (tagged with ${o}'s cluster)` },
    { principal: p, action: 'secretsmanager:GetSecretValue', resource: auroraSecret(env), context: { [RDS_CLUSTER_SECRET_TAG]: auroraCluster(env) }, expected: 'Allow', why: 'its own Aurora master secret' },
    { principal: p, action: 'secretsmanager:GetSecretValue', resource: auroraSecret(env), context: { [RDS_CLUSTER_SECRET_TAG]: `arn:aws:rds:${REGION}:${ACCOUNT}:cluster:someone-else` }, expected: 'Deny', why: 'an rds! secret of a cluster outside the environment' },
    { principal: p, action: 's3:GetObject', resource: `${theirs.reportsBucket}/client-1/order-1.pdf`, resourcePolicy: theirs.reportsBucketPolicy, expected: 'Deny', why: `${o}'s report objects` },
    { principal: p, action: 's3:GetObject', resource: `${own.reportsBucket}/client-1/order-1.pdf`, resourcePolicy: own.reportsBucketPolicy, expected: 'Allow', why: 'its own report objects' },
    { principal: p, action: 's3:PutObject', resource: `${theirs.assetsBucket}/batches/x`, resourcePolicy: theirs.assetsBucketPolicy, expected: 'Deny', why: `${o}'s assets` },
    { principal: p, action: 'sqs:ReceiveMessage', resource: theirs.docJobsQueue, resourcePolicy: theirs.docJobsQueuePolicy, expected: 'Deny', why: `${o}'s queue` },
    { principal: p, action: 'sqs:SendMessage', resource: own.docJobsQueue, resourcePolicy: own.docJobsQueuePolicy, expected: 'Allow', why: 'its own queue' },
    { principal: p, action: 'lambda:InvokeFunction', resource: theirs.themeLive, expected: 'Deny', why: `${o}'s function` },
    { principal: p, action: 'lambda:InvokeFunction', resource: own.themeLive, expected: 'Allow', why: 'its own function' },
    // Secrets Manager decrypts only after GetSecretValue is allowed (the rows above decide which secret).
    { principal: p, action: 'kms:Decrypt', ...kms, context: viaSecretsManager, expected: 'Allow', why: 'aws/secretsmanager, through Secrets Manager (after GetSecretValue above)' },
    { principal: p, action: 'kms:Decrypt', ...kms, context: { 'kms:CallerAccount': ACCOUNT }, expected: 'Deny', why: 'a direct Decrypt of aws/secretsmanager, not through Secrets Manager' },
    { principal: p, action: 'kms:Decrypt', ...kms, context: { ...viaSecretsManager, 'kms:ViaService': `s3.${REGION}.amazonaws.com` }, expected: 'Deny', why: 'a Decrypt through another service' },
    { principal: p, action: 'iam:CreateRole', resource: role(`${namePrefix(env)}-y`), context: { 'iam:PermissionsBoundary': own.boundary }, expected: 'Deny', why: 'no IAM under the boundary' },
    { principal: p, action: 'iam:PutRolePolicy', resource: p.arn, expected: 'Deny', why: 'widen itself' },
    { principal: p, action: 'sts:AssumeRole', resource: role(deployRoleName(env)), expected: 'Deny', why: 'chain into the deploy role' },
    { principal: p, action: 's3:GetObject', resource: `arn:aws:s3:::${bootstrap.stateBucketName}/${env}/data.tfstate`, expected: 'Deny', why: 'Terraform state' },
  ];
}

/**
 * The two gateways, as the compute stack synthesises their roles (inline policies and boundary),
 * and, for contrast, a service that does connect to the database.
 */
function gatewayRows(env: string): Row[] {
  const own = environmentResources(env);
  const theirs = environmentResources(other(env));
  const b2c = workloadRole(env, `${namePrefix(env)}-gateway-b2c`);
  const b2b = workloadRole(env, `${namePrefix(env)}-gateway-b2b`);
  const theme = workloadRole(env, `${namePrefix(env)}-theme`);
  const dbRow = (principal: SimPrincipal): Row => ({
    principal,
    action: 'secretsmanager:GetSecretValue',
    resource: own.dbSecret,
    context: { [RDS_SECRET_TAG]: own.dbInstance },
    expected: 'Deny',
    // Closed: the config reader needs database settings only of services that connect, and the
    // gateways (access.ts database: false) get neither DB_* variables nor a database secret grant.
    why: 'the database master secret: a gateway does not use the database',
  });
  const appLogin = (principal: SimPrincipal, expected: Expected, why: string): Row => ({ principal, action: 'secretsmanager:GetSecretValue', resource: own.dbAppSecret, expected, why });
  return [
    dbRow(b2c),
    dbRow(b2b),
    appLogin(b2c, 'Deny', 'the application database login: a gateway does not use the database'),
    appLogin(b2b, 'Deny', 'the application database login: a gateway does not use the database'),
    appLogin(theme, 'Allow', 'theme connects to RDS as the application role'),
    { ...dbRow(theme), why: 'the master secret is the migration task’s alone' },
    { principal: b2c, action: 'secretsmanager:GetSecretValue', resource: theirs.dbSecret, context: { [RDS_SECRET_TAG]: theirs.dbInstance }, expected: 'Deny', why: `${other(env)}'s database secret` },
    { principal: b2c, action: 'secretsmanager:GetSecretValue', resource: own.stripeSecret, expected: 'Allow', why: 'its Stripe key (access matrix)' },
    { principal: b2c, action: 'secretsmanager:GetSecretValue', resource: own.geminiSecret, expected: 'Deny', why: 'the Gemini key is core-llm’s' },
    { principal: b2c, action: 'secretsmanager:GetSecretValue', resource: theirs.stripeSecret, expected: 'Deny', why: `${other(env)}'s Stripe key` },
    { principal: b2b, action: 'secretsmanager:GetSecretValue', resource: own.stripeSecret, expected: 'Deny', why: 'Stripe is gateway-b2c’s' },
    { principal: b2c, action: 'sqs:SendMessage', resource: own.docJobsQueue, resourcePolicy: own.docJobsQueuePolicy, expected: 'Deny', why: 'queues are the order service’s' },
    { principal: b2b, action: 's3:GetObject', resource: `${theirs.reportsBucket}/client-1/order-1.pdf`, resourcePolicy: theirs.reportsBucketPolicy, expected: 'Deny', why: `${other(env)}'s reports` },
  ];
}

/**
 * The doc-job queues as the compute stack grants them: the doc worker consumes both (interactive
 * first) and sends to both (hand-offs, the sweeper), the batch worker sends its rows to
 * batch-doc-jobs only, the order service its B2C jobs to doc-jobs only. A queue's attributes are
 * read by its consumers alone (the consumer loop, the doc worker's deadlines and sweeper): a sender
 * only sends.
 */
function docJobQueueRows(env: string): Row[] {
  const own = environmentResources(env);
  const theirs = environmentResources(other(env));
  const doc = workloadRole(env, `${namePrefix(env)}-doc-generation-task`);
  const batch = workloadRole(env, `${namePrefix(env)}-b2b-batch-task`);
  const order = workloadRole(env, `${namePrefix(env)}-order`);
  const interactive = { resource: own.docJobsQueue, resourcePolicy: own.docJobsQueuePolicy };
  const rows = { resource: own.batchDocJobsQueue, resourcePolicy: own.batchDocJobsQueuePolicy };
  const batches = { resource: own.batchJobsQueue, resourcePolicy: own.batchJobsQueuePolicy };
  const attributes = 'sqs:GetQueueAttributes';
  return [
    { principal: doc, action: attributes, ...interactive, expected: 'Allow', why: 'its deadlines follow the visibility timeout and redrive policy; the sweeper reads the backlog' },
    { principal: doc, action: attributes, ...rows, expected: 'Allow', why: 'the same, for the batch rows’ queue it consumes' },
    { principal: batch, action: attributes, ...batches, expected: 'Allow', why: 'its consumer reads the visibility timeout of the queue it consumes' },
    { principal: batch, action: attributes, ...rows, expected: 'Deny', why: 'it only sends batch doc jobs: no sender reads a queue’s attributes' },
    { principal: order, action: attributes, ...interactive, expected: 'Deny', why: 'it only sends B2C doc jobs' },
    { principal: order, action: attributes, ...batches, expected: 'Deny', why: 'it only sends batch jobs' },
    { principal: order, action: 'sqs:SendMessage', ...batches, expected: 'Allow', why: 'a new (or replayed) batch’s job' },
    { principal: batch, action: 'sqs:ReceiveMessage', ...batches, expected: 'Allow', why: 'consumes batch jobs' },
    { principal: doc, action: 'sqs:ReceiveMessage', ...interactive, expected: 'Allow', why: 'consumes interactive doc jobs' },
    { principal: doc, action: 'sqs:ReceiveMessage', ...rows, expected: 'Allow', why: 'consumes batch rows’ doc jobs' },
    { principal: doc, action: 'sqs:SendMessage', ...rows, expected: 'Allow', why: 'a batch row’s hand-off and re-send go to its own queue' },
    { principal: doc, action: 'sqs:ReceiveMessage', resource: theirs.batchDocJobsQueue, resourcePolicy: theirs.batchDocJobsQueuePolicy, expected: 'Deny', why: `${other(env)}'s batch doc jobs` },
    { principal: batch, action: 'sqs:SendMessage', ...rows, expected: 'Allow', why: 'releases its rows’ doc jobs' },
    { principal: batch, action: 'sqs:SendMessage', ...interactive, expected: 'Deny', why: 'a batch row never enters the interactive queue' },
    { principal: batch, action: 'sqs:ReceiveMessage', ...rows, expected: 'Deny', why: 'doc jobs are the doc worker’s to consume' },
    { principal: order, action: 'sqs:SendMessage', ...interactive, expected: 'Allow', why: 'a paid B2C order’s job' },
    { principal: order, action: 'sqs:SendMessage', ...rows, expected: 'Deny', why: 'batch rows are the b2b-batch worker’s' },
  ];
}

/**
 * The two workers may list their environment's assets bucket under `batches/` only (s3:prefix): S3
 * answers a GET of a missing key NoSuchKey only to a caller that may list it, and without that a
 * missing batch source (b2b-batch) or rejected-rows report (doc-generation, completing the batch)
 * was a 403 AccessDenied retried into the DLQ. For that check S3 takes the object's key as the
 * prefix. No other prefix, no listing without a prefix, not the reports bucket, and no other
 * workload gains a listing.
 */
function batchListingRows(env: string): Row[] {
  const own = environmentResources(env);
  const theirs = environmentResources(other(env));
  const list = 's3:ListBucket';
  const assets = { resource: own.assetsBucket, resourcePolicy: own.assetsBucketPolicy };
  const readers: Array<[string, string, string]> = [
    ['b2b-batch-task', 'batches/client-1/b-1/source.json', 'a missing batch source'],
    ['doc-generation-task', 'batches/client-1/b-1/rejected-rows.json', 'a missing rejected-rows report'],
  ];
  return [
    ...readers.flatMap(([w, key, what]): Row[] => {
      const p = workloadRole(env, `${namePrefix(env)}-${w}`);
      const missing = { 's3:prefix': key };
      return [
        { principal: p, action: list, ...assets, context: missing, expected: 'Allow', why: `the check S3 makes on a GET of ${what} (its key as the prefix): NoSuchKey, not AccessDenied` },
        { principal: p, action: list, ...assets, context: { 's3:prefix': 'batches/' }, expected: 'Allow', why: 'a listing of the batches/ prefix' },
        { principal: p, action: list, ...assets, context: { 's3:prefix': 'legacy/' }, expected: 'Deny', why: 'a prefix other than batches/' },
        { principal: p, action: list, ...assets, context: { 's3:prefix': 'batchesX/' }, expected: 'Deny', why: 'a prefix that only starts like batches/' },
        { principal: p, action: list, ...assets, expected: 'Deny', why: 'a listing of the whole bucket (no prefix)' },
        { principal: p, action: list, resource: own.reportsBucket, resourcePolicy: own.reportsBucketPolicy, context: { 's3:prefix': 'batches/' }, expected: 'Deny', why: 'the reports bucket' },
        { principal: p, action: list, resource: own.reportsBucket, resourcePolicy: own.reportsBucketPolicy, context: { 's3:prefix': 'client-1/order-1/a-1/order-1.pdf' }, expected: 'Deny', why: 'a document of the reports bucket' },
        { principal: p, action: list, resource: theirs.assetsBucket, resourcePolicy: theirs.assetsBucketPolicy, context: missing, expected: 'Deny', why: `${other(env)}'s assets bucket` },
      ];
    }),
    ...['gateway-b2b', 'gateway-b2c'].flatMap((w): Row[] => {
      const p = workloadRole(env, `${namePrefix(env)}-${w}`);
      return [
        { principal: p, action: list, ...assets, context: { 's3:prefix': 'batches/client-1/b-1/source.json' }, expected: 'Deny', why: 'only the workers list batches/' },
        { principal: p, action: list, resource: own.reportsBucket, resourcePolicy: own.reportsBucketPolicy, context: { 's3:prefix': 'client-1/order-1/a-1/order-1.pdf' }, expected: 'Deny', why: 'a presigned document link needs no listing (no object is read to sign it)' },
      ];
    }),
  ];
}

/**
 * The documents each workload reads or writes (stacks/access.ts), as its code uses them: a document
 * is written by the doc worker alone and read only through the gateways' presigned links (which S3
 * checks against the gateway's role). Nothing else: no read the code never makes (the doc worker
 * reading a document back), no write to the other bucket, nothing of the other environment.
 */
function workloadObjectRows(env: string): Row[] {
  const own = environmentResources(env);
  const theirs = environmentResources(other(env));
  const o = other(env);
  const p = (w: string) => workloadRole(env, `${namePrefix(env)}-${w}`);
  const document = { resource: `${own.reportsBucket}/client-1/order-1/a-1/order-1.pdf`, resourcePolicy: own.reportsBucketPolicy };
  const theirDocument = { resource: `${theirs.reportsBucket}/client-1/order-1/a-1/order-1.pdf`, resourcePolicy: theirs.reportsBucketPolicy };
  const [doc, batch, b2c, b2b] = [p('doc-generation-task'), p('b2b-batch-task'), p('gateway-b2c'), p('gateway-b2b')];
  return [
    { principal: doc, action: 's3:PutObject', ...document, expected: 'Allow', why: 'uploads an attempt’s document' },
    { principal: doc, action: 's3:GetObject', ...document, expected: 'Deny', why: 'it never reads a document back (writeObjects): the gateways presign the links' },
    { principal: doc, action: 's3:PutObject', ...theirDocument, expected: 'Deny', why: `${o}'s reports` },
    { principal: doc, action: 's3:DeleteObject', ...document, expected: 'Deny', why: 'the platform deletes no document' },
    { principal: batch, action: 's3:GetObject', ...document, expected: 'Deny', why: 'the batch worker reads no document' },
    { principal: batch, action: 's3:PutObject', ...document, expected: 'Deny', why: 'documents are the doc worker’s to write' },
    { principal: b2c, action: 's3:GetObject', ...document, expected: 'Allow', why: 'the presigned link of GET /b2c/orders/:id/document' },
    { principal: b2c, action: 's3:PutObject', ...document, expected: 'Deny', why: 'a gateway writes no document' },
    { principal: b2b, action: 's3:GetObject', ...document, expected: 'Allow', why: 'the presigned document link of a B2B order' },
    { principal: b2b, action: 's3:PutObject', ...document, expected: 'Deny', why: 'a gateway writes no document' },
  ];
}

type BatchFile = 'source' | 'rejectedRows' | 'manifest';
type ObjectAction = 's3:GetObject' | 's3:PutObject';

/**
 * A batch's files (`batches/<clientId>/<batchId>/…` of the assets bucket, at the keys the code
 * builds, core/domain/batches.ts), each granted to the workloads that use it and no other: the
 * source is written by gateway-b2b and read by b2b-batch, the rejected-rows report written by
 * b2b-batch and read by both workers as they complete the batch, the manifest written by the
 * completing worker and read through gateway-b2b's presigned link. None may rewrite what another
 * wrote for it to read; and what each may do stops at those files: not the same name outside
 * `batches/`, not a file only ending like it, not one deeper or shallower than a batch's, not under
 * folders (or a manifest name) that are no UUIDs, not another bucket, not the other environment.
 */
function batchObjectRows(env: string): Row[] {
  const own = environmentResources(env);
  const theirs = environmentResources(other(env));
  const o = other(env);
  const [clientId, batchId] = ['5b0c7a1e-3f2d-4c8b-9a6e-1d2c3b4a5f60', '8e7d6c5b-4a39-4281-b7f6-e5d4c3b2a190'];
  const keys: Record<BatchFile, string> = {
    source: batchSourceKey(clientId, batchId),
    rejectedRows: rejectedRowsKey(clientId, batchId),
    manifest: batchManifestKey(clientId, batchId, '0f1e2d3c-4b5a-4697-8877-665544332211'),
  };
  const what: Record<BatchFile, string> = {
    source: 'a batch source (gateway-b2b writes it, b2b-batch reads it)',
    rejectedRows: 'a rejected-rows report (b2b-batch writes it, the workers read it)',
    manifest: 'a manifest (the completing worker writes it, gateway-b2b presigns it)',
  };
  const uses: Array<{ workload: string; use: Partial<Record<ObjectAction, Partial<Record<BatchFile, string>>>> }> = [
    { workload: 'gateway-b2b', use: { 's3:GetObject': { manifest: 'the presigned manifest link of GET /b2b/batches/:id' }, 's3:PutObject': { source: 'stores the batch source' } } },
    {
      workload: 'b2b-batch-task',
      use: {
        's3:GetObject': { source: 'streams the batch source', rejectedRows: 'completing the batch reads the report it wrote' },
        's3:PutObject': { rejectedRows: 'writes the rejected-rows report', manifest: 'completing the batch writes its manifest' },
      },
    },
    { workload: 'doc-generation-task', use: { 's3:GetObject': { rejectedRows: 'completing a batch reads its rejected-rows report' }, 's3:PutObject': { manifest: 'completing a batch writes its manifest' } } },
    { workload: 'gateway-b2c', use: {} },
  ];
  const actions: ObjectAction[] = ['s3:GetObject', 's3:PutObject'];
  const files = Object.keys(keys) as BatchFile[];
  return uses.flatMap(({ workload, use }): Row[] => {
    const principal = workloadRole(env, `${namePrefix(env)}-${workload}`);
    const at = (bucket: string, resourcePolicy: SimRequest['resourcePolicy'], key: string) => ({ resource: `${bucket}/${key}`, resourcePolicy });
    const assets = (key: string) => at(own.assetsBucket, own.assetsBucketPolicy, key);
    return actions.flatMap((action) =>
      files.flatMap((file): Row[] => {
        const why = use[action]?.[file];
        if (!why) return [{ principal, action, ...assets(keys[file]), expected: 'Deny', why: `${what[file]}: not a file it ${action === 's3:GetObject' ? 'reads' : 'writes'}` }];
        const dir = keys[file].slice(0, keys[file].lastIndexOf('/') + 1);
        const name = keys[file].slice(dir.length);
        return [
          { principal, action, ...assets(keys[file]), expected: 'Allow', why },
          { principal, action, ...assets(keys[file].replace(/^batches\//, 'legacy/')), expected: 'Deny', why: 'the same file outside batches/' },
          { principal, action, ...assets(`${dir}old-${name}`), expected: 'Deny', why: `a file whose name only ends like ${name}` },
          { principal, action, ...assets(`${dir}nested/${name}`), expected: 'Deny', why: 'the same name one folder deeper than a batch' },
          { principal, action, ...assets(`${BATCH_KEY_PREFIX}${clientId}/${name}`), expected: 'Deny', why: 'the same name without its batch folder' },
          { principal, action, ...assets(keys[file].replace(clientId, 'acme')), expected: 'Deny', why: 'a client folder that is no client id (a UUID)' },
          { principal, action, ...assets(keys[file].replace(batchId, `${batchId.slice(0, 35)}`)), expected: 'Deny', why: 'a batch folder one character short of a UUID' },
          {
            principal,
            action,
            ...assets(keys[file].replace(clientId, `${clientId.slice(0, 3)}/${clientId.slice(4)}`)),
            expected: 'Deny',
            why: 'a folder deeper at the same length: a / where the client id has a hex digit (IAM’s ? matches /)',
          },
          ...(file === 'manifest'
            ? [{ principal, action, ...assets(`${dir}manifest-latest.json`), expected: 'Deny' as const, why: 'a manifest not named by a completion id (a UUID)' }]
            : []),
          { principal, action, ...at(own.spaBucket, own.spaBucketPolicy, keys[file]), expected: 'Deny', why: 'the same key in another bucket (the SPA’s)' },
          { principal, action, ...at(theirs.assetsBucket, theirs.assetsBucketPolicy, keys[file]), expected: 'Deny', why: `${o}'s assets bucket` },
        ];
      }),
    );
  });
}

/**
 * The NAT instance of the network stack, its role and boundary as synthesised: it can take over
 * its own environment's floating interface and finish its launch, nothing of the other's.
 */
function natRows(env: string): Row[] {
  const nat = workloadRole(env, `${namePrefix(env)}-nat`, 'network');
  const named = (name: string) => ({ 'aws:ResourceTag/Name': name });
  const group = (prefix: string) => `arn:aws:autoscaling:${REGION}:${ACCOUNT}:autoScalingGroup:11111111-2222-3333-4444-555555555555:autoScalingGroupName/${prefix}-nat`;
  return [
    { principal: nat, action: 'ec2:AttachNetworkInterface', resource: ec2('network-interface', 'eni-0123456789abcdef0'), context: named(`${namePrefix(env)}-nat-egress`), expected: 'Allow', why: 'its floating egress interface' },
    { principal: nat, action: 'ec2:AttachNetworkInterface', resource: ec2('instance', 'i-0123456789abcdef0'), context: named(`${namePrefix(env)}-nat`), expected: 'Allow', why: 'onto itself' },
    { principal: nat, action: 'ec2:ModifyNetworkInterfaceAttribute', resource: ec2('network-interface', 'eni-0123456789abcdef0'), context: named(`${namePrefix(env)}-nat-egress`), expected: 'Allow', why: 'source/dest check off' },
    { principal: nat, action: 'autoscaling:CompleteLifecycleAction', resource: group(namePrefix(env)), expected: 'Allow', why: 'its launch hook' },
    { principal: nat, action: 'ssm:UpdateInstanceInformation', resource: ec2('instance', 'i-0123456789abcdef0'), expected: 'Allow', why: 'Session Manager (SSM Agent)' },
    { principal: nat, action: 'ec2:AttachNetworkInterface', resource: ec2('network-interface', 'eni-0fedcba9876543210'), context: named(`${namePrefix(other(env))}-nat-egress`), expected: 'Deny', why: `${other(env)}'s egress interface` },
    { principal: nat, action: 'autoscaling:CompleteLifecycleAction', resource: group(namePrefix(other(env))), expected: 'Deny', why: `${other(env)}'s NAT group` },
    { principal: nat, action: 'secretsmanager:GetSecretValue', resource: environmentResources(env).stripeSecret, expected: 'Deny', why: 'no secret of its environment' },
  ];
}

/**
 * The storage-move task of the `storageSource` variant (migration.storageSource on): its task role
 * fills its own environment's reports and assets buckets and nothing else, never deleting; its
 * execution role reads the old storage's key (and the RDS master secret) for ECS to inject, and no
 * other secret of the environment.
 */
function storageMoveRows(env: string): Row[] {
  const own = environmentResources(env);
  const theirs = environmentResources(other(env));
  const o = other(env);
  const task = workloadRole(env, `${namePrefix(env)}-storage-move-task`, 'compute', 'storageSource');
  const exec = workloadRole(env, `${namePrefix(env)}-storage-move-exec`, 'compute', 'storageSource');
  const sourceSecret = (e: string) => `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${namePrefix(e)}-${SECRET_STEMS.storageSource}-AbCdEf`;
  const report = { resource: `${own.reportsBucket}/client-1/order-1.pdf`, resourcePolicy: own.reportsBucketPolicy };
  const asset = { resource: `${own.assetsBucket}/legacy/logo.png`, resourcePolicy: own.assetsBucketPolicy };
  return [
    { principal: task, action: 's3:PutObject', ...report, expected: 'Allow', why: 'writes the moved document (single PUT, multipart parts)' },
    { principal: task, action: 's3:PutObject', ...asset, expected: 'Allow', why: 'writes the moved asset' },
    { principal: task, action: 's3:GetObject', ...report, expected: 'Allow', why: 'HeadObject and the read-back of --verify-only' },
    { principal: task, action: 's3:GetObject', ...asset, expected: 'Allow', why: 'HeadObject and the read-back of --verify-only' },
    { principal: task, action: 's3:AbortMultipartUpload', ...report, expected: 'Allow', why: 'abandons a multipart upload whose size was wrong' },
    { principal: task, action: 's3:ListBucket', resource: own.reportsBucket, resourcePolicy: own.reportsBucketPolicy, expected: 'Allow', why: 'HeadBucket; a missing key answers 404' },
    { principal: task, action: 's3:ListBucket', resource: own.assetsBucket, resourcePolicy: own.assetsBucketPolicy, expected: 'Allow', why: 'HeadBucket; a missing key answers 404' },
    { principal: task, action: 's3:DeleteObject', ...report, expected: 'Deny', why: 'the move never deletes' },
    { principal: task, action: 's3:DeleteObject', ...asset, expected: 'Deny', why: 'the move never deletes' },
    { principal: task, action: 's3:PutObject', resource: `${own.spaBucket}/index.html`, resourcePolicy: own.spaBucketPolicy, expected: 'Deny', why: 'a bucket the move does not fill (the SPA)' },
    { principal: task, action: 's3:PutObject', resource: own.stateKey('data'), expected: 'Deny', why: 'Terraform state' },
    { principal: task, action: 's3:PutObject', resource: `${theirs.reportsBucket}/client-1/order-1.pdf`, resourcePolicy: theirs.reportsBucketPolicy, expected: 'Deny', why: `${o}'s reports` },
    { principal: task, action: 's3:PutObject', resource: `${theirs.assetsBucket}/legacy/logo.png`, resourcePolicy: theirs.assetsBucketPolicy, expected: 'Deny', why: `${o}'s assets` },
    { principal: task, action: 's3:GetObject', resource: `${theirs.reportsBucket}/client-1/order-1.pdf`, resourcePolicy: theirs.reportsBucketPolicy, expected: 'Deny', why: `${o}'s reports` },
    { principal: task, action: 's3:ListBucket', resource: theirs.reportsBucket, resourcePolicy: theirs.reportsBucketPolicy, expected: 'Deny', why: `${o}'s bucket` },
    { principal: task, action: 'secretsmanager:GetSecretValue', resource: sourceSecret(env), expected: 'Deny', why: 'the application reads no secret: ECS injects the key' },
    { principal: exec, action: 'secretsmanager:GetSecretValue', resource: sourceSecret(env), expected: 'Allow', why: 'ECS injects the old storage’s key (SOURCE_AWS_*)' },
    { principal: exec, action: 'secretsmanager:GetSecretValue', resource: own.dbSecret, context: { [RDS_SECRET_TAG]: own.dbInstance }, expected: 'Allow', why: 'ECS injects PGUSER/PGPASSWORD' },
    { principal: exec, action: 'secretsmanager:GetSecretValue', resource: sourceSecret(o), expected: 'Deny', why: `${o}'s source key` },
    { principal: exec, action: 'secretsmanager:GetSecretValue', resource: own.geminiSecret, expected: 'Deny', why: 'the Gemini key is core-llm’s' },
    { principal: exec, action: 'secretsmanager:GetSecretValue', resource: own.stripeSecret, expected: 'Deny', why: 'the Stripe key is gateway-b2c’s' },
    { principal: exec, action: 'secretsmanager:GetSecretValue', resource: own.dbAppSecret, expected: 'Deny', why: 'the app login: the move connects as the master user' },
    { principal: exec, action: 's3:PutObject', ...report, expected: 'Deny', why: 'the execution role pulls and logs only' },
  ];
}

const STRANGER = '210987654321';
const servicePrincipal = (name: string): SimPrincipal => ({ label: name, arn: name, identityPolicies: [] });
/** sts:AssumeRole of a role of a synthesised stack, its trust policy as the resource policy. */
const trustOf = (stack: string, name: string) => {
  const role = resources(stack, 'aws_iam_role').find((r) => r.config.name === name);
  if (!role) throw new Error(`${stack}: no role ${name}`);
  return { action: 'sts:AssumeRole', resource: `arn:aws:iam::${ACCOUNT}:role/${name}`, resourcePolicy: resolvedPolicy(stack, role.config.assume_role_policy) };
};

/**
 * The alarm topic's policy (network stack) with the two services that publish to it as the
 * principals: each publishes for this account's alarms and budgets, never for another account's
 * (a bare service principal would let any account's alarm or budget name this topic).
 */
function alarmTopicRows(env: string): Row[] {
  const topicPolicy = resources(`${env}-network`, 'aws_sns_topic_policy')[0];
  const resourcePolicy = resolvedPolicy(`${env}-network`, topicPolicy.config.policy);
  const topic = `arn:aws:sns:${REGION}:${ACCOUNT}:${namePrefix(env)}-alarms`;
  const cloudwatch = servicePrincipal('cloudwatch.amazonaws.com');
  const budgets = servicePrincipal('budgets.amazonaws.com');
  const from = (account: string, sourceArn: string) => ({ 'aws:SourceAccount': account, 'aws:SourceArn': sourceArn });
  const publish = { action: 'sns:Publish', resource: topic, resourcePolicy };
  return [
    { principal: cloudwatch, ...publish, context: from(ACCOUNT, `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:${namePrefix(env)}-order-5xx`), expected: 'Allow', why: 'an alarm of this account' },
    { principal: cloudwatch, ...publish, context: from(STRANGER, `arn:aws:cloudwatch:${REGION}:${STRANGER}:alarm:anything`), expected: 'Deny', why: 'another account’s alarm naming this topic (confused deputy)' },
    { principal: budgets, ...publish, context: from(ACCOUNT, `arn:aws:budgets::${ACCOUNT}:budget/${namePrefix(env)}-monthly`), expected: 'Allow', why: 'the budget of this account' },
    { principal: budgets, ...publish, context: from(STRANGER, `arn:aws:budgets::${STRANGER}:budget/anything`), expected: 'Deny', why: 'another account’s budget naming this topic (confused deputy)' },
    { principal: servicePrincipal('events.amazonaws.com'), ...publish, context: from(ACCOUNT, `arn:aws:events:${REGION}:${ACCOUNT}:rule/anything`), expected: 'Deny', why: 'no other service publishes' },
  ];
}

/**
 * The ECS roles' trust policies (compute stack; the storage-move task's of its variant) with ECS as
 * the principal. A task of this account may take each role, a task of another account naming it
 * may not. The task roles (the applications' grants) require the source, as ECS documents for
 * them; the execution roles refuse a source of another account and take an assumption that
 * names none (ECS documents no source keys for them, and a positive condition on a missing key
 * would stop every task start).
 */
function taskTrustRows(env: string): Row[] {
  const ecs = servicePrincipal('ecs-tasks.amazonaws.com');
  const task = (account: string) => ({ 'aws:SourceAccount': account, 'aws:SourceArn': `arn:aws:ecs:${REGION}:${account}:task/${namePrefix(env)}/0123456789abcdef0123456789abcdef` });
  const families: Array<[string, string]> = [
    ...['doc-generation', 'b2b-batch', 'db-move'].map((t): [string, string] => [`${env}-compute`, `${namePrefix(env)}-${t}`]),
    [variantStack(`${env}-compute`, 'storageSource'), `${namePrefix(env)}-storage-move`],
  ];
  return families.flatMap(([stack, family]): Row[] => {
    const taskRole = trustOf(stack, `${family}-task`);
    const execRole = trustOf(stack, `${family}-exec`);
    return [
      { principal: ecs, ...taskRole, context: task(ACCOUNT), expected: 'Allow', why: 'a task of this account' },
      { principal: ecs, ...taskRole, context: task(STRANGER), expected: 'Deny', why: 'a task of another account naming the role (confused deputy)' },
      { principal: ecs, ...taskRole, expected: 'Deny', why: 'an assumption naming no task: the task role requires its source' },
      { principal: ecs, ...execRole, context: task(ACCOUNT), expected: 'Allow', why: 'ECS starting a task of this account (pull, logs, injected secrets)' },
      { principal: ecs, ...execRole, context: task(STRANGER), expected: 'Deny', why: 'a task of another account naming the execution role (confused deputy)' },
      { principal: ecs, ...execRole, context: { 'aws:SourceAccount': ACCOUNT, 'aws:SourceArn': `arn:aws:ecs:us-east-1:${ACCOUNT}:task/x/0123456789abcdef0123456789abcdef` }, expected: 'Deny', why: 'a task in another Region' },
      { principal: ecs, ...execRole, expected: 'Allow', why: 'an assumption naming no source (undocumented for execution roles): not refused' },
    ];
  });
}

/**
 * The six functions' execution roles with Lambda as the principal: Lambda may take each for that
 * function of this account; a source of another account, or another function (the other
 * environment's same service), is refused; an assumption naming no source is not (Lambda
 * documents none for execution roles, and a function created in a new VPC has been reported
 * refused by a positive aws:SourceArn condition).
 */
function lambdaTrustRows(env: string): Row[] {
  const lambda = servicePrincipal('lambda.amazonaws.com');
  const fnArn = (account: string, name: string) => `arn:aws:lambda:${REGION}:${account}:function:${name}`;
  return SERVICE_NAMES.flatMap((service): Row[] => {
    const name = `${namePrefix(env)}-${service}`;
    const trust = trustOf(`${env}-compute`, name);
    const from = (account: string, arn: string) => ({ 'aws:SourceAccount': account, 'aws:SourceArn': arn });
    return [
      { principal: lambda, ...trust, context: from(ACCOUNT, fnArn(ACCOUNT, name)), expected: 'Allow', why: 'its own function' },
      { principal: lambda, ...trust, context: from(ACCOUNT, `${fnArn(ACCOUNT, name)}:live`), expected: 'Allow', why: 'its own function, by the alias' },
      { principal: lambda, ...trust, context: from(STRANGER, fnArn(STRANGER, name)), expected: 'Deny', why: 'a function of another account naming the role (confused deputy)' },
      { principal: lambda, ...trust, context: from(ACCOUNT, fnArn(ACCOUNT, `${namePrefix(other(env))}-${service}`)), expected: 'Deny', why: `another function of the account (${other(env)}'s ${service})` },
      { principal: lambda, ...trust, expected: 'Allow', why: 'an assumption naming no source (undocumented for execution roles): not refused' },
    ];
  });
}

/**
 * The Hyperplane interfaces of the functions in the VPC (those that reach RDS or the cache), made
 * and removed by Lambda with the function's role: only in this environment's private subnets, with
 * its lambda security group, in this account and Region; never in the isolated subnets, another
 * environment's subnets or with another group.
 */
function lambdaEniRows(env: string): Row[] {
  const own = environmentResources(env);
  const theirs = environmentResources(other(env));
  const o = other(env);
  const eni = (region: string) => `arn:aws:ec2:${region}:${ACCOUNT}:network-interface/eni-0a1b2c3d4e5f60718`;
  const inSubnet = (subnet: string) => ({ 'ec2:Subnet': subnet });
  const vpcServices = SERVICE_NAMES.filter((s) => SERVICE_ACCESS[s].database || SERVICE_ACCESS[s].cache);
  const create = 'ec2:CreateNetworkInterface';
  return vpcServices.flatMap((service): Row[] => {
    const fn = workloadRole(env, `${namePrefix(env)}-${service}`);
    return [
      { principal: fn, action: create, resource: own.subnet('private-0'), expected: 'Allow', why: 'an interface in its private subnet (AZ a)' },
      { principal: fn, action: create, resource: own.subnet('private-1'), expected: 'Allow', why: 'an interface in its private subnet (AZ b)' },
      { principal: fn, action: create, resource: own.securityGroup('lambda'), expected: 'Allow', why: 'with the lambda security group' },
      { principal: fn, action: create, resource: eni(REGION), expected: 'Allow', why: 'the new interface, in this account and Region' },
      { principal: fn, action: create, resource: theirs.subnet('private-0'), expected: 'Deny', why: `${o}'s private subnet` },
      { principal: fn, action: create, resource: own.subnet('isolated-0'), expected: 'Deny', why: 'the isolated subnet of RDS' },
      { principal: fn, action: create, resource: own.subnet('public-0'), expected: 'Deny', why: 'the public subnet' },
      { principal: fn, action: create, resource: own.securityGroup('db'), expected: 'Deny', why: 'the database’s security group' },
      { principal: fn, action: create, resource: theirs.securityGroup('lambda'), expected: 'Deny', why: `${o}'s lambda security group` },
      { principal: fn, action: create, resource: eni('us-east-1'), expected: 'Deny', why: 'an interface in another Region' },
      ...(['ec2:DeleteNetworkInterface', 'ec2:AssignPrivateIpAddresses', 'ec2:UnassignPrivateIpAddresses'] as const).flatMap((action): Row[] => [
        { principal: fn, action, resource: eni(REGION), context: inSubnet(own.subnet('private-1')), expected: 'Allow', why: 'an interface in its private subnet' },
        { principal: fn, action, resource: eni(REGION), context: inSubnet(theirs.subnet('private-1')), expected: 'Deny', why: `an interface in ${o}'s private subnet` },
        { principal: fn, action, resource: eni(REGION), context: inSubnet(own.subnet('isolated-1')), expected: 'Deny', why: 'an interface of the isolated subnets (RDS’s)' },
      ]),
      { principal: fn, action: 'ec2:DescribeNetworkInterfaces', resource: '*', expected: 'Allow', why: 'the listings IAM authorises on "*" only' },
    ];
  });
}

/**
 * IAM authentication to the cache (elasticache:Connect names the cache and the user): core-llm as
 * its own cache user on its own environment's cache only; no other workload at all; the boundary
 * caps any role at its environment's cache and users; the deploy role manages the users and their
 * group of its environment, the plan role only describes them.
 */
function cacheRows(env: string): Row[] {
  const o = other(env);
  const cache = (e: string) => `arn:aws:elasticache:${REGION}:${ACCOUNT}:serverlesscache:${namePrefix(e)}-cache`;
  const user = (e: string, workload = 'core-llm') => `arn:aws:elasticache:${REGION}:${ACCOUNT}:user:${namePrefix(e)}-${workload}`;
  const userGroup = (e: string) => `arn:aws:elasticache:${REGION}:${ACCOUNT}:usergroup:${namePrefix(e)}-cache-users`;
  const connect = 'elasticache:Connect';
  const coreLlm = workloadRole(env, `${namePrefix(env)}-core-llm`);
  const others = [
    ...SERVICE_NAMES.filter((s) => !SERVICE_ACCESS[s].cache).map((s) => workloadRole(env, `${namePrefix(env)}-${s}`)),
    ...['doc-generation', 'b2b-batch'].map((w) => workloadRole(env, `${namePrefix(env)}-${w}-task`)),
  ];
  const bounded = roleUnderBoundary(env);
  const deploy = deployRole(env);
  const plan = planRole();
  return [
    { principal: coreLlm, action: connect, resource: cache(env), expected: 'Allow', why: 'its environment’s cache (IAM authentication)' },
    { principal: coreLlm, action: connect, resource: user(env), expected: 'Allow', why: 'as its own cache user' },
    { principal: coreLlm, action: connect, resource: cache(o), expected: 'Deny', why: `${o}'s cache` },
    { principal: coreLlm, action: connect, resource: user(o), expected: 'Deny', why: `${o}'s core-llm cache user` },
    { principal: coreLlm, action: connect, resource: user(env, 'theme'), expected: 'Deny', why: 'a cache user of another workload' },
    ...others.flatMap((principal): Row[] => [
      { principal, action: connect, resource: cache(env), expected: 'Deny', why: 'the cache is core-llm’s alone (access matrix cache: false)' },
      { principal, action: connect, resource: user(env), expected: 'Deny', why: 'core-llm’s cache user' },
    ]),
    { principal: bounded, action: connect, resource: cache(env), expected: 'Allow', why: 'its own environment’s cache' },
    { principal: bounded, action: connect, resource: user(env), expected: 'Allow', why: 'its own environment’s cache user' },
    { principal: bounded, action: connect, resource: cache(o), expected: 'Deny', why: `${o}'s cache, whatever its own policy says` },
    { principal: bounded, action: connect, resource: user(o), expected: 'Deny', why: `${o}'s cache user` },
    { principal: deploy, action: 'elasticache:CreateUser', resource: user(env), expected: 'Allow', why: 'its environment’s cache user' },
    { principal: deploy, action: 'elasticache:CreateUser', resource: user(o), expected: 'Deny', why: `${o}'s cache user` },
    { principal: deploy, action: 'elasticache:ModifyUserGroup', resource: userGroup(env), expected: 'Allow', why: 'its environment’s user group' },
    { principal: deploy, action: 'elasticache:ModifyUserGroup', resource: userGroup(o), expected: 'Deny', why: `${o}'s user group` },
    { principal: deploy, action: 'elasticache:ModifyServerlessCache', resource: userGroup(o), expected: 'Deny', why: `attach ${o}'s user group` },
    { principal: deploy, action: connect, resource: cache(env), expected: 'Deny', why: 'CI manages the cache, never connects to it' },
    { principal: plan, action: 'elasticache:DescribeUsers', resource: user(env), expected: 'Allow', why: 'cache user refresh' },
    { principal: plan, action: 'elasticache:DescribeUserGroups', resource: userGroup(env), expected: 'Allow', why: 'user group refresh' },
    { principal: plan, action: 'elasticache:ModifyUser', resource: user(env), expected: 'Deny', why: 'read-only' },
    { principal: plan, action: connect, resource: cache(env), expected: 'Deny', why: 'read-only, and no data' },
  ];
}

const rows: Row[] = ENVS.flatMap((env) => [...cacheRows(env), ...deployRows(env), ...ec2TagRows(env), ...smokeSecretRows(env), ...imageTagRows(env), ...internalHealthRows(env), ...iamRows(env), ...objectRows(env), ...planRows(env), ...boundaryRows(env), ...gatewayRows(env), ...docJobQueueRows(env), ...workloadObjectRows(env), ...batchObjectRows(env), ...batchListingRows(env), ...natRows(env), ...storageMoveRows(env), ...alarmTopicRows(env), ...taskTrustRows(env), ...lambdaTrustRows(env), ...lambdaEniRows(env)]);

const verdict = (d: Decision): Expected => (d === 'Allowed' ? 'Allow' : 'Deny');
const table: string[] = [];
const describeRow = (r: Row) => `${r.principal.label} ${r.action} ${r.resource.replace(`:${ACCOUNT}:`, ':…:')}${r.context && Object.keys(r.context).length ? ` [${Object.entries(r.context).map(([k, v]) => `${k}=${v}`).join(', ')}]` : ''}`;

afterAll(() => {
  const header = ['| principal | action | resource (context) | expected | got | why |', '|---|---|---|---|---|---|'];
  const text = [...header, ...table].join('\n');
  fs.writeFileSync(path.join(os.tmpdir(), 'docplatform-iam-simulation.md'), `${text}\n`);
  console.log(`IAM simulation, ${table.length} requests (also in ${path.join(os.tmpdir(), 'docplatform-iam-simulation.md')}):\n${text}`);
});

test('the table covers both environments, every principal kind, and the requests the issue names', () => {
  for (const env of ENVS) {
    const of = (label: string) => rows.filter((r) => r.principal.label.startsWith(label) && r.resource.includes(namePrefix(env)));
    expect(of(`deploy-${env}`).length).toBeGreaterThan(20);
    expect(rows.some((r) => r.principal.label === `deploy-${other(env)}` && r.expected === 'Deny' && r.resource.includes(namePrefix(env)))).toBe(true);
    expect(of(`role under ${env} boundary`).length).toBeGreaterThan(5);
    expect(of(`${namePrefix(env)}-gateway-b2`).length).toBeGreaterThan(3);
  }
  expect(rows.filter((r) => r.principal.label === 'plan').length).toBeGreaterThan(10);
});

for (const row of rows) {
  const name = `${describeRow(row)} → ${row.expected}`;
  const run = async () => {
    const decision = await simulate(row);
    const got = verdict(decision);
    const cell = (s: string) => s.replace(/\|/g, '\\|');
    table.push(
      `| ${cell(row.principal.label)} | ${row.action} | ${cell(row.resource.replace(`:${ACCOUNT}:`, ':…:'))}${row.context && Object.keys(row.context).length ? ` (${cell(Object.entries(row.context).map(([k, v]) => `${k}=${String(v).replace(`:${ACCOUNT}:`, ':…:')}`).join(', '))})` : ''} | ${row.expected} | ${decision} | ${cell(row.why)} |`,
    );
    expect({ request: describeRow(row), got }).toEqual({ request: describeRow(row), got: row.expected });
  };
  test(name, run);
}
