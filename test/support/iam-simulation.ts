import { createHash } from 'node:crypto';
import { runSimulation } from '@cloud-copilot/iam-simulate';
import { REGION } from '../../core/contract';
import { bootstrap, deployRoleName, namePrefix, workloadBoundaryPolicyName } from '../../stacks/config';
import { resources, sameVariant, synthesizedStack, variantStack, type Variant } from './infra-synth';

/**
 * The synthesised policies as the IAM simulator (@cloud-copilot/iam-simulate) takes them: every
 * Terraform expression in them (`${local.account_id}`, a resource's ARN, a remote-state output)
 * resolved to the concrete ARN it will have, from the same synthesised JSON. No policy is
 * written by hand here: a principal is the policies its role carries in the synthesised stacks.
 */

export const ACCOUNT = '123456789012';

type Json = any;
export interface PolicyRef {
  name: string;
  policy: Json;
}

/** A principal as the simulator sees it: its ARN, identity policies and permissions boundary. */
export interface SimPrincipal {
  label: string;
  arn: string;
  identityPolicies: PolicyRef[];
  boundary?: PolicyRef;
}

const bucketSuffix = '20261201000000000000000001';
/** The RDS-managed master secret of an environment's database: RDS names it `rds!db-<uuid>`. */
const rdsSecretName = (stack: string) => `rds!db-8f14e45f-ceea-467f-a0e6-${stack.startsWith('prod-') ? '000000000002' : '000000000001'}`;

/** A stable EC2-style id suffix per resource of a stack (a subnet or security group of each environment is its own). */
const resourceIdHex = (stack: string, name: string) => createHash('sha256').update(`${stack}/${name}`).digest('hex').slice(0, 16);

function resourceConfig(stack: string, type: string, name: string): Json {
  const config = synthesizedStack(stack).resource?.[type]?.[name];
  if (!config) throw new Error(`${stack}: no ${type}.${name}`);
  return config;
}

/** The value of one attribute of one synthesised resource, as it will be once applied. */
function attribute(stack: string, type: string, name: string, attr: string): string {
  const c = resourceConfig(stack, type, name);
  const str = (v: unknown) => resolveString(stack, String(v));
  const [r, a] = [REGION, ACCOUNT];
  switch (`${type}.${attr}`) {
    case 'aws_cloudwatch_log_group.arn':
      return `arn:aws:logs:${r}:${a}:log-group:${str(c.name)}`;
    case 'aws_lambda_function.function_name':
      return str(c.function_name);
    case 'aws_lambda_function.arn':
      return `arn:aws:lambda:${r}:${a}:function:${str(c.function_name)}`;
    case 'aws_lambda_alias.arn':
      return `arn:aws:lambda:${r}:${a}:function:${str(c.function_name)}:${str(c.name)}`;
    case 'aws_ecr_repository.arn':
      return `arn:aws:ecr:${r}:${a}:repository/${str(c.name)}`;
    case 'aws_s3_bucket.bucket':
    case 'aws_s3_bucket.id':
      return c.bucket ? str(c.bucket) : `${str(c.bucket_prefix)}${bucketSuffix}`;
    case 'aws_s3_bucket.arn':
      return `arn:aws:s3:::${attribute(stack, type, name, 'bucket')}`;
    case 'aws_sqs_queue.arn':
      return `arn:aws:sqs:${r}:${a}:${str(c.name)}`;
    case 'aws_sns_topic.arn':
      return `arn:aws:sns:${r}:${a}:${str(c.name)}`;
    case 'aws_secretsmanager_secret.arn':
      return `arn:aws:secretsmanager:${r}:${a}:secret:${str(c.name)}-AbCdEf`;
    case 'aws_elasticache_serverless_cache.arn':
      return `arn:aws:elasticache:${r}:${a}:serverlesscache:${str(c.name)}`;
    case 'aws_elasticache_user.arn':
      return `arn:aws:elasticache:${r}:${a}:user:${str(c.user_id)}`;
    case 'aws_db_instance.arn':
      return `arn:aws:rds:${r}:${a}:db:${str(c.identifier)}`;
    case 'aws_db_instance.master_user_secret[0].secret_arn':
      return `arn:aws:secretsmanager:${r}:${a}:secret:${rdsSecretName(stack)}-AbCdEf`;
    case 'aws_cloudfront_distribution.arn':
      return `arn:aws:cloudfront::${a}:distribution/E${stack.startsWith('prod-') ? 'PROD' : 'DEV'}0000000000`;
    case 'aws_vpc.owner_id':
      return a;
    case 'aws_network_interface.id':
      return 'eni-0123456789abcdef0';
    case 'aws_subnet.id':
      return `subnet-0${resourceIdHex(stack, name)}`;
    case 'aws_security_group.id':
      return `sg-0${resourceIdHex(stack, name)}`;
    case 'aws_iam_openid_connect_provider.arn':
      return `arn:aws:iam::${a}:oidc-provider/token.actions.githubusercontent.com`;
    default:
      throw new Error(`${stack}: cannot resolve ${type}.${name}.${attr}`);
  }
}

function resolveExpression(stack: string, expression: string): string {
  if (expression === 'local.account_id') return ACCOUNT;
  const remote = /^data\.terraform_remote_state\.cross-stack-reference-input-([a-z0-9-]+)\.outputs\.([A-Za-z0-9_-]+)$/.exec(expression);
  if (remote) {
    const [, upstream, output] = remote;
    // The upstream stack of the same synth: a variant's compute reads its variant's data stack.
    const from = sameVariant(stack, upstream);
    const value = synthesizedStack(from).output?.[output]?.value;
    if (value === undefined) throw new Error(`${stack}: no output ${output} in ${from}`);
    return resolveString(from, String(value));
  }
  // The account id read from an upstream ARN: element(split(":", <arn>), 4).
  if (/^element\(split\(":", .+\), 4\)$/.test(expression)) return ACCOUNT;
  const ref = /^(aws_[a-z0-9_]+)\.([A-Za-z0-9_-]+)\.(.+)$/.exec(expression);
  if (ref) return attribute(stack, ref[1], ref[2], ref[3]);
  throw new Error(`${stack}: cannot resolve \${${expression}}`);
}

/** A string of a synthesised stack with every `${...}` resolved. */
export function resolveString(stack: string, value: string): string {
  return value.replace(/\$\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}/g, (_, expression: string) => resolveExpression(stack, expression));
}

/** A policy document of a synthesised stack, every expression in it resolved. */
export const resolvedPolicy = (stack: string, json: string): Json => JSON.parse(resolveString(stack, json));

const ec2Arn = (type: string, id: string) => `arn:aws:ec2:${REGION}:${ACCOUNT}:${type}/${id}`;
const roleArn = (name: string) => `arn:aws:iam::${ACCOUNT}:role/${name}`;

/** The managed policies attached to a bootstrap role, resolved. */
function attachedPolicies(roleName: string): PolicyRef[] {
  const role = resources('bootstrap', 'aws_iam_role').find((r) => r.config.name === roleName);
  if (!role) throw new Error(`bootstrap: no role ${roleName}`);
  const policies = resources('bootstrap', 'aws_iam_role_policy_attachment')
    .filter((a) => a.config.role === `\${aws_iam_role.${role.name}.name}`)
    .map((a) => /aws_iam_policy\.([^.]+)\.arn/.exec(a.config.policy_arn)![1])
    .map((name) => resources('bootstrap', 'aws_iam_policy').find((p) => p.name === name)!);
  if (policies.length === 0) throw new Error(`bootstrap: ${roleName} has no policies`);
  return policies.map((p) => ({ name: p.config.name, policy: resolvedPolicy('bootstrap', p.config.policy) }));
}

/** An environment's workload boundary, from the bootstrap stack. */
export function boundaryPolicy(env: string): PolicyRef {
  const name = workloadBoundaryPolicyName(env);
  const policy = resources('bootstrap', 'aws_iam_policy').find((p) => p.config.name === name);
  if (!policy) throw new Error(`bootstrap: no boundary ${name}`);
  return { name, policy: resolvedPolicy('bootstrap', policy.config.policy) };
}

export const deployRole = (env: string): SimPrincipal => ({ label: `deploy-${env}`, arn: roleArn(deployRoleName(env)), identityPolicies: attachedPolicies(deployRoleName(env)) });
export const planRole = (): SimPrincipal => ({ label: 'plan', arn: roleArn(bootstrap.planRoleName), identityPolicies: attachedPolicies(bootstrap.planRoleName) });

/**
 * The worst role the deploy role of `env` may create: any name under the environment's prefix,
 * with the boundary it must carry and an identity policy allowing every action on everything.
 */
export const roleUnderBoundary = (env: string): SimPrincipal => ({
  label: `role under ${env} boundary (identity: *:*)`,
  arn: roleArn(`${namePrefix(env)}-anything`),
  identityPolicies: [{ name: 'allow-everything', policy: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: '*', Resource: '*' }] } }],
  boundary: boundaryPolicy(env),
});

/** A role of an environment's stack (compute unless named; of a config variant if given) by name, with its inline policies and its boundary as synthesised. */
export function workloadRole(env: string, roleName: string, layer: 'compute' | 'network' = 'compute', variant: Variant = 'committed'): SimPrincipal {
  const stack = variantStack(`${env}-${layer}`, variant);
  const role = resources(stack, 'aws_iam_role').find((r) => r.config.name === roleName);
  if (!role) throw new Error(`${stack}: no role ${roleName}`);
  const inline = resources(stack, 'aws_iam_role_policy')
    .filter((p) => p.config.role === `\${aws_iam_role.${role.name}.id}`)
    .map((p) => ({ name: p.config.name, policy: resolvedPolicy(stack, p.config.policy) }));
  const boundaryName = /:policy\/(.+)$/.exec(String(role.config.permissions_boundary))?.[1];
  const boundary = boundaryName ? resources('bootstrap', 'aws_iam_policy').find((p) => p.config.name === boundaryName) : undefined;
  if (!boundary) throw new Error(`${stack}: ${roleName} carries no boundary the bootstrap stack creates (${role.config.permissions_boundary})`);
  return {
    label: roleName,
    arn: roleArn(roleName),
    identityPolicies: inline,
    boundary: { name: boundaryName!, policy: resolvedPolicy('bootstrap', boundary.config.policy) },
  };
}

/** The concrete ARNs of an environment's resources, from its synthesised stacks. */
export function environmentResources(env: string) {
  const data = `${env}-data`;
  const compute = `${env}-compute`;
  const edge = `${env}-edge`;
  const named = (stack: string, type: string, pattern: RegExp) => {
    const found = resources(stack, type).find((r) => pattern.test(r.name));
    if (!found) throw new Error(`${stack}: no ${type} matching ${pattern}`);
    return found.name;
  };
  const arnOf = (stack: string, type: string, pattern: RegExp) => attribute(stack, type, named(stack, type, pattern), 'arn');
  const bucketPolicy = (stack: string, bucket: RegExp) => {
    const bucketName = named(stack, 'aws_s3_bucket', bucket);
    const policy = resources(stack, 'aws_s3_bucket_policy').find((p) => p.config.bucket === `\${aws_s3_bucket.${bucketName}.id}`)!;
    return resolvedPolicy(stack, policy.config.policy);
  };
  const queuePolicy = (queue: RegExp) => {
    const queueName = named(data, 'aws_sqs_queue', queue);
    const policy = resources(data, 'aws_sqs_queue_policy').find((p) => p.config.queue_url === `\${aws_sqs_queue.${queueName}.url}`)!;
    return resolvedPolicy(data, policy.config.policy);
  };
  const db = named(data, 'aws_db_instance', /^db$/);
  return {
    reportsBucket: arnOf(data, 'aws_s3_bucket', /^reports_bucket/),
    reportsBucketPolicy: bucketPolicy(data, /^reports_bucket/),
    assetsBucket: arnOf(data, 'aws_s3_bucket', /^assets_bucket/),
    assetsBucketPolicy: bucketPolicy(data, /^assets_bucket/),
    spaBucket: arnOf(edge, 'aws_s3_bucket', /^spa_bucket/),
    spaBucketPolicy: bucketPolicy(edge, /^spa_bucket/),
    docJobsQueue: arnOf(data, 'aws_sqs_queue', /^doc-jobs_queue/),
    docJobsQueuePolicy: queuePolicy(/^doc-jobs_queue/),
    batchDocJobsQueue: arnOf(data, 'aws_sqs_queue', /^batch-doc-jobs_queue/),
    batchDocJobsQueuePolicy: queuePolicy(/^batch-doc-jobs_queue/),
    batchJobsQueue: arnOf(data, 'aws_sqs_queue', /^batch-jobs_queue/),
    batchJobsQueuePolicy: queuePolicy(/^batch-jobs_queue/),
    stripeSecret: arnOf(data, 'aws_secretsmanager_secret', /stripe-secret-key/),
    geminiSecret: arnOf(data, 'aws_secretsmanager_secret', /gemini/),
    /** The login of the application database role (services and workers that connect). */
    dbAppSecret: arnOf(data, 'aws_secretsmanager_secret', /db-app/),
    dbSecret: attribute(data, 'aws_db_instance', db, 'master_user_secret[0].secret_arn'),
    dbInstance: attribute(data, 'aws_db_instance', db, 'arn'),
    orderFunction: attribute(compute, 'aws_lambda_function', named(compute, 'aws_lambda_function', /^fn-order_/), 'arn'),
    themeLive: attribute(compute, 'aws_lambda_alias', named(compute, 'aws_lambda_alias', /^fn-theme_live/), 'arn'),
    docGenerationRepository: arnOf(compute, 'aws_ecr_repository', /^ecr-doc-generation_/),
    orderRole: roleArn(`${namePrefix(env)}-order`),
    /** The network layer's subnets and security groups, as the ARNs EC2 authorises. */
    subnet: (name: `${'private' | 'isolated' | 'public'}-${0 | 1}`) => ec2Arn('subnet', attribute(`${env}-network`, 'aws_subnet', name, 'id')),
    securityGroup: (role: 'lambda' | 'worker' | 'db' | 'cache' | 'migration') => ec2Arn('security-group', attribute(`${env}-network`, 'aws_security_group', `sg-${role}`, 'id')),
    boundary: `arn:aws:iam::${ACCOUNT}:policy/${workloadBoundaryPolicyName(env)}`,
    stateKey: (layer: string) => `arn:aws:s3:::${bootstrap.stateBucketName}/${env}/${layer}.tfstate`,
  };
}

export type Decision = 'Allowed' | 'ExplicitlyDenied' | 'ImplicitlyDenied';

export interface SimRequest {
  principal: SimPrincipal;
  action: string;
  resource: string;
  context?: Record<string, string | string[]>;
  resourcePolicy?: Json;
  /**
   * The resource is IAM's own pattern with literal wildcards (WAF authorises the managed rule groups
   * of a web ACL on `…:regional/managedruleset/*\/*`): the simulator answers for every pattern it matches.
   */
  literalWildcard?: boolean;
}

/**
 * Runs one request through the simulator: identity policies, boundary, resource policy. Every
 * request is over TLS. `runSimulation` validates the policies, the action, the resource against
 * the action's resource types and the context keys; a context key that does not apply to the
 * action would be dropped silently, so it is an error here (the row would prove nothing).
 */
export async function simulate(request: SimRequest): Promise<Decision> {
  const result = await runSimulation(
    {
      request: {
        principal: request.principal.arn,
        action: request.action,
        resource: { resource: request.resource, accountId: ACCOUNT },
        contextVariables: { 'aws:SecureTransport': 'true', 'aws:PrincipalArn': request.principal.arn, 'aws:PrincipalAccount': ACCOUNT, ...request.context },
      },
      identityPolicies: request.principal.identityPolicies,
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      resourcePolicy: request.resourcePolicy,
      permissionBoundaryPolicies: request.principal.boundary ? [request.principal.boundary] : undefined,
    },
    {},
  );
  if (result.resultType === 'error') throw new Error(`simulation refused ${request.action} on ${request.resource}: ${JSON.stringify(result.errors)}`);
  if (result.resultType === 'wildcard' && request.literalWildcard) {
    const ignored = [...new Set(result.results.flatMap((r) => r.ignoredContextKeys ?? []))];
    if (ignored.length > 0) throw new Error(`${request.action} on ${request.resource}: context keys ${ignored.join(', ')} do not apply to the action`);
    return result.overallResult as Decision;
  }
  if (result.resultType !== 'single') throw new Error(`${request.action} on ${request.resource}: expected one resource`);
  const ignored = result.result.ignoredContextKeys ?? [];
  if (ignored.length > 0) throw new Error(`${request.action} on ${request.resource}: context keys ${ignored.join(', ')} do not apply to the action`);
  return result.overallResult as Decision;
}
