import { Construct } from 'constructs';
import { Annotations, Fn, S3Backend, TerraformLocal, TerraformOutput, TerraformStack } from 'cdktf';
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { S3Bucket } from '@cdktf/provider-aws/lib/s3-bucket';
import { S3BucketVersioningA } from '@cdktf/provider-aws/lib/s3-bucket-versioning';
import { S3BucketServerSideEncryptionConfigurationA } from '@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration';
import { S3BucketPublicAccessBlock } from '@cdktf/provider-aws/lib/s3-bucket-public-access-block';
import { S3BucketOwnershipControls } from '@cdktf/provider-aws/lib/s3-bucket-ownership-controls';
import { S3BucketPolicy } from '@cdktf/provider-aws/lib/s3-bucket-policy';
import { S3BucketLifecycleConfiguration } from '@cdktf/provider-aws/lib/s3-bucket-lifecycle-configuration';
import { S3BucketLoggingA } from '@cdktf/provider-aws/lib/s3-bucket-logging';
import { IamOpenidConnectProvider } from '@cdktf/provider-aws/lib/iam-openid-connect-provider';
import { IamPolicy } from '@cdktf/provider-aws/lib/iam-policy';
import { PROJECT } from '../core/contract';
import { bootstrap, deployRoleName, EnvironmentConfig, environments, namePrefix, workloadBoundaryPolicyName } from './config';
import { stateKey } from './backend';
import { CiPolicyContext, EnvironmentPolicyContext } from './ci-policies/context';
import { planStatements } from './ci-policies/plan';
import { deployStatements } from './ci-policies/deploy';
import { workloadBoundaryStatements } from './ci-policies/boundary';
import {
  GITHUB_ID_PATTERN,
  GITHUB_OIDC_AUDIENCE,
  GITHUB_OIDC_HOST,
  GithubOidcRole,
  githubIdIssues,
  githubIdsCommand,
  githubSubjects,
} from '../modules/github-oidc-roles';
import { denyInsecureTransport, policyJson } from '../modules/iam-statements';
import { ABORT_INCOMPLETE_UPLOAD_DAYS } from '../modules/secure-bucket';

export type BootstrapSettings = Omit<typeof bootstrap, 'github' | 'stateInBucket'> & {
  github: EnvironmentConfig['github'];
  stateInBucket: boolean;
};

/** Key prefix of the state bucket's access logs in their bucket. */
export const STATE_ACCESS_LOG_PREFIX = 'state/';

/**
 * The boundary an environment's stacks put on every IAM role they create (that environment's
 * deploy role insists); the compute stack names it, as the bootstrap stack creates it.
 */
export const workloadBoundaryArn = (accountId: string, env: string): string => `arn:aws:iam::${accountId}:policy/${workloadBoundaryPolicyName(env)}`;

/** The context of the plan role (and the policies common to all): every deploy environment. */
export function ciPolicyContext(accountId: string, settings: BootstrapSettings = bootstrap): CiPolicyContext {
  return {
    region: settings.region,
    accountId,
    stateBucket: settings.stateBucketName,
    environments: settings.deployEnvironments,
    envPrefixes: settings.deployEnvironments.map(namePrefix),
    project: PROJECT,
  };
}

/** One environment's view: its prefix alone, so its deploy role reaches nothing of another. */
export function environmentPolicyContext(accountId: string, env: string, settings: BootstrapSettings = bootstrap): EnvironmentPolicyContext {
  const config = environments[env];
  return {
    ...ciPolicyContext(accountId, settings),
    env,
    environments: [env],
    envPrefixes: [namePrefix(env)],
    workloadBoundaryArn: workloadBoundaryArn(accountId, env),
    workloadBoundaryArnPattern: workloadBoundaryArn(accountId, '*'),
    imageSources: config?.images.promoteFrom ? [config.images.promoteFrom] : [],
    ownsAccountLogRole: config?.api.ownsAccountLogRole ?? false,
    logDeliveries: (config?.network.flowLogs.enabled ?? false) || (config?.api.wafBlockedRequestLogs ?? false),
  };
}

/** The plan's refusal while the GitHub ids are placeholders: which fields, which values, and the command that prints them. */
export function githubIdsMessage(settings: Pick<BootstrapSettings, 'github'>): string {
  const { ownerId, repositoryId, repository } = settings.github;
  return (
    `GitHub ids not set: github.ownerId and github.repositoryId in stacks/config.ts must be GitHub's numeric ids ` +
    `(now "${ownerId}" and "${repositoryId}"). ${githubIdsCommand({ repository })} prints the repository id, then the owner id.`
  );
}

/**
 * Run once per AWS account, by an administrator (CI cannot change its own trust). It creates
 * the bucket every other stack keeps its state in, so it cannot start with that bucket as its
 * backend: the first apply keeps local state; then `stateInBucket` moves it to
 * `shared/bootstrap.tfstate` (`terraform init -migrate-state`, docs/deploy.md).
 */
export class BootstrapStack extends TerraformStack {
  readonly stateBucket: S3Bucket;
  /** Where S3 delivers the state bucket's server access logs (`<state bucket>-access-logs`). */
  readonly accessLogBucket: S3Bucket;
  readonly githubOidcProvider: IamOpenidConnectProvider;
  /** One per environment (`workloadBoundaryPolicyName(env)`), on every role of that environment. */
  readonly workloadBoundaries: Record<string, IamPolicy>;
  readonly planRole: GithubOidcRole;
  /** One per environment (`deployRoleName(env)`), trusted by that GitHub environment only. */
  readonly deployRoles: Record<string, GithubOidcRole>;

  constructor(scope: Construct, id: string, settings: BootstrapSettings = bootstrap) {
    super(scope, id);

    if (settings.stateInBucket) {
      new S3Backend(this, { bucket: settings.stateBucketName, key: stateKey('shared', 'bootstrap'), region: settings.region, encrypt: true });
      this.addOverride('terraform.backend.s3.use_lockfile', true);
    }

    new AwsProvider(this, 'aws', {
      region: settings.region,
      defaultTags: [{ tags: { project: PROJECT, env: 'shared', layer: 'bootstrap' } }],
    });

    this.stateBucket = new S3Bucket(this, 'state', {
      bucket: settings.stateBucketName,
      // Losing the state bucket orphans every resource of every environment.
      lifecycle: { preventDestroy: true },
    });
    new S3BucketOwnershipControls(this, 'state-ownership', {
      bucket: this.stateBucket.id,
      rule: { objectOwnership: 'BucketOwnerEnforced' },
    });
    new S3BucketPublicAccessBlock(this, 'state-public-access', {
      bucket: this.stateBucket.id,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    new S3BucketVersioningA(this, 'state-versioning', {
      bucket: this.stateBucket.id,
      versioningConfiguration: { status: 'Enabled' },
    });
    new S3BucketServerSideEncryptionConfigurationA(this, 'state-encryption', {
      bucket: this.stateBucket.id,
      // SSE-S3: no KMS key policy for the CI roles to get right, no per-request KMS charge.
      rule: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: 'AES256' } }],
    });
    new S3BucketLifecycleConfiguration(this, 'state-lifecycle', {
      bucket: this.stateBucket.id,
      rule: [
        {
          id: 'expire-noncurrent-state',
          status: 'Enabled',
          filter: [{ prefix: '' }],
          noncurrentVersionExpiration: [
            { noncurrentDays: settings.stateNoncurrentVersionDays, newerNoncurrentVersions: settings.stateNoncurrentVersionsKept },
          ],
          abortIncompleteMultipartUpload: [{ daysAfterInitiation: ABORT_INCOMPLETE_UPLOAD_DAYS }],
        },
      ],
    });
    new S3BucketPolicy(this, 'state-policy', {
      bucket: this.stateBucket.id,
      policy: policyJson([
        denyInsecureTransport('s3:*', [`arn:aws:s3:::${settings.stateBucketName}`, `arn:aws:s3:::${settings.stateBucketName}/*`]),
      ]),
    });

    // GitHub's ids of the owner and the repository, which the immutable subjects carry: while
    // they are placeholders (stacks/config.ts) the plan stops here, before any role exists that
    // CI could not assume. Checked in the plan, not at synth, so every other stack still synthesises.
    const githubIds = new TerraformLocal(this, 'github_ids', { owner_id: settings.github.ownerId, repository_id: settings.github.repositoryId });
    const idIssues = githubIdIssues(settings.github);
    if (idIssues.length > 0) {
      Annotations.of(this).addWarning(`${idIssues.join(' and ')} not set in stacks/config.ts: the bootstrap plan refuses to run until they are (${githubIdsCommand(settings.github)})`);
    }
    this.githubOidcProvider = new IamOpenidConnectProvider(this, 'github-oidc', {
      url: `https://${GITHUB_OIDC_HOST}`,
      clientIdList: [GITHUB_OIDC_AUDIENCE],
      lifecycle: {
        precondition: [
          {
            condition: `\${alltrue([for id in values(local.${githubIds.friendlyUniqueId}) : can(regex("${GITHUB_ID_PATTERN}", id))])}`,
            errorMessage: githubIdsMessage(settings),
          },
        ],
      },
    });

    // The account id read from the provider's ARN instead of a caller-identity data source, so
    // the stack still plans offline (no STS call).
    // A local keeps policy documents free of quoted function calls: `${local.account_id}`.
    const accountId = new TerraformLocal(this, 'account_id', Fn.element(Fn.split(':', this.githubOidcProvider.arn), 4)).asString;
    this.accessLogBucket = this.stateAccessLogs(settings, accountId);
    const context = (account: string) => ciPolicyContext(account, settings);
    const environmentContext = (account: string, env: string) => environmentPolicyContext(account, env, settings);

    this.workloadBoundaries = Object.fromEntries(
      settings.deployEnvironments.map((env) => [
        env,
        new IamPolicy(this, `workload-boundary-${env}`, {
          name: workloadBoundaryPolicyName(env),
          description: `Permissions boundary of every role the ${env} stacks create: ${namePrefix(env)} data only, no IAM`,
          policy: policyJson(workloadBoundaryStatements(environmentContext(accountId, env))),
        }),
      ]),
    );

    this.planRole = new GithubOidcRole(this, 'plan', {
      roleName: settings.planRoleName,
      description: 'GitHub Actions on pull requests: terraform plan (read-only, no state lock)',
      providerArn: this.githubOidcProvider.arn,
      subjects: githubSubjects(settings.github, ['pull_request']),
      statements: (account) => planStatements(context(account)),
      accountId,
    });

    // A job names its environment and its token's `sub` then ends in `environment:<env>`: the
    // only subject each deploy role trusts. A job on main without an environment, or in another
    // environment, assumes none of them.
    this.deployRoles = Object.fromEntries(
      settings.deployEnvironments.map((env) => [
        env,
        new GithubOidcRole(this, `deploy-${env}`, {
          roleName: deployRoleName(env),
          description: `GitHub Actions in the ${env} environment: cdktf deploy of ${namePrefix(env)}`,
          providerArn: this.githubOidcProvider.arn,
          subjects: githubSubjects(settings.github, [`environment:${env}`]),
          statements: (account) => deployStatements(environmentContext(account, env)),
          accountId,
          // A whole deploy job in one session (deploy-environment.yml asks for this duration).
          maxSessionSeconds: settings.deploySessionSeconds,
        }),
      ]),
    );

    new TerraformOutput(this, 'state_bucket', { value: this.stateBucket.bucket });
    new TerraformOutput(this, 'state_access_log_bucket', { value: this.accessLogBucket.bucket });
    new TerraformOutput(this, 'github_oidc_provider_arn', { value: this.githubOidcProvider.arn });
    new TerraformOutput(this, 'plan_role_arn', { value: this.planRole.role.arn });
    for (const [env, role] of Object.entries(this.deployRoles)) {
      // The value of the `AWS_DEPLOY_ROLE_ARN` variable of the GitHub environment `env`.
      new TerraformOutput(this, `deploy_role_arn_${env}`, { value: role.role.arn });
    }
    for (const [env, boundary] of Object.entries(this.workloadBoundaries)) {
      new TerraformOutput(this, `workload_boundary_arn_${env}`, { value: boundary.arn });
    }
  }

  /**
   * Server access logs of the state bucket: every read and write of a state or lock object (who,
   * from where, which key), which CloudTrail's management events do not show. A small bucket of
   * its own (a bucket must not log into itself), private, SSE-S3 (the only encryption log delivery
   * takes), written only by S3's logging service for this state bucket and account, objects
   * expiring after `stateAccessLogDays`. No CI role reaches it (outside every environment prefix).
   */
  private stateAccessLogs(settings: BootstrapSettings, accountId: string): S3Bucket {
    const name = `${settings.stateBucketName}-access-logs`;
    const logs = new S3Bucket(this, 'state-access-logs', { bucket: name });
    new S3BucketOwnershipControls(this, 'state-access-logs-ownership', { bucket: logs.id, rule: { objectOwnership: 'BucketOwnerEnforced' } });
    const publicAccess = new S3BucketPublicAccessBlock(this, 'state-access-logs-public-access', {
      bucket: logs.id,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    new S3BucketServerSideEncryptionConfigurationA(this, 'state-access-logs-encryption', {
      bucket: logs.id,
      rule: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: 'AES256' } }],
    });
    new S3BucketLifecycleConfiguration(this, 'state-access-logs-lifecycle', {
      bucket: logs.id,
      rule: [
        {
          id: 'expire-access-logs',
          status: 'Enabled',
          filter: [{ prefix: '' }],
          expiration: [{ days: settings.stateAccessLogDays }],
          abortIncompleteMultipartUpload: [{ daysAfterInitiation: ABORT_INCOMPLETE_UPLOAD_DAYS }],
        },
      ],
    });
    const policy = new S3BucketPolicy(this, 'state-access-logs-policy', {
      bucket: logs.id,
      policy: policyJson([
        denyInsecureTransport('s3:*', [`arn:aws:s3:::${name}`, `arn:aws:s3:::${name}/*`]),
        {
          sid: 'S3ServerAccessLogsOfTheStateBucket',
          principal: { Service: 'logging.s3.amazonaws.com' },
          actions: ['s3:PutObject'],
          resources: [`arn:aws:s3:::${name}/${STATE_ACCESS_LOG_PREFIX}*`],
          conditions: {
            ArnLike: { 'aws:SourceArn': `arn:aws:s3:::${settings.stateBucketName}` },
            StringEquals: { 'aws:SourceAccount': accountId },
          },
          scalar: ['actions', 'resources'],
        },
      ]),
      dependsOn: [publicAccess],
    });
    new S3BucketLoggingA(this, 'state-access-logging', {
      bucket: this.stateBucket.id,
      targetBucket: logs.id,
      targetPrefix: STATE_ACCESS_LOG_PREFIX,
      // Delivery checks the target's policy.
      dependsOn: [policy],
    });
    return logs;
  }
}
