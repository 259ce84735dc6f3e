import { Construct } from 'constructs';
import { S3Bucket } from '@cdktf/provider-aws/lib/s3-bucket';
import { S3BucketPublicAccessBlock } from '@cdktf/provider-aws/lib/s3-bucket-public-access-block';
import { S3BucketOwnershipControls } from '@cdktf/provider-aws/lib/s3-bucket-ownership-controls';
import { S3BucketServerSideEncryptionConfigurationA } from '@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration';
import { S3BucketVersioningA } from '@cdktf/provider-aws/lib/s3-bucket-versioning';
import { S3BucketLifecycleConfiguration, S3BucketLifecycleConfigurationRule } from '@cdktf/provider-aws/lib/s3-bucket-lifecycle-configuration';
import { S3BucketPolicy } from '@cdktf/provider-aws/lib/s3-bucket-policy';
import { Statement, denyInsecureTransport, policyJson } from './iam-statements';

/**
 * Days after which S3 aborts an unfinished multipart upload (its parts are billed until then).
 * Nothing here resumes an upload: storage:move starts every object's upload afresh on a rerun and
 * aborts its own on failure, and the workers and Terraform write whole objects. An upload still
 * open after a day is one a killed process left, which nobody will complete.
 */
export const ABORT_INCOMPLETE_UPLOAD_DAYS = 1;

export interface SecureBucketProps {
  /** Bucket names are global: a prefix lets Terraform append a unique suffix. */
  bucketPrefix: string;
  /** Move objects to Intelligent-Tiering on upload (pays off for objects ≥ 128 KB kept for weeks). */
  intelligentTiering: boolean;
  /** Days a replaced or deleted version stays recoverable. */
  noncurrentVersionDays: number;
  /** Days after which every object expires (logs); unset, objects stay until deleted. */
  expirationDays?: number;
  /** Statements added to the TLS-only policy, given the bucket ARN. */
  extraStatements?: (bucketArn: string) => Statement[];
  /**
   * A destroy deletes every object (and version) first (`force_destroy`): for environments that
   * are torn down (`teardown.destroyWithContents`, dev). Unset, a destroy fails on a non-empty bucket.
   */
  forceDestroy?: boolean;
}

/**
 * A private S3 bucket: public access blocked, ACLs disabled, SSE-S3 (free; a CMK costs $1/month
 * and per-request KMS fees), TLS-only policy, versioning with a bounded noncurrent lifetime,
 * and aborted multipart uploads cleaned up after a day so they are not billed forever.
 */
export class SecureBucket extends Construct {
  readonly bucket: S3Bucket;
  readonly policy: S3BucketPolicy;

  constructor(scope: Construct, id: string, props: SecureBucketProps) {
    super(scope, id);
    this.bucket = new S3Bucket(this, 'bucket', { bucketPrefix: props.bucketPrefix, forceDestroy: props.forceDestroy || undefined });
    const bucket = this.bucket.id;
    new S3BucketOwnershipControls(this, 'ownership', { bucket, rule: { objectOwnership: 'BucketOwnerEnforced' } });
    const publicAccess = new S3BucketPublicAccessBlock(this, 'public-access', {
      bucket,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    new S3BucketServerSideEncryptionConfigurationA(this, 'encryption', {
      bucket,
      rule: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: 'AES256' }, bucketKeyEnabled: true }],
    });
    const versioning = new S3BucketVersioningA(this, 'versioning', { bucket, versioningConfiguration: { status: 'Enabled' } });

    const rules: S3BucketLifecycleConfigurationRule[] = [
      {
        id: 'housekeeping',
        status: 'Enabled',
        filter: [{ prefix: '' }],
        abortIncompleteMultipartUpload: [{ daysAfterInitiation: ABORT_INCOMPLETE_UPLOAD_DAYS }],
        noncurrentVersionExpiration: [{ noncurrentDays: props.noncurrentVersionDays }],
        expiration: props.expirationDays !== undefined ? [{ days: props.expirationDays }] : undefined,
      },
    ];
    if (props.intelligentTiering) {
      rules.push({
        id: 'intelligent-tiering',
        status: 'Enabled',
        filter: [{ prefix: '' }],
        transition: [{ days: 0, storageClass: 'INTELLIGENT_TIERING' }],
      });
    }
    new S3BucketLifecycleConfiguration(this, 'lifecycle', { bucket, rule: rules, dependsOn: [versioning] });

    const arn = this.bucket.arn;
    this.policy = new S3BucketPolicy(this, 'policy', {
      bucket,
      policy: policyJson([denyInsecureTransport('s3:*', [arn, `${arn}/*`]), ...(props.extraStatements?.(arn) ?? [])]),
      // A policy put before the public access block is in place can be refused as public.
      dependsOn: [publicAccess],
    });
  }
}
