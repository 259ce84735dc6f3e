import { S3Backend, TerraformStack } from 'cdktf';
import { bootstrap } from './config';

/** The state key of a layer: one object per environment and layer in the bootstrap bucket. */
export const stateKey = (env: string, layer: string): string => `${env}/${layer}.tfstate`;

/**
 * Remote state in the bootstrap bucket with native S3 locking (Terraform >= 1.10).
 * cdktf 0.21 has no typed `use_lockfile`, hence the override; no `dynamodb_table`, which is
 * deprecated and would also be copied into every `terraform_remote_state` cdktf generates.
 */
export function useS3Backend(stack: TerraformStack, env: string, layer: string): S3Backend {
  const backend = new S3Backend(stack, {
    bucket: bootstrap.stateBucketName,
    key: stateKey(env, layer),
    // Where the bootstrap stack created the bucket.
    region: bootstrap.region,
    encrypt: true,
  });
  stack.addOverride('terraform.backend.s3.use_lockfile', true);
  return backend;
}
