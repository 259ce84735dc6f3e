import { EnvironmentConfig } from '../../stacks/config';
import { checkAccount, checkRegion } from './account';
import { checkCertificate } from './certificate';
import { PreflightClients } from './clients';
import { checkCostAllocationTags } from './cost-tags';
import { demandsOf } from './demands';
import { checkElasticIps } from './elastic-ips';
import { checkFargate } from './fargate';
import { describeError, Finding, Status } from './finding';
import { checkGithubOidc } from './github-oidc';
import { checkLambdaConcurrency } from './lambda-concurrency';
import { checkSecret } from './secrets';
import { checkStateBucket, StateBucketSettings } from './state-bucket';

/** The bootstrap settings the preflight reads (the `bootstrap` block of stacks/config.ts). */
export type BootstrapInput = StateBucketSettings;

export interface PreflightReport {
  env: string;
  region: string;
  account?: string;
  caller?: string;
  findings: Finding[];
  errors: number;
  warnings: number;
  /** No error: the deploy should not fail on anything checked here. */
  ok: boolean;
}

/** The read-only actions the preflight calls, by check group: what its credentials need. */
export const PERMISSIONS: Record<string, string[]> = {
  account: ['sts:GetCallerIdentity'],
  'github-oidc-provider': ['iam:ListOpenIDConnectProviders', 'iam:GetOpenIDConnectProvider'],
  'state-bucket': ['s3:ListBucket (HeadBucket)', 's3:GetBucketVersioning', 's3:GetBucketTagging'],
  'lambda-concurrency': ['lambda:GetAccountSettings', 'lambda:GetFunctionConcurrency'],
  fargate: ['servicequotas:GetServiceQuota', 'servicequotas:GetAWSDefaultServiceQuota'],
  'elastic-ips': ['ec2:DescribeAddresses', 'servicequotas:GetServiceQuota'],
  'edge-certificate': ['acm:ListCertificates', 'acm:DescribeCertificate'],
  'cost-allocation-tags': ['ce:ListCostAllocationTags'],
  secrets: ['secretsmanager:DescribeSecret'],
};

interface Check {
  /** Name of the row(s) when the check cannot run, and its PERMISSIONS key. */
  name: string;
  group: string;
  /** The worst a failure to check counts as: a check that only ever warns does not fail the run. */
  severity: Exclude<Status, 'ok' | 'skipped'>;
  run: () => Promise<Finding | Finding[]>;
}

async function settle(check: Check): Promise<Finding[]> {
  try {
    const result = await check.run();
    return Array.isArray(result) ? result : [result];
  } catch (e) {
    return [
      {
        check: check.name,
        status: check.severity,
        message: `could not check: ${describeError(e)}`,
        fix: `run with credentials allowed ${PERMISSIONS[check.group].join(', ')} (read-only), then again`,
      },
    ];
  }
}

export async function runPreflight(config: EnvironmentConfig, bootstrap: BootstrapInput, clients: PreflightClients): Promise<PreflightReport> {
  const demands = demandsOf(config);
  const findings: Finding[] = [checkRegion(config, bootstrap.region)];
  const { finding, identity } = await checkAccount(clients.sts, config);
  findings.push(finding);

  const checks: Check[] = [
    { name: 'github-oidc-provider', group: 'github-oidc-provider', severity: 'error', run: () => checkGithubOidc(clients.iam) },
    { name: 'state-bucket', group: 'state-bucket', severity: 'error', run: () => checkStateBucket(clients.s3, bootstrap, identity?.account ?? '<account>') },
    { name: 'lambda-concurrency', group: 'lambda-concurrency', severity: 'error', run: () => checkLambdaConcurrency(clients.lambda, demands) },
    { name: 'fargate-vcpu', group: 'fargate', severity: 'error', run: () => checkFargate(clients.serviceQuotas, demands) },
    { name: 'elastic-ips', group: 'elastic-ips', severity: 'error', run: () => checkElasticIps(clients.ec2, clients.serviceQuotas, demands, config.network.egress) },
    { name: 'edge-certificate', group: 'edge-certificate', severity: 'error', run: () => checkCertificate(clients.acm, demands) },
    { name: 'cost-allocation-tags', group: 'cost-allocation-tags', severity: 'warning', run: () => checkCostAllocationTags(clients.costExplorer, config.env) },
    ...demands.secrets.map(
      (secret): Check => ({ name: `secret ${secret.name}`, group: 'secrets', severity: 'error', run: () => checkSecret(clients.secretsManager, secret) }),
    ),
  ];

  if (!identity) {
    findings.push(...checks.map((c): Finding => ({ check: c.name, status: 'skipped', message: 'needs credentials (see account)' })));
  } else {
    for (const result of await Promise.all(checks.map(settle))) findings.push(...result);
  }

  const errors = findings.filter((f) => f.status === 'error').length;
  const warnings = findings.filter((f) => f.status === 'warning').length;
  return { env: config.env, region: config.region, account: identity?.account, caller: identity?.arn, findings, errors, warnings, ok: errors === 0 };
}

/** 0: nothing would fail (warnings allowed); 1: the deploy would fail. */
export const exitCodeOf = (report: PreflightReport): number => (report.ok ? 0 : 1);
