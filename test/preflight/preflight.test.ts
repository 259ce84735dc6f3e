import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { bootstrap, dev, EnvironmentConfig, prod } from '../../stacks/config';
import { CliIo, main } from '../../scripts/preflight/cli';
import { createClients, destroyClients, PreflightClients } from '../../scripts/preflight/clients';
import { demandsOf } from '../../scripts/preflight/demands';
import { Finding } from '../../scripts/preflight/finding';
import { exitCodeOf, PreflightReport, runPreflight } from '../../scripts/preflight/run';
import { Account, AwsAccountStandIn, startAwsAccountStandIn } from '../support/stand-ins/aws-account';

/**
 * `npm run preflight` against a local stand-in of the account APIs (test/support/stand-ins/aws-account.ts),
 * spoken to by the real SDK clients: each through an endpoint override, signed, serialised and
 * parsed as against AWS (query/XML, EC2 query, REST-XML, REST-JSON, JSON 1.1).
 */

const REPO = resolve(__dirname, '../..');
const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' };
const ACCOUNT_ID = '123456789012';
const BOOTSTRAP = { stateBucketName: bootstrap.stateBucketName, region: bootstrap.region, stateInBucket: false };
const BOOTSTRAP_TAGS = { project: 'docplatform', env: 'shared', layer: 'bootstrap' };

/** An account where the bootstrap has run, the quotas are AWS's usual ones and every secret of `config` has a value. */
function cleanAccount(config: EnvironmentConfig = dev): Account {
  return {
    accountId: ACCOUNT_ID,
    callerArn: `arn:aws:iam::${ACCOUNT_ID}:user/admin`,
    oidcProviders: [{ url: 'token.actions.githubusercontent.com', clientIds: ['sts.amazonaws.com'], tags: BOOTSTRAP_TAGS }],
    buckets: { [bootstrap.stateBucketName]: { owner: 'us', region: 'eu-west-3', versioning: 'Enabled', tags: BOOTSTRAP_TAGS } },
    lambda: { concurrentExecutions: 1000, unreservedConcurrentExecutions: 1000, functions: {} },
    quotas: { 'fargate/L-36FBB829': 6, 'fargate/L-3032A538': 6 },
    defaultQuotas: { 'fargate/L-36FBB829': 6, 'fargate/L-3032A538': 6, 'ec2/L-0263D0A3': 5 },
    addresses: [],
    certificates: [],
    costAllocationTags: ['project', 'env', 'layer'].map((key) => ({ key, type: 'UserDefined' as const, status: 'Active' as const })),
    secrets: Object.fromEntries(demandsOf(config).secrets.map((s) => [s.name, { versions: [{ id: 'v1', stages: ['AWSCURRENT'] }] }])),
  };
}

/** A new account: nothing of ours in it yet. */
function freshAccount(): Account {
  return { ...cleanAccount(), oidcProviders: [], buckets: {}, secrets: {}, costAllocationTags: [] };
}

const pinned = (config: EnvironmentConfig): EnvironmentConfig => ({ ...config, accountId: ACCOUNT_ID });
const withEdge = (config: EnvironmentConfig, edge: Partial<EnvironmentConfig['edge']>): EnvironmentConfig => ({ ...config, edge: { ...config.edge, ...edge } });

let standIn: AwsAccountStandIn;
let clients: PreflightClients;

beforeAll(async () => {
  standIn = await startAwsAccountStandIn(cleanAccount());
});
afterAll(() => standIn.close());
beforeEach(() => {
  standIn.account = cleanAccount();
  standIn.requests.length = 0;
  clients = createClients({ region: 'eu-west-3', endpoint: standIn.endpoint, credentials: CREDENTIALS, maxAttempts: 1 }, {});
});
afterEach(() => destroyClients(clients));

const preflight = (config: EnvironmentConfig = pinned(dev)) => runPreflight(config, BOOTSTRAP, clients);
const find = (report: PreflightReport, check: string): Finding[] => report.findings.filter((f) => f.check === check);
const one = (report: PreflightReport, check: string): Finding => {
  const found = find(report, check);
  expect(found).toHaveLength(1);
  return found[0];
};
const notOk = (report: PreflightReport) => report.findings.filter((f) => f.status !== 'ok');

describe('a clean account', () => {
  test('passes: every check ok, exit 0; ACM and Cost Explorer asked in us-east-1, the rest in eu-west-3', async () => {
    const report = await preflight();
    expect(notOk(report)).toEqual([]);
    expect(report).toMatchObject({ ok: true, errors: 0, warnings: 0, account: ACCOUNT_ID, region: 'eu-west-3' });
    expect(exitCodeOf(report)).toBe(0);
    expect(report.findings.map((f) => f.check)).toEqual([
      'region',
      'account',
      'github-oidc-provider',
      'state-bucket',
      'lambda-concurrency',
      'fargate-spot-vcpu',
      'fargate-on-demand-vcpu',
      'elastic-ips',
      'edge-certificate',
      'cost-allocation-tags',
      ...demandsOf(dev).secrets.map((s) => `secret ${s.name}`),
    ]);
    const regions = (service: string) => [...new Set(standIn.requests.filter((r) => r.startsWith(`${service} `)).map((r) => r.split(' ')[1]))];
    expect(regions('ce')).toEqual(['us-east-1']);
    expect(regions('sts')).toEqual(['eu-west-3']);
    expect(regions('secretsmanager')).toEqual(['eu-west-3']);
    // No custom domain: no certificate lookup at all.
    expect(regions('acm')).toEqual([]);
    expect(regions('ec2')).toEqual(['eu-west-3']);
  });

  test('a new account (no bootstrap yet, no secrets, tags unseen by Billing) passes with warnings only', async () => {
    standIn.account = freshAccount();
    const report = await preflight(dev);
    expect(exitCodeOf(report)).toBe(0);
    expect(one(report, 'github-oidc-provider')).toMatchObject({ status: 'ok', message: expect.stringMatching(/the bootstrap creates it/) });
    expect(one(report, 'state-bucket')).toMatchObject({ status: 'ok', message: 'docplatform-tfstate is free: the bootstrap creates it in eu-west-3' });
    expect(one(report, 'account')).toMatchObject({ status: 'warning', fix: `set accountId: '${ACCOUNT_ID}' on dev in stacks/config.ts (the provider then refuses any other account)` });
    expect(one(report, 'cost-allocation-tags')).toMatchObject({ status: 'warning', fix: expect.stringContaining('aws ce update-cost-allocation-tags-status --region us-east-1') });
    const secret = one(report, 'secret docplatform-dev-gemini-api-key');
    expect(secret).toMatchObject({ status: 'warning', message: expect.stringMatching(/^not created yet/) });
    expect(secret.fix).toContain('aws secretsmanager put-secret-value --region eu-west-3 --secret-id docplatform-dev-gemini-api-key');
  });
});

describe('Lambda concurrency', () => {
  test('a new account limit of 10 cannot hold the reservations: error with the quota to ask for, exit 1', async () => {
    standIn.account.lambda = { concurrentExecutions: 10, unreservedConcurrentExecutions: 10, functions: {} };
    const report = await preflight();
    const finding = one(report, 'lambda-concurrency');
    expect(finding.status).toBe('error');
    expect(finding.message).toBe(
      'account limit 10, 0 reserved by other functions, dev reserves 30 (6 functions): -20 would stay unreserved, Lambda requires 100: ' +
        'the compute deploy fails setting the reservations (PutFunctionConcurrency: InvalidParameterValueException)',
    );
    expect(finding.fix).toContain('aws service-quotas request-service-quota-increase --region eu-west-3 --service-code lambda --quota-code L-B99A9384 --desired-value 130');
    expect(exitCodeOf(report)).toBe(1);
  });

  test('what other functions reserve counts, what the environment already holds is given back', async () => {
    // dev is deployed (6 × 5 reserved), prod's order function exists and holds 8: prod needs its reservations less those 8.
    const prodReserves = demandsOf(prod).reservedConcurrency;
    const functions = { ...Object.fromEntries(demandsOf(dev).functions.map((f) => [f.functionName, 5])), 'docplatform-prod-order': 8, 'docplatform-prod-theme': null };
    const enough = 30 + prodReserves + 100;
    standIn.account.lambda = { concurrentExecutions: enough, unreservedConcurrentExecutions: enough - 30 - 8, functions };
    expect(one(await preflight(pinned(prod)), 'lambda-concurrency')).toMatchObject({ status: 'ok', message: expect.stringContaining(`30 reserved by other functions, prod reserves ${prodReserves} (6 functions): 100 would stay unreserved`) });
    standIn.account.lambda = { ...standIn.account.lambda, concurrentExecutions: enough - 1, unreservedConcurrentExecutions: enough - 1 - 30 - 8 };
    const finding = one(await preflight(pinned(prod)), 'lambda-concurrency');
    expect(finding).toMatchObject({ status: 'error', fix: expect.stringContaining(`--desired-value ${enough}`) });
  });
});

describe('the state bucket', () => {
  test("a name another account owns (HeadBucket 403) is an error naming a free one, exit 1", async () => {
    standIn.account.buckets = { [bootstrap.stateBucketName]: { owner: 'other', region: 'eu-west-3' } };
    const report = await preflight();
    const finding = one(report, 'state-bucket');
    expect(finding).toMatchObject({ status: 'error', message: expect.stringContaining('docplatform-tfstate belongs to another account (HeadBucket: 403;') });
    expect(finding.fix).toContain(`stateBucketName: 'docplatform-tfstate-${ACCOUNT_ID}'`);
    expect(exitCodeOf(report)).toBe(1);
  });

  test('ours in another region (S3 answers 301, the client follows it): error; unversioned: warning; not the bootstrap\'s: error with the import', async () => {
    standIn.account.buckets = { [bootstrap.stateBucketName]: { owner: 'us', region: 'eu-central-1', versioning: 'Suspended' } };
    const findings = find(await preflight(), 'state-bucket');
    expect(findings.map((f) => f.status)).toEqual(['error', 'warning', 'error']);
    expect(findings[0].message).toContain('is ours but in eu-central-1; the backends and the bootstrap expect eu-west-3');
    expect(findings[1].fix).toBe('aws s3api put-bucket-versioning --bucket docplatform-tfstate --versioning-configuration Status=Enabled (the bootstrap stack also sets it once it manages the bucket)');
    expect(findings[2].fix).toContain('terraform -chdir=cdktf.out/stacks/bootstrap import aws_s3_bucket.state docplatform-tfstate');
    expect(standIn.requests.filter((r) => r.startsWith('s3 ') && r.includes('HEAD'))).toEqual(['s3 eu-west-3 HEAD /docplatform-tfstate/', 's3 eu-central-1 HEAD /docplatform-tfstate/']);
  });

  test('stateInBucket set while the bucket does not exist is an error', async () => {
    standIn.account.buckets = {};
    const report = await runPreflight(pinned(dev), { ...BOOTSTRAP, stateInBucket: true }, clients);
    expect(one(report, 'state-bucket')).toMatchObject({ status: 'error', message: expect.stringContaining('bootstrap.stateInBucket is true') });
  });
});

describe('the GitHub OIDC provider', () => {
  test('one the bootstrap did not create would be duplicated: error with the import that reuses it', async () => {
    standIn.account.oidcProviders = [
      { url: 'accounts.google.com', clientIds: ['x'], tags: {} },
      { url: 'token.actions.githubusercontent.com', clientIds: ['sts.amazonaws.com'], tags: { owner: 'platform-team' } },
    ];
    const report = await preflight();
    const finding = one(report, 'github-oidc-provider');
    expect(finding.status).toBe('error');
    expect(finding.message).toContain(`arn:aws:iam::${ACCOUNT_ID}:oidc-provider/token.actions.githubusercontent.com exists and was not created by the bootstrap stack`);
    expect(finding.message).toContain('EntityAlreadyExists');
    expect(finding.fix).toContain(`import aws_iam_openid_connect_provider.github-oidc arn:aws:iam::${ACCOUNT_ID}:oidc-provider/token.actions.githubusercontent.com`);
    expect(exitCodeOf(report)).toBe(1);
  });
});

describe('the edge certificate', () => {
  const domains = ['docs.example.com', 'www.example.com'];
  const arn = (id: string) => `arn:aws:acm:us-east-1:${ACCOUNT_ID}:certificate/${id}`;

  test('domain names set and no certificate covering them: error with the request command, exit 1', async () => {
    standIn.account.certificates = [{ arn: arn('other'), domainName: 'docs.example.com', subjectAlternativeNames: ['docs.example.com'], status: 'ISSUED', keyAlgorithm: 'RSA_2048' }];
    const report = await preflight(withEdge(pinned(dev), { domainNames: domains }));
    const finding = one(report, 'edge-certificate');
    expect(finding).toMatchObject({ status: 'error', message: expect.stringContaining('no ISSUED certificate in us-east-1 covers docs.example.com, www.example.com') });
    expect(finding.fix).toContain('aws acm request-certificate --region us-east-1 --domain-name docs.example.com --subject-alternative-names www.example.com --validation-method DNS');
    expect(exitCodeOf(report)).toBe(1);
    expect(standIn.requests.filter((r) => r.startsWith('acm '))).toEqual(['acm us-east-1 ListCertificates']);
  });

  test('an ECDSA wildcard certificate covers them (found because the listing asks for EC keys): error until certificateArn names it', async () => {
    standIn.account.certificates = [{ arn: arn('wild'), domainName: '*.example.com', subjectAlternativeNames: ['*.example.com', 'example.com'], status: 'ISSUED', keyAlgorithm: 'EC_prime256v1' }];
    const finding = one(await preflight(withEdge(pinned(dev), { domainNames: domains })), 'edge-certificate');
    expect(finding).toMatchObject({ status: 'error', fix: `set edge.certificateArn: '${arn('wild')}' on dev in stacks/config.ts` });
  });

  test('the configured certificate: ok when ISSUED and covering (names past the summary read in full); pending or wrong region: error', async () => {
    const sans = ['a.example.org', 'b.example.org', 'www.example.com', 'docs.example.com'];
    standIn.account.certificates = [
      { arn: arn('full'), domainName: 'a.example.org', subjectAlternativeNames: sans, status: 'ISSUED', keyAlgorithm: 'RSA_2048' },
      { arn: arn('pending'), domainName: 'docs.example.com', subjectAlternativeNames: domains, status: 'PENDING_VALIDATION', keyAlgorithm: 'RSA_2048' },
    ];
    const ok = one(await preflight(withEdge(pinned(dev), { domainNames: domains, certificateArn: arn('full') })), 'edge-certificate');
    expect(ok).toMatchObject({ status: 'ok', message: `${arn('full')} (ISSUED, us-east-1) covers docs.example.com, www.example.com` });
    expect(standIn.requests).toContain('acm us-east-1 DescribeCertificate');

    const pending = one(await preflight(withEdge(pinned(dev), { domainNames: domains, certificateArn: arn('pending') })), 'edge-certificate');
    expect(pending).toMatchObject({ status: 'error', message: expect.stringContaining('is PENDING_VALIDATION, not ISSUED'), fix: expect.stringContaining('DomainValidationOptions') });

    const elsewhere = one(await preflight(withEdge(pinned(dev), { domainNames: domains, certificateArn: `arn:aws:acm:eu-west-3:${ACCOUNT_ID}:certificate/x` })), 'edge-certificate');
    expect(elsewhere).toMatchObject({ status: 'error', message: expect.stringContaining('CloudFront takes certificates from us-east-1 only') });
  });
});

describe('the secrets', () => {
  test('secrets without a value (no AWSCURRENT version) are errors naming the put-secret-value command, exit 1', async () => {
    standIn.account.secrets['docplatform-dev-stripe-secret-key'] = { versions: [] };
    standIn.account.secrets['docplatform-dev-db-app'] = { versions: [{ id: 'v1', stages: ['AWSPENDING'] }, { id: 'v0', stages: ['AWSPREVIOUS'] }] };
    const report = await preflight();
    const stripe = one(report, 'secret docplatform-dev-stripe-secret-key');
    expect(stripe).toMatchObject({
      status: 'error',
      message: 'has no value (no AWSCURRENT version), so what reads it fails: gateway-b2c (Stripe Checkout)',
      fix: 'aws secretsmanager put-secret-value --region eu-west-3 --secret-id docplatform-dev-stripe-secret-key --secret-string "$STRIPE_SECRET_KEY"',
    });
    expect(one(report, 'secret docplatform-dev-db-app').fix).toBe(
      `aws secretsmanager put-secret-value --region eu-west-3 --secret-id docplatform-dev-db-app --secret-string "{\\"username\\":\\"docplatform_app\\",\\"password\\":\\"$(openssl rand -base64 32 | tr -d '\\n')\\"}"`,
    );
    expect(one(report, 'secret docplatform-dev-gemini-api-key').status).toBe('ok');
    expect(report.errors).toBe(2);
    expect(exitCodeOf(report)).toBe(1);
  });

  test('a secret scheduled for deletion blocks the data layer: error with restore-secret', async () => {
    standIn.account.secrets['docplatform-dev-order-token-secret'] = { versions: [{ id: 'v1', stages: ['AWSCURRENT'] }], deletedDate: new Date('2026-12-08T00:00:00Z') };
    const finding = one(await preflight(), 'secret docplatform-dev-order-token-secret');
    expect(finding).toMatchObject({ status: 'error', message: expect.stringContaining('scheduled for deletion (2026-12-08T00:00:00.000Z)') });
    expect(finding.fix).toContain('aws secretsmanager restore-secret --region eu-west-3 --secret-id docplatform-dev-order-token-secret');
  });
});

describe('quotas and the rest', () => {
  test('Fargate: Spot below the workers at maxTasks warns, below one task errors; on-demand below the migration task errors', async () => {
    standIn.account.quotas = { 'fargate/L-36FBB829': 4, 'fargate/L-3032A538': 8 };
    let report = await preflight(pinned(prod));
    expect(one(report, 'fargate-spot-vcpu')).toMatchObject({ status: 'warning', message: expect.stringContaining('L-36FBB829 4 vCPU; the workers at maxTasks need 8 vCPU') });
    expect(one(report, 'fargate-spot-vcpu').fix).toContain('--service-code fargate --quota-code L-36FBB829 --desired-value 8');
    expect(one(report, 'fargate-on-demand-vcpu')).toMatchObject({ status: 'warning', message: expect.stringContaining("with the workers' on-demand fallback 10") });
    expect(exitCodeOf(report)).toBe(0);

    // Never raised: GetServiceQuota has no applied value and AWS's default is what counts.
    standIn.account.quotas = {};
    standIn.account.defaultQuotas = { ...standIn.account.defaultQuotas, 'fargate/L-36FBB829': 0, 'fargate/L-3032A538': 1 };
    report = await preflight();
    expect(one(report, 'fargate-spot-vcpu')).toMatchObject({ status: 'error', message: expect.stringContaining('no worker task can start') });
    expect(one(report, 'fargate-on-demand-vcpu')).toMatchObject({ status: 'error', message: expect.stringContaining("the deploy's migration step cannot start its task") });
    expect(standIn.requests).toContain('servicequotas eu-west-3 GetAWSDefaultServiceQuota');
  });

  test('Elastic IPs: the NAT needs one; none left under the quota is an error naming the idle ones; no egress needs none', async () => {
    const egress = (mode: EnvironmentConfig['network']['egress']): EnvironmentConfig => ({ ...pinned(dev), network: { ...dev.network, egress: mode } });
    standIn.account.addresses = [
      { allocationId: 'eipalloc-1', publicIp: '203.0.113.1', associationId: 'eipassoc-1' },
      { allocationId: 'eipalloc-2', publicIp: '203.0.113.2' },
      { allocationId: 'eipalloc-3', publicIp: '203.0.113.3', associationId: 'eipassoc-3' },
    ];
    standIn.account.quotas['ec2/L-0263D0A3'] = 4;
    expect(one(await preflight(egress('nat-gateway')), 'elastic-ips')).toMatchObject({ status: 'ok', message: '3 of 4 allocated (L-0263D0A3); egress nat-gateway needs 1' });
    standIn.account.quotas['ec2/L-0263D0A3'] = 3;
    expect(one(await preflight(egress('none')), 'elastic-ips')).toMatchObject({ status: 'ok', message: 'egress none allocates no Elastic IP' });
    const finding = one(await preflight(egress('nat-instance')), 'elastic-ips');
    expect(finding).toMatchObject({ status: 'error', message: expect.stringContaining('AddressLimitExceeded') });
    expect(finding.fix).toContain('not associated: eipalloc-2 (203.0.113.2)');
    expect(finding.fix).toContain('--quota-code L-0263D0A3 --desired-value 4');

    // Run again after the network layer: the NAT's address is the environment's own (its stack's default tags), the one it needs.
    standIn.account.addresses[2] = { ...standIn.account.addresses[2], tags: { project: 'docplatform', env: 'dev', layer: 'network', Name: 'docplatform-dev-nat' } };
    expect(one(await preflight(egress('nat-instance')), 'elastic-ips')).toMatchObject({
      status: 'ok',
      message: "3 of 3 allocated (L-0263D0A3); egress nat-instance needs 1, which dev's network stack holds already (eipalloc-3)",
    });
    // Another environment's (or layer's) address is no help.
    standIn.account.addresses[2].tags = { project: 'docplatform', env: 'prod', layer: 'network' };
    expect(one(await preflight(egress('nat-instance')), 'elastic-ips')).toMatchObject({ status: 'error' });
  });

  test('inactive cost allocation tags, or a member account that may not read them, only warn', async () => {
    standIn.account.costAllocationTags = [
      { key: 'project', type: 'UserDefined', status: 'Active' },
      { key: 'env', type: 'UserDefined', status: 'Inactive' },
    ];
    let report = await preflight();
    expect(one(report, 'cost-allocation-tags')).toMatchObject({
      status: 'warning',
      message: expect.stringMatching(/^env inactive; layer not yet known to Billing .*the dev budget \(filter user:env\$dev\) sees none of its spend$/),
      fix: expect.stringContaining('--cost-allocation-tags-status TagKey=env,Status=Active TagKey=layer,Status=Active'),
    });
    expect(exitCodeOf(report)).toBe(0);
    standIn.account.costExplorerDenied = true;
    report = await preflight();
    expect(one(report, 'cost-allocation-tags')).toMatchObject({ status: 'warning', message: expect.stringContaining('only the management account') });
    expect(exitCodeOf(report)).toBe(0);
  });

  test('refused credentials: one error, every AWS check skipped, exit 1', async () => {
    standIn.account.credentialsError = 'ExpiredToken';
    const report = await preflight();
    expect(one(report, 'account')).toMatchObject({ status: 'error', message: expect.stringContaining('no usable AWS credentials (sts GetCallerIdentity: ExpiredToken') });
    expect(report.findings.filter((f) => f.status === 'skipped')).toHaveLength(report.findings.length - 2);
    expect(exitCodeOf(report)).toBe(1);
  });

  test('a refused read is that check\'s finding, naming the actions to allow; the other checks still run', async () => {
    standIn.account.denied = ['ListOpenIDConnectProviders', 'GET /2016-08-19/account-settings'];
    const report = await preflight();
    expect(one(report, 'github-oidc-provider')).toMatchObject({
      status: 'error',
      message: expect.stringMatching(/^could not check: AccessDenied: User: .* is not authorized to perform: iam:ListOpenIDConnectProviders$/),
      fix: 'run with credentials allowed iam:ListOpenIDConnectProviders, iam:GetOpenIDConnectProvider (read-only), then again',
    });
    expect(one(report, 'lambda-concurrency')).toMatchObject({ status: 'error', message: expect.stringContaining('could not check: AccessDeniedException') });
    expect(report.errors).toBe(2);
    expect(one(report, 'state-bucket').status).toBe('ok');
  });

  test('a config outside eu-west-3 is an error', async () => {
    const report = await runPreflight(pinned(dev), { ...BOOTSTRAP, region: 'eu-west-1' }, clients);
    expect(one(report, 'region')).toMatchObject({ status: 'error', message: expect.stringContaining('bootstrap.region is "eu-west-1"') });
  });
});

describe('the CLI', () => {
  /** main() in this process, with a config of our own and the stand-in as --endpoint. */
  async function inProcess(args: string[], config: EnvironmentConfig): Promise<{ code: number; stdout: string; logs: any[] }> {
    const saved = { ...process.env };
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_MAX_ATTEMPTS: '1' });
    delete process.env.AWS_ENDPOINT_URL;
    let stdout = '';
    const logs: any[] = [];
    const sink = (fields: Record<string, unknown>) => logs.push(fields);
    const log = { debug: () => {}, info: (msg: string, f?: object) => sink({ level: 'info', msg, ...f }), warn: () => {}, error: (msg: string, f?: object) => sink({ level: 'error', msg, ...f }), child: () => log };
    const io: CliIo = { stdout: (t) => void (stdout += t), log, environments: { [config.env]: config }, bootstrap: BOOTSTRAP };
    try {
      const code = await main([...args, '--endpoint', standIn.endpoint], io);
      return { code, stdout, logs };
    } finally {
      process.env = saved;
    }
  }

  test('missing certificate with domain names set: the table names it with its fix, exit 1', async () => {
    const { code, stdout, logs } = await inProcess(['--env', 'dev'], withEdge(pinned(dev), { domainNames: ['docs.example.com'] }));
    expect(code).toBe(1);
    expect(stdout).toMatch(/^ERROR\s+edge-certificate\s+no ISSUED certificate in us-east-1 covers docs\.example\.com/m);
    expect(stdout).toMatch(/^\s+fix: aws acm request-certificate --region us-east-1 --domain-name docs\.example\.com --validation-method DNS/m);
    expect(stdout).toContain('1 error, 0 warnings: the deploy of dev would fail; fix the errors first');
    expect(logs).toContainEqual(expect.objectContaining({ level: 'info', msg: 'preflight-done', errors: 1, warnings: 0 }));
  });

  function runCli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((done) => {
      execFile(
        process.execPath,
        [require.resolve('tsx/cli'), 'scripts/preflight/cli.ts', ...args],
        { cwd: REPO, env: { ...process.env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_MAX_ATTEMPTS: '1', AWS_ENDPOINT_URL: '', ...env } },
        (error, stdout, stderr) => done({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      );
    });
  }
  /** The JSON log lines of stderr (after a usage error, the usage text follows its line). */
  const logLines = (stderr: string) => stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));

  test('npm run preflight -- --env dev --json through AWS_ENDPOINT_URL: a clean account exits 0, the report on stdout, the log on stderr', async () => {
    const { code, stdout, stderr } = await runCli(['--env', 'dev', '--json'], { AWS_ENDPOINT_URL: standIn.endpoint });
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report).toMatchObject({ env: 'dev', region: 'eu-west-3', account: ACCOUNT_ID, ok: true, errors: 0 });
    // The real dev config sets no accountId: the one warning.
    expect(report.findings.filter((f: Finding) => f.status !== 'ok').map((f: Finding) => f.check)).toEqual(['account']);
    expect(logLines(stderr)).toEqual([expect.objectContaining({ level: 'info', msg: 'preflight-done', component: 'preflight', env: 'dev', errors: 0, warnings: 1 })]);
  }, 30_000);

  test('empty secrets through --endpoint: the table lists each with its put-secret-value command, exit 1', async () => {
    standIn.account = cleanAccount(prod);
    standIn.account.secrets['docplatform-prod-gemini-api-key'] = { versions: [] };
    standIn.account.secrets['docplatform-prod-order-token-secret'] = { versions: [] };
    const { code, stdout } = await runCli(['--env', 'prod', '--endpoint', standIn.endpoint]);
    expect(code).toBe(1);
    expect(stdout).toMatch(/^ERROR\s+secret docplatform-prod-gemini-api-key\s+has no value \(no AWSCURRENT version\)/m);
    expect(stdout).toMatch(/^\s+fix: aws secretsmanager put-secret-value --region eu-west-3 --secret-id docplatform-prod-order-token-secret --secret-string "\$\(openssl rand -base64 32\)"$/m);
    expect(stdout).toContain('2 errors');
  }, 30_000);

  test('bad input exits 2 with a message naming the field', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--env', 'staging'], /^--env: must be one of dev, prod, got "staging"$/],
      [[], /^--env: required/],
      [['--env', 'dev', '--endpoint', 'not a url'], /^--endpoint: must be an absolute http\(s\) URL/],
      [['--env', 'dev', '--region', 'us-east-1'], /^--region: unknown option \(known: --env, --json, --endpoint, --help\)$/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(args, { AWS_ENDPOINT_URL: standIn.endpoint })));
    results.forEach((result, i) => {
      expect(result.code).toBe(2);
      expect(result.stdout).toBe('');
      expect(logLines(result.stderr)).toEqual([expect.objectContaining({ level: 'error', msg: expect.stringMatching(cases[i][1]), exitCode: 2 })]);
      expect(result.stderr).toContain('usage: npm run preflight -- --env');
      expect(result.stderr).not.toMatch(/^\s+at .+:\d+:\d+\)?$/m);
    });
    expect(standIn.requests).toEqual([]);
  }, 30_000);
});
