import { Construct } from 'constructs';
import { TerraformOutput, TerraformStack } from 'cdktf';
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { S3Bucket } from '@cdktf/provider-aws/lib/s3-bucket';
import { S3BucketVersioningA } from '@cdktf/provider-aws/lib/s3-bucket-versioning';
import { S3BucketServerSideEncryptionConfigurationA } from '@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration';
import { S3BucketPublicAccessBlock } from '@cdktf/provider-aws/lib/s3-bucket-public-access-block';
import { S3BucketOwnershipControls } from '@cdktf/provider-aws/lib/s3-bucket-ownership-controls';
import { S3BucketPolicy } from '@cdktf/provider-aws/lib/s3-bucket-policy';
import { S3BucketLifecycleConfiguration } from '@cdktf/provider-aws/lib/s3-bucket-lifecycle-configuration';
import { IamOpenidConnectProvider } from '@cdktf/provider-aws/lib/iam-openid-connect-provider';
import { bootstrap, EnvironmentConfig, PROJECT } from './config';

export type BootstrapSettings = Omit<typeof bootstrap, 'github'> & { github: EnvironmentConfig['github'] };

export const GITHUB_OIDC_HOST = 'token.actions.githubusercontent.com';

/**
 * Run once per AWS account. It creates the bucket every other stack keeps its state in, so it
 * cannot itself start with that bucket as backend: it keeps local state until the first apply,
 * after which docs/deploy.md moves its state into the bucket (`terraform init -migrate-state`).
 */
export class BootstrapStack extends TerraformStack {
  readonly stateBucket: S3Bucket;
  readonly githubOidcProvider: IamOpenidConnectProvider;

  constructor(scope: Construct, id: string, settings: BootstrapSettings = bootstrap) {
    super(scope, id);

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
      rule: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: 'aws:kms' }, bucketKeyEnabled: true }],
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
          abortIncompleteMultipartUpload: [{ daysAfterInitiation: 7 }],
        },
      ],
    });
    new S3BucketPolicy(this, 'state-policy', {
      bucket: this.stateBucket.id,
      policy: JSON.stringify({
        Version: '2012-10-17',
        Statement: [
          {
            Sid: 'DenyInsecureTransport',
            Effect: 'Deny',
            Principal: '*',
            Action: 's3:*',
            Resource: [`arn:aws:s3:::${settings.stateBucketName}`, `arn:aws:s3:::${settings.stateBucketName}/*`],
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          },
        ],
      }),
    });

    this.githubOidcProvider = new IamOpenidConnectProvider(this, 'github-oidc', {
      url: `https://${GITHUB_OIDC_HOST}`,
      clientIdList: ['sts.amazonaws.com'],
    });

    new TerraformOutput(this, 'state_bucket', { value: this.stateBucket.bucket });
    new TerraformOutput(this, 'github_oidc_provider_arn', { value: this.githubOidcProvider.arn });
  }
}
