import { GetBucketTaggingCommand, GetBucketVersioningCommand, HeadBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { BOOTSTRAP_TAGS } from './demands';
import { describeError, error, Finding, httpStatus, ok, warning } from './finding';

const CHECK = 'state-bucket';

/** Terraform address of the state bucket in the bootstrap stack (stacks/bootstrap.ts, id `state`). */
export const STATE_BUCKET_ADDRESS = 'aws_s3_bucket.state';

export interface StateBucketSettings {
  stateBucketName: string;
  region: string;
  stateInBucket: boolean;
}

const rename = (name: string, account: string) =>
  `bucket names are global: choose another, e.g. stateBucketName: '${name}-${account}' in the bootstrap block of stacks/config.ts (every stack's backend follows it)`;

/**
 * HeadBucket on the state bucket's name: 404 the name is free (the bootstrap creates it), 403
 * another account owns it (the bootstrap cannot create it, and no stack could keep state in it),
 * 200 ours: then it must be in the backend's region, versioned (state history), and the
 * bootstrap's own (its tags), or the bootstrap's first apply fails creating it.
 */
export async function checkStateBucket(s3: S3Client, settings: StateBucketSettings, account: string): Promise<Finding[]> {
  const name = settings.stateBucketName;
  let region: string | undefined;
  try {
    region = (await s3.send(new HeadBucketCommand({ Bucket: name }))).BucketRegion;
  } catch (e) {
    const status = httpStatus(e);
    if (status === 404) {
      if (settings.stateInBucket) {
        return [
          error(
            CHECK,
            `${name} does not exist, yet bootstrap.stateInBucket is true: terraform init fails for every stack, the bootstrap's included`,
            'set stateInBucket: false in the bootstrap block of stacks/config.ts, deploy the bootstrap (npx cdktf deploy bootstrap), then move its state (docs/deploy.md, "First-time setup")',
          ),
        ];
      }
      return [ok(CHECK, `${name} is free: the bootstrap creates it in ${settings.region}`)];
    }
    if (status === 403) {
      return [error(CHECK, `${name} belongs to another account (HeadBucket: 403; or these credentials may not s3:ListBucket it): the bootstrap cannot create it and no stack can keep its state there`, rename(name, account))];
    }
    throw e;
  }

  const findings: Finding[] = [];
  if (region && region !== settings.region) {
    findings.push(
      error(
        CHECK,
        `${name} is ours but in ${region}; the backends and the bootstrap expect ${settings.region} (terraform init: 301 from S3)`,
        `${rename(name, account)}; or move the state: copy its objects into a new bucket in ${settings.region}`,
      ),
    );
  }
  const versioning = await s3.send(new GetBucketVersioningCommand({ Bucket: name }));
  if (versioning.Status !== 'Enabled') {
    findings.push(
      warning(
        CHECK,
        `${name} keeps no state history (versioning ${versioning.Status ?? 'never enabled'}): a damaged state cannot be restored`,
        `aws s3api put-bucket-versioning --bucket ${name} --versioning-configuration Status=Enabled (the bootstrap stack also sets it once it manages the bucket)`,
      ),
    );
  }
  let tags: Record<string, string | undefined> = {};
  try {
    tags = Object.fromEntries(((await s3.send(new GetBucketTaggingCommand({ Bucket: name }))).TagSet ?? []).map((t) => [t.Key, t.Value]));
  } catch (e) {
    if ((e as { name?: string }).name !== 'NoSuchTagSet') throw new Error(`GetBucketTagging ${name}: ${describeError(e)}`);
  }
  const ours = Object.entries(BOOTSTRAP_TAGS).every(([k, v]) => tags[k] === v);
  if (!ours && !settings.stateInBucket) {
    findings.push(
      error(
        CHECK,
        `${name} exists in this account but was not created by the bootstrap stack (no ${Object.entries(BOOTSTRAP_TAGS).map(([k, v]) => `${k}=${v}`).join(', ')} tags): its first apply fails creating it (BucketAlreadyOwnedByYou)`,
        `import it into the bootstrap's state first: npx cdktf synth && terraform -chdir=cdktf.out/stacks/bootstrap init && terraform -chdir=cdktf.out/stacks/bootstrap import ${STATE_BUCKET_ADDRESS} ${name}; or ${rename(name, account)}`,
      ),
    );
  }
  if (findings.length === 0) findings.push(ok(CHECK, `${name} is ours, in ${region ?? settings.region}, versioned, created by the bootstrap stack`));
  return findings;
}
