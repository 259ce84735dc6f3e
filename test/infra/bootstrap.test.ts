import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Testing } from 'cdktf';
import { BootstrapStack, BootstrapSettings, ciPolicyContext, environmentPolicyContext, githubIdsMessage, STATE_ACCESS_LOG_PREFIX } from '../../stacks/bootstrap';
import { PROJECT } from '../../core/contract';
import { bootstrap, deployRoleName, environments, namePrefix, workloadBoundaryPolicyName } from '../../stacks/config';
import { deployStatements, ROLE_CHANGES_UNDER_BOUNDARY } from '../../stacks/ci-policies/deploy';
import { planStatements } from '../../stacks/ci-policies/plan';
import { GITHUB_ID_PATTERN, githubIdIssues, githubSubjects } from '../../modules/github-oidc-roles';
import { MANAGED_POLICY_MAX_CHARS, policyDocument, policySize, Statement } from '../../modules/iam-statements';
import { allResources, parsePolicy, resources, stackNames, synthesizedStack } from '../support/infra-synth';

/**
 * The bootstrap stack as synthesised by main.ts: the state bucket, the GitHub OIDC provider, the
 * plan role and one deploy role per environment. Trust is read back from the role JSON; permissions from the managed
 * policies attached to each role.
 */

const STACK = 'bootstrap';
const OIDC = 'token.actions.githubusercontent.com';
const repo = bootstrap.github.repository;

const one = (type: string) => {
  const found = resources(STACK, type);
  expect(found).toHaveLength(1);
  return found[0].config;
};

/** The one resource of a type that configures the state bucket (the access-log bucket has its own). */
const ofState = (type: string) => {
  const found = resources(STACK, type).filter((r) => (type === 'aws_s3_bucket' ? r.name === 'state' : r.config.bucket === '${aws_s3_bucket.state.id}'));
  expect(found).toHaveLength(1);
  return found[0].config;
};
/** The same for the bucket the state bucket's access logs go to. */
const ofLogs = (type: string) => {
  const found = resources(STACK, type).filter((r) => (type === 'aws_s3_bucket' ? r.name === 'state-access-logs' : r.config.bucket === '${aws_s3_bucket.state-access-logs.id}'));
  expect(found).toHaveLength(1);
  return found[0].config;
};

const roleNamed = (name: string) => resources(STACK, 'aws_iam_role').find((r) => r.config.name === name)!;
const trustOf = (name: string) => parsePolicy(roleNamed(name).config.assume_role_policy).Statement;

/** The statements of the managed policies attached to a role (attachments point at policies by address). */
function statementsOf(roleName: string): any[] {
  const role = roleNamed(roleName);
  const attached = resources(STACK, 'aws_iam_role_policy_attachment')
    .filter((a) => a.config.role === `\${aws_iam_role.${role.name}.name}`)
    .map((a) => /aws_iam_policy\.([^.]+)\.arn/.exec(a.config.policy_arn)![1]);
  expect(attached.length).toBeGreaterThan(0);
  return attached.flatMap((name) => parsePolicy(resources(STACK, 'aws_iam_policy').find((p) => p.name === name)!.config.policy).Statement);
}

const list = (v: string | string[]) => (Array.isArray(v) ? v : [v]);
const ENVS = bootstrap.deployEnvironments;
const sampleContext = ciPolicyContext('123456789012');
const envContext = (env: string) => environmentPolicyContext('123456789012', env);

describe('state bucket', () => {
  test('state bucket is named from config and protected from terraform destroy', () => {
    const bucket = ofState('aws_s3_bucket');
    expect(bucket.bucket).toBe(bootstrap.stateBucketName);
    expect(bucket.lifecycle.prevent_destroy).toBe(true);
  });

  test('state bucket is versioned', () => {
    expect(ofState('aws_s3_bucket_versioning').versioning_configuration.status).toBe('Enabled');
  });

  test('state bucket is encrypted at rest', () => {
    const rule = ofState('aws_s3_bucket_server_side_encryption_configuration').rule[0];
    expect(['AES256', 'aws:kms']).toContain(rule.apply_server_side_encryption_by_default.sse_algorithm);
  });

  test('state bucket blocks every form of public access and disables ACLs', () => {
    expect(ofState('aws_s3_bucket_public_access_block')).toMatchObject({
      block_public_acls: true,
      block_public_policy: true,
      ignore_public_acls: true,
      restrict_public_buckets: true,
    });
    expect(ofState('aws_s3_bucket_ownership_controls').rule.object_ownership).toBe('BucketOwnerEnforced');
  });

  test('state bucket policy denies every request without TLS', () => {
    const deny = parsePolicy(ofState('aws_s3_bucket_policy').policy).Statement.find((s) => s.Effect === 'Deny');
    expect(deny).toMatchObject({ Principal: '*', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } });
    expect(deny.Resource).toEqual([`arn:aws:s3:::${bootstrap.stateBucketName}`, `arn:aws:s3:::${bootstrap.stateBucketName}/*`]);
  });

  test('noncurrent state versions expire after the configured days, keeping the newest ones', () => {
    const rule = ofState('aws_s3_bucket_lifecycle_configuration').rule[0];
    expect(rule.status).toBe('Enabled');
    expect(rule.noncurrent_version_expiration[0]).toEqual({
      noncurrent_days: bootstrap.stateNoncurrentVersionDays,
      newer_noncurrent_versions: bootstrap.stateNoncurrentVersionsKept,
    });
  });

  test('the state bucket logs every access (S3 server access logs) to its own small bucket, which expires them and only S3 logging may write', () => {
    expect(ofState('aws_s3_bucket_logging')).toEqual(expect.objectContaining({ target_bucket: '${aws_s3_bucket.state-access-logs.id}', target_prefix: STATE_ACCESS_LOG_PREFIX }));
    expect(ofLogs('aws_s3_bucket').bucket).toBe(`${bootstrap.stateBucketName}-access-logs`);
    // Outside every environment prefix: no deploy role's docplatform-<env>-* statements reach it.
    for (const env of ENVS) expect(`${bootstrap.stateBucketName}-access-logs`.startsWith(`${namePrefix(env)}-`)).toBe(false);
    expect(ofLogs('aws_s3_bucket_public_access_block')).toMatchObject({ block_public_acls: true, block_public_policy: true, ignore_public_acls: true, restrict_public_buckets: true });
    expect(ofLogs('aws_s3_bucket_ownership_controls').rule.object_ownership).toBe('BucketOwnerEnforced');
    // Log delivery takes SSE-S3 only.
    expect(ofLogs('aws_s3_bucket_server_side_encryption_configuration').rule[0].apply_server_side_encryption_by_default.sse_algorithm).toBe('AES256');
    const rule = ofLogs('aws_s3_bucket_lifecycle_configuration').rule[0];
    expect(rule).toMatchObject({ status: 'Enabled', expiration: [{ days: bootstrap.stateAccessLogDays }] });
    const statements = parsePolicy(ofLogs('aws_s3_bucket_policy').policy).Statement;
    expect(statements.find((st: any) => st.Effect === 'Deny')).toMatchObject({ Principal: '*', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } });
    const write = statements.find((st: any) => st.Effect === 'Allow');
    expect(write).toEqual({
      Sid: 'S3ServerAccessLogsOfTheStateBucket',
      Effect: 'Allow',
      Principal: { Service: 'logging.s3.amazonaws.com' },
      Action: 's3:PutObject',
      Resource: `arn:aws:s3:::${bootstrap.stateBucketName}-access-logs/${STATE_ACCESS_LOG_PREFIX}*`,
      Condition: { ArnLike: { 'aws:SourceArn': `arn:aws:s3:::${bootstrap.stateBucketName}` }, StringEquals: { 'aws:SourceAccount': '${local.account_id}' } },
    });
    expect(statements).toHaveLength(2);
  });

  test('once migrated, bootstrap state lives in the bucket under shared/ with native locking', () => {
    const migrated = JSON.parse(Testing.synth(new BootstrapStack(Testing.app(), 'bootstrap', { ...bootstrap, stateInBucket: true })));
    expect(migrated.terraform.backend.s3).toEqual({
      bucket: bootstrap.stateBucketName,
      key: 'shared/bootstrap.tfstate',
      region: bootstrap.region,
      encrypt: true,
      use_lockfile: true,
    });
  });

  test.each(ENVS)('the %s deploy role reads, writes and locks its own environment’s state only, never another’s or the bootstrap’s', (env) => {
    const statements = statementsOf(deployRoleName(env));
    const bySid = (sid: string) => statements.find((s) => s.Sid === sid);
    const bucket = `arn:aws:s3:::${bootstrap.stateBucketName}`;
    expect(bySid('StateRead').Resource).toEqual([`${bucket}/${env}/*`]);
    expect(bySid('StateWrite').Resource).toEqual([`${bucket}/${env}/*`]);
    expect(bySid('StateLock').Resource).toEqual([`${bucket}/${env}/*.tflock`]);
  });

  test('every environment of the config has its own deploy role, and there is no shared one', () => {
    expect(ENVS).toEqual(Object.keys(environments));
    const names = resources(STACK, 'aws_iam_role').map((r) => r.config.name).sort();
    expect(names).toEqual([bootstrap.planRoleName, ...ENVS.map(deployRoleName)].sort());
    const outputs = Object.keys(synthesizedStack(STACK).output);
    for (const env of ENVS) expect(outputs).toContain(`deploy_role_arn_${env}`);
  });

  test('bootstrap keeps local state (it creates the bucket the others use) and tags everything as shared/bootstrap', () => {
    const stack = synthesizedStack(STACK);
    expect(stack.terraform.backend?.s3).toBeUndefined();
    expect(stack.provider.aws[0].default_tags[0].tags).toEqual({ project: PROJECT, env: 'shared', layer: 'bootstrap' });
    expect(stack.provider.aws[0].region).toBe(bootstrap.region);
  });
});

describe('GitHub OIDC', () => {
  test('the provider is GitHub Actions with the STS audience', () => {
    const provider = one('aws_iam_openid_connect_provider');
    expect(provider.url).toBe(`https://${OIDC}`);
    expect(provider.client_id_list).toEqual(['sts.amazonaws.com']);
  });

  const [owner, name] = repo.split('/');
  const immutable = `repo:${owner}@${bootstrap.github.ownerId}/${name}@${bootstrap.github.repositoryId}`;

  test.each([
    [bootstrap.planRoleName, [`repo:${repo}:pull_request`, `${immutable}:pull_request`]],
    ...ENVS.map((env) => [deployRoleName(env), [`repo:${repo}:environment:${env}`, `${immutable}:environment:${env}`]] as [string, string[]]),
  ])('%s trusts only the GitHub provider, audience sts.amazonaws.com and exactly its subjects, in both forms', (roleName, subjects) => {
    const statements = trustOf(roleName);
    expect(statements).toHaveLength(1);
    const [trust] = statements;
    expect(trust).toMatchObject({ Effect: 'Allow', Action: 'sts:AssumeRoleWithWebIdentity' });
    expect(trust.Principal).toEqual({ Federated: '${aws_iam_openid_connect_provider.github-oidc.arn}' });
    // Exact matching only: no StringLike, no wildcard subject.
    expect(Object.keys(trust.Condition)).toEqual(['StringEquals']);
    expect(trust.Condition.StringEquals[`${OIDC}:aud`]).toBe('sts.amazonaws.com');
    expect(trust.Condition.StringEquals[`${OIDC}:sub`]).toEqual(subjects);
    expect(JSON.stringify(trust.Condition)).not.toContain('*');
  });

  test('with GitHub ids configured, the classic and the immutable subject forms are trusted (repositories created since 2026-07-15 send the immutable one)', () => {
    const settings: BootstrapSettings = { ...bootstrap, github: { ...bootstrap.github, ownerId: '1234', repositoryId: '98765' } };
    const stack = JSON.parse(Testing.synth(new BootstrapStack(Testing.app(), 'bootstrap', settings)));
    const subjectsOf = (roleName: string) =>
      JSON.parse(Object.values<any>(stack.resource.aws_iam_role).find((r) => r.name === roleName).assume_role_policy).Statement[0].Condition.StringEquals[`${OIDC}:sub`];
    for (const env of ENVS) {
      expect(subjectsOf(deployRoleName(env))).toEqual([`repo:${repo}:environment:${env}`, `repo:${owner}@1234/${name}@98765:environment:${env}`]);
    }
    expect(subjectsOf(bootstrap.planRoleName)).toEqual([`repo:${repo}:pull_request`, `repo:${owner}@1234/${name}@98765:pull_request`]);
    expect(stack.locals.github_ids).toEqual({ owner_id: '1234', repository_id: '98765' });
  });

  test('the ids are required settings: until both are GitHub ids the bootstrap plan refuses to run, naming the fields and the command that prints them', () => {
    const provider = one('aws_iam_openid_connect_provider');
    expect(provider.lifecycle.precondition).toHaveLength(1);
    const [check] = provider.lifecycle.precondition;
    // Evaluated by terraform over the local that holds the configured ids (test/infra/terraform.test.ts plans both cases).
    expect(check.condition).toBe(`\${alltrue([for id in values(local.github_ids) : can(regex("${GITHUB_ID_PATTERN}", id))])}`);
    expect(synthesizedStack(STACK).locals.github_ids).toEqual({ owner_id: bootstrap.github.ownerId, repository_id: bootstrap.github.repositoryId });
    expect(check.error_message).toBe(githubIdsMessage(bootstrap));
    expect(check.error_message).toContain('github.ownerId and github.repositoryId in stacks/config.ts');
    expect(check.error_message).toContain(`gh api repos/${repo} --jq '.id, .owner.id'`);
    expect(check.error_message).toMatch(/^[A-Z].*\.$/);
    // What the plan checks, the same pattern in TypeScript.
    expect(githubIdIssues({ repository: 'a/b', ownerId: 'OWNER_ID', repositoryId: 'REPOSITORY_ID' })).toEqual(['github.ownerId', 'github.repositoryId']);
    expect(githubIdIssues({ repository: 'a/b', ownerId: '1234', repositoryId: '' })).toEqual(['github.repositoryId']);
    expect(githubIdIssues({ repository: 'a/b', ownerId: '0123', repositoryId: '98765' })).toEqual(['github.ownerId']);
    expect(githubIdIssues({ repository: 'a/b', ownerId: '1234', repositoryId: '98765' })).toEqual([]);
  });

  test('no deploy role trusts a branch (a job on main without an environment) or another environment', () => {
    for (const env of ENVS) {
      const subjects: string[] = trustOf(deployRoleName(env))[0].Condition.StringEquals[`${OIDC}:sub`];
      expect(subjects.every((sub) => sub.endsWith(`:environment:${env}`))).toBe(true);
    }
  });

  test('each deploy role allows a session as long as the deploy job asks for (2 h, above its 110-minute timeout); the plan role keeps 1 h', () => {
    for (const env of ENVS) expect({ env, max: roleNamed(deployRoleName(env)).config.max_session_duration }).toEqual({ env, max: bootstrap.deploySessionSeconds });
    expect(bootstrap.deploySessionSeconds).toBe(7200);
    expect(roleNamed(bootstrap.planRoleName).config.max_session_duration).toBe(3600);
  });

  test('a malformed repository is refused', () => {
    expect(() => githubSubjects({ repository: 'no-slash', ownerId: '1', repositoryId: '2' }, ['pull_request'])).toThrow('github.repository must be "owner/name"');
  });
});

describe('plan role', () => {
  const statements = () => statementsOf(bootstrap.planRoleName);
  const READ = /^[a-z0-9-]+:(Describe|Get|List|View|BatchGet)[A-Za-z*]*$/;

  test('plan role allows only reads: no write at all, not even the *.tflock lock objects', () => {
    for (const s of statements().filter((s) => s.Effect === 'Allow')) {
      for (const action of list(s.Action)) {
        expect({ sid: s.Sid, action, read: READ.test(action) || action === 'apigateway:GET' }).toEqual({ sid: s.Sid, action, read: true });
      }
    }
  });

  test('plan role reads objects of the state bucket only, and never secret values, logs or messages', () => {
    const allows = statements().filter((s) => s.Effect === 'Allow');
    const objectReads = allows.filter((s) => list(s.Action).some((a) => a === 's3:GetObject' || a === 's3:Get*'));
    const stateKeys = new RegExp(`^(arn:aws:s3:::${bootstrap.stateBucketName}/(${ENVS.join('|')})/\\*|bucket-arn)$`);
    for (const s of objectReads) for (const r of list(s.Resource)) expect(r.endsWith('/*') ? r : 'bucket-arn').toMatch(stateKeys);
    const denied = statements().filter((s) => s.Effect === 'Deny').flatMap((s) => list(s.Action));
    expect(denied).toEqual(expect.arrayContaining(['secretsmanager:GetSecretValue', 'logs:GetLogEvents', 'sqs:ReceiveMessage', 's3:GetObject']));
    expect(allows.flatMap((s) => list(s.Action))).not.toContain('secretsmanager:GetSecretValue');
    // No S3 wildcard: `s3:Get*` on `docplatform-<env>-*` would match the data buckets' objects too.
    expect(allows.flatMap((s) => list(s.Action)).filter((a) => a.startsWith('s3:') && a.includes('*'))).toEqual([]);
    expect(statements().find((s) => s.Sid === 'DenyDataObjects')).toMatchObject({ Effect: 'Deny', Action: ['s3:GetObject*', 's3:PutObject*', 's3:DeleteObject*'] });
    expect(statements().find((s) => s.Sid === 'DenyEdgeSecret')).toMatchObject({ Effect: 'Deny', Resource: ['*'] });
  });
});

test('docs/deploy.md lists every deploy statement on "*", saying which exist in some environments only', () => {
  const doc = readFileSync(join(__dirname, '../../docs/deploy.md'), 'utf8');
  const start = doc.indexOf('use `Resource: "*"`');
  expect(start).toBeGreaterThan(0);
  const section = doc.slice(start, doc.indexOf('\n\n', start));
  const bullets = section.split(/\n\s*- /).slice(1);
  const starOf = (env: string) => deployStatements(envContext(env)).filter((s) => s.resources.includes('*')).map((s) => s.sid);
  const everySid = new Set(ENVS.flatMap((env) => deployStatements(envContext(env)).map((s) => s.sid)));
  const star = new Set(ENVS.flatMap(starOf));
  const listed = [...section.matchAll(/`([A-Za-z0-9]+)`/g)].map((m) => m[1]).filter((name) => everySid.has(name));
  expect([...new Set(listed)].sort()).toEqual([...star].sort());
  for (const sid of star) {
    const everywhere = ENVS.every((env) => starOf(env).includes(sid));
    const bullet = bullets.find((b) => b.includes(`\`${sid}\``))!;
    expect({ sid, saysWhere: /\bonly in\b/.test(bullet) }).toEqual({ sid, saysWhere: !everywhere });
  }
});

describe.each(ENVS)('the %s deploy role', (env) => {
  const statements = () => statementsOf(deployRoleName(env));
  const built = () => deployStatements(envContext(env));
  const others = ENVS.filter((e) => e !== env);
  const justified = (built: Statement[]) => new Map(built.filter((s) => s.resources.includes('*')).map((s) => [s.sid, s.justification]));

  test('no "*" action, and no service-wide action on "*" resources', () => {
    for (const s of statements()) {
      for (const action of list(s.Action)) {
        expect({ sid: s.Sid, action }).not.toEqual({ sid: s.Sid, action: '*' });
        if (s.Effect === 'Allow' && list(s.Resource).includes('*')) expect({ sid: s.Sid, action }).not.toEqual({ sid: s.Sid, action: expect.stringMatching(/:\*$/) });
      }
    }
  });

  test('every "*" resource is in the justified exception list, with its written reason', () => {
    const reasons = justified(built());
    const star = statements().filter((s) => list(s.Resource).includes('*'));
    // LogDeliveries only where AWS delivers logs (flow logs, WAF logging: prod).
    const logDeliveries = envContext(env).logDeliveries;
    expect(star.map((s) => s.Sid).sort()).toEqual(
      ['CdnCreateTagged', 'CdnCreates', 'DenyAssumeRole', 'DenyEdgeSecret', 'DenySecretValues', 'LogQueries', 'ReadOnlyDescribe', ...(logDeliveries ? ['LogDeliveries'] : [])].sort(),
    );
    for (const s of star) expect({ sid: s.Sid, reason: (reasons.get(s.Sid) ?? '').length > 40 }).toEqual({ sid: s.Sid, reason: true });
    // The only writes on "*" are creates IAM authorises on "*" alone (the distribution's under its
    // request tags), deregistering task-definition revisions, which running services outlive, and
    // the log deliveries EC2 and WAF set up with the role's permissions, and the saved Logs Insights
    // queries (no ARN; a definition holds a query text, no log data).
    const writes = star.filter((s) => s.Effect === 'Allow').flatMap((s) => list(s.Action)).filter((a) => !/:(Describe|List|Get)/.test(a));
    expect(writes.sort()).toEqual([
      'cloudfront:CreateDistribution',
      'cloudfront:CreateFunction',
      'cloudfront:CreateKeyValueStore',
      'cloudfront:CreateOriginAccessControl',
      'cloudfront:CreateResponseHeadersPolicy',
      'ecs:DeregisterTaskDefinition',
      ...(logDeliveries ? ['logs:CreateLogDelivery', 'logs:DeleteLogDelivery'] : []),
      'logs:DeleteQueryDefinition',
      'logs:PutQueryDefinition',
      ...(logDeliveries ? ['logs:PutResourcePolicy', 'logs:UpdateLogDelivery'] : []),
    ]);
    expect(statements().find((s) => s.Sid === 'CdnCreateTagged').Condition).toEqual({ StringEquals: { 'aws:RequestTag/project': PROJECT, 'aws:RequestTag/env': env } });
  });

  test('every other allow names this environment’s resources: its prefix, its state keys, or its project/env tags', () => {
    // The environment's name followed by `-`, `/` or the end (the ECS cluster is named `docplatform-dev`).
    const own = [new RegExp(`${namePrefix(env)}(-|/|$)`), new RegExp(`${bootstrap.stateBucketName}(/${env}/|$)`), /rds!/];
    // Resources AWS names by id or that belong to AWS: scoped by the condition the statement carries.
    const ACCOUNT_SCOPED_BY_NATURE = ['CdnPolicies', 'CdnKeyValueStores', 'PublicAmiParameters', 'ApiAccountLogging', 'Database', 'WebAcl', 'ImagePromotionSource'];
    for (const s of statements().filter((s) => s.Effect === 'Allow' && !list(s.Resource).includes('*'))) {
      const named = list(s.Resource).every((r) => own.some((p) => p.test(r)));
      const conditioned = s.Condition !== undefined;
      expect({ sid: s.Sid, scoped: named || conditioned || ACCOUNT_SCOPED_BY_NATURE.includes(s.Sid) }).toEqual({ sid: s.Sid, scoped: true });
    }
    const tagged = statements().filter((s) => JSON.stringify(s.Condition ?? {}).includes('Tag/project'));
    for (const s of tagged) {
      // Every tag condition names the project and this environment (Null only asks for an untagged resource).
      for (const [operator, values] of Object.entries<any>(s.Condition).filter(([operator]) => operator !== 'Null')) {
        for (const [key, value] of Object.entries(values)) {
          const expected = key.endsWith('Tag/project') ? PROJECT : key.endsWith('Tag/env') ? env : value;
          expect({ sid: s.Sid, operator, key, value }).toEqual({ sid: s.Sid, operator, key, value: expected });
        }
      }
      expect({ sid: s.Sid, env: JSON.stringify(s.Condition).includes(`/env":"${env}"`) }).toEqual({ sid: s.Sid, env: true });
    }
    expect(tagged.map((s) => s.Sid).sort()).toEqual(
      [
        'ApiCreateTagged',
        'ApiManageTagged',
        'Autoscaling',
        'CdnCreateTagged',
        'CdnManageTagged',
        'CdnTagOnCreate',
        'Ec2CreateInOwnNetwork',
        'Ec2CreateTagged',
        'Ec2LaunchVolumesAndInterfaces',
        'Ec2ManageTagged',
        'Ec2TagOnCreate',
        'Ec2AdoptDefaultSecurityGroup',
      ].sort(),
    );
  });

  test('no statement names another environment, except pulling the images it promotes', () => {
    const promoted = environments[env].images.promoteFrom;
    for (const s of statements()) {
      for (const other of others) {
        const mentions = JSON.stringify({ r: s.Resource, c: s.Condition }).includes(namePrefix(other)) || JSON.stringify(s.Resource).includes(`/${other}/`);
        const allowed = s.Sid === 'ImagePromotionSource' && other === promoted;
        expect({ sid: s.Sid, other, mentions: mentions && !allowed }).toEqual({ sid: s.Sid, other, mentions: false });
      }
    }
    const pull = statements().find((s) => s.Sid === 'ImagePromotionSource');
    if (promoted) {
      expect(list(pull.Action).sort()).toEqual(['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:DescribeImages', 'ecr:GetDownloadUrlForLayer']);
      expect(list(pull.Resource)).toEqual([`arn:aws:ecr:${bootstrap.region}:\${local.account_id}:repository/${namePrefix(promoted)}-*`]);
    } else {
      expect(pull).toBeUndefined();
    }
  });

  test('only the environment that owns the account-level API Gateway logging setting may change it', () => {
    expect(statements().some((s) => s.Sid === 'ApiAccountLogging')).toBe(environments[env].api.ownsAccountLogRole);
  });

  test('EC2 creates may not name another environment’s existing resources, and tags never move a resource between environments', () => {
    const create = statements().find((s) => s.Sid === 'Ec2CreateTagged');
    expect(create.Condition.StringEqualsIfExists).toEqual({ 'aws:ResourceTag/project': PROJECT, 'aws:ResourceTag/env': env });
    expect(list(create.Action)).not.toContain('ec2:CreateTags');
    // The existing resources a create names (the VPC of a subnet, the subnet of a launch): this environment's, by their tags.
    const parents = statements().find((s) => s.Sid === 'Ec2CreateInOwnNetwork');
    expect(parents.Condition).toEqual({ StringEquals: { 'aws:ResourceTag/project': PROJECT, 'aws:ResourceTag/env': env } });
    expect(list(parents.Action)).not.toContain('ec2:CreateTags');
    // The one existing resource without our tags CI may tag: a security group (the VPC's default group it adopts).
    const adopt = statements().find((s) => s.Sid === 'Ec2AdoptDefaultSecurityGroup');
    expect(list(adopt.Resource)).toEqual([`arn:aws:ec2:${bootstrap.region}:\${local.account_id}:security-group/*`]);
    expect(adopt.Condition.Null).toEqual({ 'aws:ResourceTag/project': 'true', 'aws:ResourceTag/env': 'true' });
    for (const s of statements().filter((s) => s.Effect === 'Allow' && list(s.Action).includes('ec2:CreateTags') && s.Sid !== 'Ec2AdoptDefaultSecurityGroup')) {
      // Tags on creation only (ec2:CreateAction), so no existing resource is retagged: ElastiCache's on its endpoint, ours on what we create.
      if (s.Sid === 'CacheVpcEndpointTag') {
        expect(s.Condition).toEqual({ StringEquals: { 'ec2:CreateAction': 'CreateVpcEndpoint', 'aws:RequestTag/AmazonElastiCacheManaged': 'true' } });
        continue;
      }
      if (s.Sid === 'Ec2TagOnCreate') {
        expect(s.Condition.StringEquals).toEqual(expect.objectContaining({ 'aws:RequestTag/project': PROJECT, 'aws:RequestTag/env': env, 'ec2:CreateAction': expect.arrayContaining(['CreateVpc', 'RunInstances']) }));
        expect(Object.keys(s.Condition)).toEqual(['StringEquals']);
        continue;
      }
      expect({ sid: s.Sid, condition: s.Condition }).toEqual({ sid: s.Sid, condition: { StringEquals: { 'aws:ResourceTag/project': PROJECT, 'aws:ResourceTag/env': env } } });
    }
  });

  test('roles it creates or changes must carry this environment’s workload boundary, and no role loses it', () => {
    const boundary = `arn:aws:iam::\${local.account_id}:policy/${workloadBoundaryPolicyName(env)}`;
    const s = statements().find((s) => s.Sid === 'RolesWithBoundary');
    expect(list(s.Action).sort()).toEqual(
      ['iam:AttachRolePolicy', 'iam:CreateRole', 'iam:DeleteRolePolicy', 'iam:DetachRolePolicy', 'iam:PutRolePermissionsBoundary', 'iam:PutRolePolicy', 'iam:UpdateAssumeRolePolicy'],
    );
    expect(s.Condition).toEqual({ StringEquals: { 'iam:PermissionsBoundary': boundary } });
    expect(list(s.Resource)).toEqual([`arn:aws:iam::\${local.account_id}:role/${namePrefix(env)}-*`]);
    const deny = statements().find((s) => s.Sid === 'DenyRolesWithoutBoundary');
    expect({ effect: deny.Effect, actions: deny.Action, resource: deny.Resource, condition: deny.Condition }).toEqual({
      effect: 'Deny',
      actions: ROLE_CHANGES_UNDER_BOUNDARY,
      resource: [`arn:aws:iam::\${local.account_id}:role/*`],
      condition: { StringNotEquals: { 'iam:PermissionsBoundary': boundary } },
    });
    expect(statements().find((s) => s.Sid === 'DenyBoundaryRemoval')).toMatchObject({ Effect: 'Deny', Action: ['iam:DeleteRolePermissionsBoundary'] });
    // No other statement may create, widen or re-trust a role.
    const widening = new RegExp(`^(${[...ROLE_CHANGES_UNDER_BOUNDARY, 'iam:DeleteRolePermissionsBoundary'].join('|')})$`);
    for (const other of statements().filter((x) => x.Sid !== 'RolesWithBoundary' && x.Effect === 'Allow')) {
      expect({ sid: other.Sid, widening: list(other.Action).filter((a) => widening.test(a)) }).toEqual({ sid: other.Sid, widening: [] });
    }
    // The CI roles themselves lie outside the prefixes a deploy role may touch.
    for (const ci of [bootstrap.planRoleName, ...ENVS.map(deployRoleName)]) expect(ENVS.some((e) => ci.startsWith(`${namePrefix(e)}-`))).toBe(false);
  });

  test('it may change no boundary (they carry environment prefixes) and assumes no role', () => {
    const guard = statements().find((s) => s.Sid === 'DenyBoundaryChanges');
    expect(guard.Effect).toBe('Deny');
    expect(list(guard.Resource)).toEqual([`arn:aws:iam::\${local.account_id}:policy/${workloadBoundaryPolicyName('*')}`]);
    expect(list(guard.Action)).toEqual(expect.arrayContaining(['iam:CreatePolicyVersion', 'iam:DeletePolicy', 'iam:DeletePolicyVersion', 'iam:SetDefaultPolicyVersion']));
    expect(statements().find((s) => s.Sid === 'DenyAssumeRole')).toMatchObject({ Effect: 'Deny', Action: ['sts:AssumeRole'], Resource: ['*'] });
  });

  test('it reads no object of a data bucket: bucket-level S3 actions only, objects only of the state and the SPA, the data buckets’ objects denied', () => {
    const OBJECT_ACTION = /^s3:(GetObject|PutObject|DeleteObject|AbortMultipartUpload|RestoreObject|ReplicateObject|\*|Get\*|Put\*|Delete\*)/;
    for (const s of statements().filter((s) => s.Effect === 'Allow')) {
      const objectActions = list(s.Action).filter((a) => OBJECT_ACTION.test(a));
      const allowed = ['StateRead', 'StateWrite', 'StateLock', 'FrontendObjects'].includes(s.Sid);
      expect({ sid: s.Sid, objectActions: allowed ? [] : objectActions }).toEqual({ sid: s.Sid, objectActions: [] });
    }
    expect(statements().find((s) => s.Sid === 'FrontendObjects').Resource).toEqual([`arn:aws:s3:::${namePrefix(env)}-spa*/*`]);
    const deny = statements().find((s) => s.Sid === 'DenyDataObjects');
    expect(deny).toMatchObject({ Effect: 'Deny', Action: ['s3:GetObject*', 's3:PutObject*', 's3:DeleteObject*'] });
    expect(deny.Resource).toEqual([`arn:aws:s3:::${PROJECT}-*-reports-*/*`, `arn:aws:s3:::${PROJECT}-*-assets-*/*`]);
  });

  test('it can neither read secret values (nor the edge’s origin secret) nor reconfigure the state bucket', () => {
    const denies = statements().filter((s) => s.Effect === 'Deny');
    expect(denies.find((s) => s.Sid === 'DenyEdgeSecret').Action).toEqual(['cloudfront-keyvaluestore:*', 'wafv2:GetRegexPatternSet', 'wafv2:UpdateRegexPatternSet']);
    expect(denies.find((s) => s.Sid === 'DenySecretValues').Action).toEqual(['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue']);
    expect(denies.find((s) => s.Sid === 'DenyStateBucketConfig').Action).toEqual(expect.arrayContaining(['s3:DeleteBucket', 's3:PutBucketPolicy']));
  });
});

describe('policy limits and the workload boundary', () => {
  test('every CI policy fits IAM\u2019s 6,144-character managed-policy limit with a real account id', () => {
    const roles: Array<[string, Statement[]]> = [
      [bootstrap.planRoleName, planStatements(sampleContext)],
      ...ENVS.map((env) => [deployRoleName(env), deployStatements(envContext(env))] as [string, Statement[]]),
    ];
    for (const [role, built] of roles) {
      const attached = resources(STACK, 'aws_iam_policy')
        .filter((p) => new RegExp(`^${role}-\\d+$`).test(p.config.name))
        .map((p) => parsePolicy(p.config.policy).Statement.map((s: any) => s.Sid));
      expect({ role, count: attached.length > 0 && attached.length <= 10 }).toEqual({ role, count: true });
      for (const sids of attached) {
        const doc = policyDocument(built.filter((s) => sids.includes(s.sid)));
        expect({ role, size: policySize(doc) <= MANAGED_POLICY_MAX_CHARS }).toEqual({ role, size: true });
      }
    }
  });

  test('every IAM role of the environment stacks carries the workload boundary and an environment name prefix', () => {
    const envStacks = stackNames().filter((n) => n !== STACK);
    const roles = envStacks.flatMap((name) => resources(name, 'aws_iam_role').map((r) => ({ stack: name, ...r })));
    for (const role of roles) {
      const env = role.stack.split('-')[0];
      expect({ role: role.address, stack: role.stack, boundary: String(role.config.permissions_boundary ?? '') }).toEqual({
        role: role.address,
        stack: role.stack,
        boundary: expect.stringMatching(new RegExp(`:policy/${workloadBoundaryPolicyName(env)}$`)),
      });
      expect({ role: role.address, name: String(role.config.name ?? role.config.name_prefix) }).toEqual({
        role: role.address,
        name: expect.stringMatching(new RegExp(`^${namePrefix(env)}-`)),
      });
    }
  });

  const boundaryOf = (env: string) => parsePolicy(resources(STACK, 'aws_iam_policy').find((p) => p.config.name === workloadBoundaryPolicyName(env))!.config.policy);

  test('one boundary per environment, and no shared one', () => {
    const names = resources(STACK, 'aws_iam_policy').map((p) => p.config.name).filter((n: string) => n.endsWith('-workload-boundary'));
    expect(names.sort()).toEqual(ENVS.map(workloadBoundaryPolicyName).sort());
    for (const env of ENVS) expect(Object.keys(synthesizedStack(STACK).output)).toContain(`workload_boundary_arn_${env}`);
  });

  test.each(ENVS)('the %s boundary never reaches the state bucket, allows nothing in IAM and no role assumption', (env) => {
    const boundary = boundaryOf(env);
    const state = boundary.Statement.find((s) => s.Sid === 'NeverTheState');
    expect(state).toMatchObject({ Effect: 'Deny', Action: ['s3:*'], Resource: [`arn:aws:s3:::${bootstrap.stateBucketName}`, `arn:aws:s3:::${bootstrap.stateBucketName}/*`] });
    expect(boundary.Statement.find((s) => s.Sid === 'NeverIamOrOtherRoles')).toMatchObject({ Effect: 'Deny', Action: ['iam:*', 'sts:AssumeRole'], Resource: ['*'] });
    const allowed = boundary.Statement.filter((s) => s.Effect === 'Allow').flatMap((s) => list(s.Action));
    expect(allowed.filter((a) => a.startsWith('iam:') || a.startsWith('sts:'))).toEqual([]);
  });

  test.each(ENVS)('the %s boundary limits every data action to that environment’s resources', (env) => {
    // kms:Decrypt is the exception, checked below: the key is shared by every environment, so it is
    // allowed only through Secrets Manager, which decrypts only secrets the role may read.
    const DATA = /^(secretsmanager:GetSecretValue|s3:(GetObject|PutObject|DeleteObject|AbortMultipartUpload|ListBucket)|sqs:|lambda:InvokeFunction|ecr:(BatchGetImage|GetDownloadUrlForLayer))/;
    for (const s of boundaryOf(env).Statement.filter((s) => s.Effect === 'Allow' && list(s.Action).some((a) => DATA.test(a)))) {
      for (const resource of list(s.Resource)) {
        // The environment's prefix in the ARN, or (the rds! secret) a condition naming it.
        const scoped = resource.includes(`${namePrefix(env)}-`) || JSON.stringify(s.Condition ?? {}).includes(`${namePrefix(env)}-`);
        expect({ sid: s.Sid, resource, scoped }).toEqual({ sid: s.Sid, resource, scoped: true });
      }
      for (const other of ENVS.filter((e) => e !== env)) expect({ sid: s.Sid, other: JSON.stringify(s).includes(namePrefix(other)) }).toEqual({ sid: s.Sid, other: false });
    }
    const kms = boundaryOf(env).Statement.find((s) => list(s.Action).includes('kms:Decrypt'));
    expect(kms.Condition).toEqual({ StringEquals: { 'kms:ViaService': `secretsmanager.${bootstrap.region}.amazonaws.com`, 'kms:CallerAccount': '${local.account_id}' } });
  });

  test('every taggable bootstrap resource is covered by the provider default tags (none overrides them)', () => {
    for (const r of allResources(STACK)) expect({ address: r.address, tags: r.config.tags }).toEqual({ address: r.address, tags: undefined });
  });
});

describe('the deploy role reaches what the environment stacks create', () => {
  const A = sampleContext.accountId;
  const R = bootstrap.region;
  /** IAM's glob: `*` any run of characters, `?` one character. */
  const matches = (pattern: string, arn: string) =>
    new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`).test(arn);
  const literal = (v: unknown): v is string => typeof v === 'string' && !v.includes('${');

  /** The ARN of a named resource, from its synthesised name (names built from tokens are skipped). */
  const ARN_OF: Record<string, (c: any) => string | undefined> = {
    aws_sqs_queue: (c) => literal(c.name) ? `arn:aws:sqs:${R}:${A}:${c.name}` : undefined,
    aws_lambda_function: (c) => literal(c.function_name) ? `arn:aws:lambda:${R}:${A}:function:${c.function_name}` : undefined,
    aws_cloudwatch_log_group: (c) => literal(c.name) ? `arn:aws:logs:${R}:${A}:log-group:${c.name}` : undefined,
    aws_secretsmanager_secret: (c) => literal(c.name) ? `arn:aws:secretsmanager:${R}:${A}:secret:${c.name}-AbCdEf` : undefined,
    aws_ecr_repository: (c) => literal(c.name) ? `arn:aws:ecr:${R}:${A}:repository/${c.name}` : undefined,
    aws_iam_role: (c) => literal(c.name) ? `arn:aws:iam::${A}:role/${c.name}` : undefined,
    aws_iam_policy: (c) => literal(c.name) ? `arn:aws:iam::${A}:policy/${c.name}` : undefined,
    aws_cloudwatch_metric_alarm: (c) => literal(c.alarm_name) ? `arn:aws:cloudwatch:${R}:${A}:alarm:${c.alarm_name}` : undefined,
    aws_sns_topic: (c) => literal(c.name) ? `arn:aws:sns:${R}:${A}:${c.name}` : undefined,
    aws_budgets_budget: (c) => literal(c.name) ? `arn:aws:budgets::${A}:budget/${c.name}` : undefined,
    aws_ecs_cluster: (c) => literal(c.name) ? `arn:aws:ecs:${R}:${A}:cluster/${c.name}` : undefined,
    aws_db_instance: (c) => literal(c.identifier) ? `arn:aws:rds:${R}:${A}:db:${c.identifier}` : undefined,
    aws_db_parameter_group: (c) => literal(c.name) ? `arn:aws:rds:${R}:${A}:pg:${c.name}` : undefined,
    aws_db_subnet_group: (c) => literal(c.name) ? `arn:aws:rds:${R}:${A}:subgrp:${c.name}` : undefined,
    aws_elasticache_serverless_cache: (c) => literal(c.name) ? `arn:aws:elasticache:${R}:${A}:serverlesscache:${c.name}` : undefined,
    aws_elasticache_user: (c) => literal(c.user_id) ? `arn:aws:elasticache:${R}:${A}:user:${c.user_id}` : undefined,
    aws_elasticache_user_group: (c) => literal(c.user_group_id) ? `arn:aws:elasticache:${R}:${A}:usergroup:${c.user_group_id}` : undefined,
    aws_s3_bucket: (c) => literal(c.bucket ?? c.bucket_prefix) ? `arn:aws:s3:::${c.bucket ?? `${c.bucket_prefix}20261126`}` : undefined,
    aws_wafv2_web_acl: (c) => literal(c.name) && c.scope === 'REGIONAL' ? `arn:aws:wafv2:${R}:${A}:regional/webacl/${c.name}/0a1b2c3d` : undefined,
    aws_cloudfront_function: (c) => literal(c.name) ? `arn:aws:cloudfront::${A}:function/${c.name}` : undefined,
  };

  const service = (arn: string) => arn.split(':')[2];
  const namedAllows = (env: string) => deployStatements(envContext(env)).filter((s) => (s.effect ?? 'Allow') === 'Allow' && !s.resources.includes('*'));

  test.each(ENVS)('every named resource of the %s stacks falls under an allow statement of that environment’s deploy role', (env) => {
    // Named coverage only: statements on "*" and statements of another service do not count.
    const allows = namedAllows(env);
    const envStacks = stackNames().filter((n) => n.startsWith(`${env}-`));
    let checked = 0;
    for (const stack of envStacks) {
      for (const [type, arnOf] of Object.entries(ARN_OF)) {
        for (const r of resources(stack, type)) {
          const arn = arnOf(r.config);
          if (!arn) continue;
          checked += 1;
          const covering = allows
            .filter((s) => s.actions.some((a) => a.startsWith(`${service(arn)}:`)) && s.resources.some((p) => matches(p, arn)))
            .map((s) => s.sid);
          expect({ resource: `${stack}/${r.address}`, arn, covered: covering.length > 0 }).toEqual({ resource: `${stack}/${r.address}`, arn, covered: true });
        }
      }
    }
    expect(checked).toBeGreaterThan(20);
  });

  test.each(ENVS)('no named resource of another environment falls under a write of the %s deploy role (only the promoted images, read-only)', (env) => {
    const allows = namedAllows(env);
    const promoted = environments[env].images.promoteFrom;
    for (const stack of stackNames().filter((n) => n !== STACK && !n.startsWith(`${env}-`))) {
      for (const [type, arnOf] of Object.entries(ARN_OF)) {
        for (const r of resources(stack, type)) {
          const arn = arnOf(r.config);
          if (!arn) continue;
          const covering = allows
            .filter((s) => s.actions.some((a) => a.startsWith(`${service(arn)}:`)) && s.resources.some((p) => matches(p, arn)))
            .filter((s) => s.actions.some((a) => !/:(Describe|List|Get)[A-Za-z]*$/.test(a)))
            .filter((s) => !(s.sid === 'ImagePromotionSource' && stack.startsWith(`${promoted}-`)))
            .map((s) => s.sid);
          expect({ resource: `${stack}/${r.address}`, arn, covering }).toEqual({ resource: `${stack}/${r.address}`, arn, covering: [] });
        }
      }
    }
  });
});
