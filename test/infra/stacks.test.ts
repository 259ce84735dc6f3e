import * as fs from 'node:fs';
import * as path from 'node:path';
import { PROJECT, REGION } from '../../core/contract';
import { environments } from '../../stacks/config';
import { allResources, manifest, parsePolicy, REPO_ROOT, resources, stackNames, synthesizedStack } from '../support/infra-synth';

/** Invariants that hold for every stack of every environment, whoever wrote the layer. */
const envStacks = Object.values(environments).flatMap((c) => ['network', 'data', 'compute', 'edge'].map((layer) => [`${c.env}-${layer}`, c.env, layer] as const));
const everyStack = stackNames();

test('the app synthesises bootstrap and the four layers of every environment', () => {
  expect(everyStack.sort()).toEqual(['bootstrap', ...envStacks.map(([name]) => name)].sort());
});

test('deploy order is network → data → compute → edge (manifest dependencies)', () => {
  const stacks = manifest();
  for (const env of Object.keys(environments)) {
    expect(stacks[`${env}-network`].dependencies).toEqual([]);
    expect(stacks[`${env}-data`].dependencies).toEqual([`${env}-network`]);
    expect(stacks[`${env}-compute`].dependencies.sort()).toEqual([`${env}-data`, `${env}-network`]);
    expect(stacks[`${env}-edge`].dependencies).toEqual([`${env}-compute`]);
  }
});

describe.each(envStacks)('%s', (name, env, layer) => {
  const stack = synthesizedStack(name);

  test(`the backend is S3 with key ${env}/${layer}.tfstate, encrypt and use_lockfile, no dynamodb_table`, () => {
    expect(stack.terraform.backend).toEqual({
      s3: { bucket: `${PROJECT}-tfstate`, key: `${env}/${layer}.tfstate`, region: 'eu-west-3', encrypt: true, use_lockfile: true },
    });
  });

  test('remote state reads carry no deprecated lock-table settings', () => {
    for (const state of Object.values<any>(stack.data?.terraform_remote_state ?? {})) {
      expect(state.backend).toBe('s3');
      expect(state.config.dynamodb_table).toBeUndefined();
    }
  });

  test(`every AWS provider is in ${REGION} and tags every taggable resource with project/env/layer (default_tags)`, () => {
    expect(stack.provider.aws.length).toBeGreaterThan(0);
    for (const provider of stack.provider.aws) {
      if (!provider.alias) expect(provider.region).toBe(REGION);
      expect(provider.default_tags).toEqual([{ tags: { project: PROJECT, env, layer } }]);
    }
  });

  test('no resource overrides the project/env/layer tags', () => {
    for (const resource of allResources(stack)) {
      const tags = resource.config.tags ?? {};
      for (const key of ['project', 'env', 'layer']) expect(tags[key]).toBeUndefined();
    }
  });
});

describe.each(everyStack)('%s', (name) => {
  const stack = synthesizedStack(name);
  const buckets = resources(stack, 'aws_s3_bucket');
  const bucketRef = (b: { address: string }) => `\${${b.address}.id}`;
  const attached = (type: string, b: { address: string }) => resources(stack, type).filter((r) => r.config.bucket === bucketRef(b));

  test('every bucket blocks public access', () => {
    for (const b of buckets) {
      const [block] = attached('aws_s3_bucket_public_access_block', b);
      expect(block?.config).toMatchObject({ block_public_acls: true, block_public_policy: true, ignore_public_acls: true, restrict_public_buckets: true });
    }
  });

  test('every bucket is encrypted at rest', () => {
    for (const b of buckets) {
      const [sse] = attached('aws_s3_bucket_server_side_encryption_configuration', b);
      expect(['AES256', 'aws:kms']).toContain(sse?.config.rule[0].apply_server_side_encryption_by_default.sse_algorithm);
    }
  });

  test('every bucket denies non-TLS requests', () => {
    for (const b of buckets) {
      const [policy] = attached('aws_s3_bucket_policy', b);
      expect(parsePolicy(policy.config.policy).Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Principal: '*', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
  });

  // Nothing resumes a multipart upload (storage:move restarts an object on a rerun), so an upload
  // open for a day is a killed process's, and its parts would be billed for nothing after that.
  test('every bucket disables ACLs and aborts incomplete multipart uploads after 1 day (an enabled whole-bucket rule)', () => {
    for (const b of buckets) {
      expect(attached('aws_s3_bucket_ownership_controls', b)[0]?.config.rule.object_ownership).toBe('BucketOwnerEnforced');
      const [lifecycle] = attached('aws_s3_bucket_lifecycle_configuration', b);
      const aborts = lifecycle.config.rule.filter((r: any) => r.status === 'Enabled' && r.filter?.[0]?.prefix === '' && r.abort_incomplete_multipart_upload);
      expect({ bucket: b.address, days: aborts.map((r: any) => r.abort_incomplete_multipart_upload[0].days_after_initiation) }).toEqual({ bucket: b.address, days: [1] });
    }
  });

  test('every SQS queue has a DLQ (or is one)', () => {
    const queues = resources(stack, 'aws_sqs_queue');
    const dlqTargets = new Set(queues.filter((q) => q.config.redrive_policy).map((q) => JSON.parse(q.config.redrive_policy).deadLetterTargetArn));
    for (const q of queues) {
      const isDlq = dlqTargets.has(`\${${q.address}.arn}`);
      expect(isDlq || Boolean(q.config.redrive_policy)).toBe(true);
    }
  });

  test('every queue is encrypted', () => {
    for (const q of resources(stack, 'aws_sqs_queue')) {
      expect(q.config.sqs_managed_sse_enabled === true || Boolean(q.config.kms_master_key_id)).toBe(true);
    }
  });

  test('every log group has a retention', () => {
    for (const group of resources(stack, 'aws_cloudwatch_log_group')) {
      expect(group.config.retention_in_days).toBeGreaterThan(0);
    }
  });

  test('every alarm notifies someone', () => {
    for (const alarm of resources(stack, 'aws_cloudwatch_metric_alarm')) {
      expect(alarm.config.alarm_actions?.length).toBeGreaterThan(0);
    }
  });

  test('no secret value is written to state', () => {
    expect(resources(stack, 'aws_secretsmanager_secret_version')).toEqual([]);
    for (const db of resources(stack, 'aws_db_instance')) expect(db.config.password).toBeUndefined();
  });

  test('no DynamoDB lock table', () => {
    expect(resources(stack, 'aws_dynamodb_table').filter((t) => /lock/i.test(t.config.name ?? ''))).toEqual([]);
  });
});

test('no provider class is imported from the package root', () => {
  const offenders: string[] = [];
  const rootImport = /(from\s+|require\(\s*|import\(\s*)['"]@cdktf\/provider-aws['"]/;
  const visit = (rel: string): void => {
    const abs = path.join(REPO_ROOT, rel);
    if (!fs.existsSync(abs)) return;
    if (fs.statSync(abs).isDirectory()) {
      for (const entry of fs.readdirSync(abs)) if (!['node_modules', 'cdktf.out', 'dist', '.build', '.git'].includes(entry)) visit(path.join(rel, entry));
      return;
    }
    if (/\.(ts|js|mjs|cjs)$/.test(rel) && rootImport.test(fs.readFileSync(abs, 'utf8'))) offenders.push(rel);
  };
  ['main.ts', 'stacks', 'modules', 'functions', 'containers', 'scripts', 'bench', 'test', 'migrations'].forEach(visit);
  expect(offenders).toEqual([]);
});
