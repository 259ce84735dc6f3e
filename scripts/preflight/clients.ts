import { ACMClient } from '@aws-sdk/client-acm';
import { CostExplorerClient } from '@aws-sdk/client-cost-explorer';
import { EC2Client } from '@aws-sdk/client-ec2';
import { IAMClient } from '@aws-sdk/client-iam';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import { STSClient } from '@aws-sdk/client-sts';
import { requestHandlerOptions } from '../../core/aws-sdk';

/**
 * The SDK clients of the preflight, one per API it reads. The region is the environment's
 * (stacks/config.ts), except where AWS serves an API from us-east-1 only for what we ask: ACM for
 * CloudFront's certificates, and Cost Explorer. Credentials come from the SDK's default chain (the
 * environment, a profile, SSO…). `endpoint` (the `--endpoint` flag) sends every client to one
 * URL, as does `AWS_ENDPOINT_URL`, which the SDK reads itself: both are for the local stand-ins.
 */
export interface PreflightClients {
  sts: STSClient;
  iam: IAMClient;
  s3: S3Client;
  lambda: LambdaClient;
  serviceQuotas: ServiceQuotasClient;
  ec2: EC2Client;
  /** us-east-1: CloudFront takes its certificates from there only. */
  acm: ACMClient;
  /** us-east-1: Cost Explorer's one endpoint. */
  costExplorer: CostExplorerClient;
  secretsManager: SecretsManagerClient;
}

export interface ClientOptions {
  region: string;
  endpoint?: string;
  /** Explicit credentials (tests); otherwise the default chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  maxAttempts?: number;
}

/** The region of the APIs that answer for us-east-1 only (ACM for CloudFront, Cost Explorer). */
export const GLOBAL_REGION = 'us-east-1';

/** True when an endpoint override is in force: S3 then has to be addressed path-style. */
function overridden(endpoint: string | undefined, env: NodeJS.ProcessEnv): boolean {
  return Boolean(endpoint || env.AWS_ENDPOINT_URL || env.AWS_ENDPOINT_URL_S3 || env.S3_FORCE_PATH_STYLE === 'true');
}

export function createClients(options: ClientOptions, env: NodeJS.ProcessEnv = process.env): PreflightClients {
  const base = {
    endpoint: options.endpoint,
    credentials: options.credentials,
    maxAttempts: options.maxAttempts,
    requestHandler: requestHandlerOptions({ connectMs: 5_000, requestMs: 20_000 }),
  };
  const regional = { ...base, region: options.region };
  const global = { ...base, region: GLOBAL_REGION };
  return {
    sts: new STSClient(regional),
    iam: new IAMClient(regional),
    // A bucket in another region answers 301: the client follows it and reports the bucket's region.
    s3: new S3Client({ ...regional, forcePathStyle: overridden(options.endpoint, env), followRegionRedirects: true }),
    lambda: new LambdaClient(regional),
    serviceQuotas: new ServiceQuotasClient(regional),
    ec2: new EC2Client(regional),
    acm: new ACMClient(global),
    costExplorer: new CostExplorerClient(global),
    secretsManager: new SecretsManagerClient(regional),
  };
}

export function destroyClients(clients: PreflightClients): void {
  for (const client of Object.values(clients)) client.destroy();
}
