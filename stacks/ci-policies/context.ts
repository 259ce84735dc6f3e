import { Statement } from '../../modules/iam-statements';

/**
 * What the two GitHub Actions roles may do, as data (plan.ts, deploy.ts), and the permissions
 * boundary of the roles the deploy role creates (boundary.ts). `plan` reads (Terraform refresh)
 * and takes the state lock; `deploy` creates and changes this project's resources only: ARNs
 * carrying an environment's name prefix, or (where AWS names resources by id) the `project` tag.
 * The bootstrap stack (stacks/bootstrap.ts) turns them into the roles' managed policies.
 */
export interface CiPolicyContext {
  region: string;
  accountId: string;
  stateBucket: string;
  /** Environments CI deploys (`dev`, `prod`): their state lives under `<env>/` in the state bucket. */
  environments: string[];
  /** `docplatform-dev`, `docplatform-prod`, …: every resource of an environment starts with one. */
  envPrefixes: string[];
  project: string;
  /** The boundary every role the deploy role creates must carry (no privilege escalation through IAM). */
  workloadBoundaryArn: string;
}

export const arns = (c: CiPolicyContext, pattern: (prefix: string) => string): string[] => c.envPrefixes.map(pattern);

/** The state bucket: both roles read every layer's state and take the lock; deploy also writes. */
export function stateStatements(c: CiPolicyContext, write: boolean): Statement[] {
  const bucket = `arn:aws:s3:::${c.stateBucket}`;
  return [
    { sid: 'StateList', actions: ['s3:ListBucket'], resources: [bucket] },
    // Cross-stack references read other layers' state; the bootstrap's own state is not CI's to write.
    { sid: 'StateRead', actions: ['s3:GetObject'], resources: [`${bucket}/*`] },
    ...(write ? [{ sid: 'StateWrite', actions: ['s3:PutObject'], resources: c.environments.map((env) => `${bucket}/${env}/*`) }] : []),
    // Native S3 locking (use_lockfile) writes and removes `<key>.tflock` next to the state.
    { sid: 'StateLock', actions: ['s3:PutObject', 's3:DeleteObject'], resources: [`${bucket}/*.tflock`] },
  ];
}

/** The public SSM parameters the NAT instance's AMI is resolved from. */
export function publicAmiParameters(c: CiPolicyContext): Statement {
  return { sid: 'PublicAmiParameters', actions: ['ssm:GetParameter', 'ssm:GetParameters'], resources: [`arn:aws:ssm:${c.region}::parameter/aws/service/*`] };
}
