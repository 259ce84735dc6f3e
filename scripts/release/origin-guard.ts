import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';

/**
 * Whether this deploy may skip the smoke test through CloudFront. The smoke step skips while the
 * environment has no origin secret (`api.originVerifyPatternSetArn` unset: the API's web ACL
 * refuses every request, so there is nothing to smoke-test yet). That is the first-time setup's
 * state until its step 9, and only that: once the deployed web ACL checks a pattern set, a commit
 * that drops the ARN would deploy an API that refuses everyone while its smoke test is skipped.
 * So before anything is deployed, the web ACL in the compute stack's state (what runs now) is
 * read: a pattern set there and none in this commit's config stops the deploy.
 */

export type OriginVerdict =
  /** This commit's config names the pattern set: the smoke test runs through CloudFront. */
  | { kind: 'set'; arn: string }
  /** Neither the config nor the deployed API has one: the first-time setup, before its step 9. */
  | { kind: 'bootstrap'; deployed: 'no state' | 'no pattern set' }
  /** The deployed API checks a pattern set this commit's config no longer names. */
  | { kind: 'dropped'; deployed: string };

/** The ARN each `regex_pattern_set_reference_statement` of the state's web ACLs names, however deep the rule nests it. */
export function deployedPatternSetArns(state: unknown): string[] {
  const found = new Set<string>();
  const walk = (node: unknown, inReference: boolean): void => {
    if (Array.isArray(node)) return node.forEach((n) => walk(n, inReference));
    if (typeof node !== 'object' || node === null) return;
    for (const [key, value] of Object.entries(node)) {
      if (inReference && key === 'arn' && typeof value === 'string' && value !== '') found.add(value);
      else walk(value, key === 'regex_pattern_set_reference_statement');
    }
  };
  const resources = (state as { resources?: Array<{ type?: string; instances?: Array<{ attributes?: unknown }> }> } | undefined)?.resources ?? [];
  for (const resource of resources.filter((r) => r.type === 'aws_wafv2_web_acl')) {
    for (const instance of resource.instances ?? []) walk(instance.attributes, false);
  }
  return [...found];
}

export function originVerdict(configured: string | undefined, state: unknown | undefined): OriginVerdict {
  if (configured) return { kind: 'set', arn: configured };
  if (state === undefined) return { kind: 'bootstrap', deployed: 'no state' };
  const deployed = deployedPatternSetArns(state);
  return deployed.length > 0 ? { kind: 'dropped', deployed: deployed[0] } : { kind: 'bootstrap', deployed: 'no pattern set' };
}

/**
 * The state object, parsed, or undefined when there is none (the stack was never deployed). The
 * deploy role may list the state bucket, so a missing key is a 404, never a 403 taken for one.
 */
export async function readState(s3: S3Client, bucket: string, key: string): Promise<unknown | undefined> {
  let text: string;
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    text = (await out.Body?.transformToString('utf8')) ?? '';
  } catch (error) {
    if ((error as Error).name === 'NoSuchKey') return undefined;
    throw error;
  }
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`s3://${bucket}/${key} is not a Terraform state (not JSON)`);
  }
}
