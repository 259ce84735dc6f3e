import { DB_APP_ROLE, PROJECT, SECRET_STEMS, ServiceName, WORKER_NAMES } from '../../core/contract';
import { EnvironmentConfig, namePrefix } from '../../stacks/config';

/**
 * What an environment's config asks of the account, derived from stacks/config.ts the way the
 * stacks use it (test/preflight/demands.test.ts holds each figure against the synthesised stacks).
 */

/** Lambda keeps at least this much of the account's concurrency unreserved (PutFunctionConcurrency refuses more). */
export const LAMBDA_MIN_UNRESERVED = 100;

/** Service Quotas codes of what the preflight weighs. */
export const QUOTAS = {
  lambdaConcurrency: { service: 'lambda', code: 'L-B99A9384', name: 'Concurrent executions' },
  fargateSpotVcpu: { service: 'fargate', code: 'L-36FBB829', name: 'Fargate Spot vCPU resource count' },
  fargateOnDemandVcpu: { service: 'fargate', code: 'L-3032A538', name: 'Fargate On-Demand vCPU resource count' },
  elasticIps: { service: 'ec2', code: 'L-0263D0A3', name: 'EC2-VPC Elastic IPs' },
} as const;

/** The tags every stack puts on its resources (stacks/provider.ts), which Billing must have activated. */
export const COST_ALLOCATION_TAGS = ['project', 'env', 'layer'] as const;

/** The tags the bootstrap stack's resources carry (stacks/bootstrap.ts): how a bucket or provider is known to be its own. */
export const BOOTSTRAP_TAGS = { project: PROJECT, layer: 'bootstrap' } as const;

export interface FunctionDemand {
  service: ServiceName;
  functionName: string;
  reservedConcurrency: number;
}

export interface SecretDemand {
  name: string;
  region: string;
  /** Who reads it. */
  usedBy: string;
  /** The command that gives it a value (docs/deploy.md, "Secret values"). */
  putCommand: string;
}

/**
 * The secrets of the data stack (stacks/data.ts), created empty, values put out of band: name
 * stem (`<project>-<env>-<stem>`), reader, and the value to put.
 */
export const ENVIRONMENT_SECRETS: Array<{ stem: string; usedBy: string; value: string }> = [
  { stem: SECRET_STEMS.gemini, usedBy: 'core-llm (Gemini)', value: '"$GEMINI_API_KEY"' },
  { stem: SECRET_STEMS.stripeSecretKey, usedBy: 'gateway-b2c (Stripe Checkout)', value: '"$STRIPE_SECRET_KEY"' },
  { stem: SECRET_STEMS.stripeWebhookSecret, usedBy: 'gateway-b2c (Stripe webhook signatures)', value: '"$STRIPE_WEBHOOK_SECRET"' },
  { stem: SECRET_STEMS.orderToken, usedBy: 'order (B2C order access tokens)', value: '"$(openssl rand -base64 32)"' },
  {
    stem: SECRET_STEMS.databaseApp,
    usedBy: 'the services and workers that connect to RDS, and the migration task that sets that login',
    value: `"{\\"username\\":\\"${DB_APP_ROLE}\\",\\"password\\":\\"$(openssl rand -base64 32 | tr -d '\\n')\\"}"`,
  },
];

/** The old object storage's key, a secret of the data stack only while `migration.storageSource` is on. */
const STORAGE_SOURCE_SECRET = {
  stem: SECRET_STEMS.storageSource,
  usedBy: 'the storage-move task (the old object storage it copies from)',
  value: `"{\"accessKeyId\":\"$SOURCE_KEY_ID\",\"secretAccessKey\":\"$SOURCE_SECRET_KEY\"}"`,
};

export interface Demands {
  env: string;
  region: string;
  functions: FunctionDemand[];
  /** Sum of the functions' reserved concurrency. */
  reservedConcurrency: number;
  /** vCPU of every worker at its maxTasks, on Fargate Spot. */
  spotVcpu: number;
  /** vCPU of the largest single worker task: below it no worker ever runs. */
  largestSpotTaskVcpu: number;
  /** vCPU of the migration task, which each deploy runs on on-demand FARGATE. */
  migrationVcpu: number;
  /** vCPU on-demand may have to carry: the migration task, plus the workers when they fall back to FARGATE. */
  onDemandVcpu: number;
  /** Elastic IPs the network stack allocates: the egress address of the NAT (instance or gateway). */
  elasticIps: number;
  domainNames: string[];
  certificateArn?: string;
  secrets: SecretDemand[];
}

const vcpu = (cpuUnits: number) => cpuUnits / 1024;

/** One Elastic IP for the NAT, instance or gateway: the fixed egress address partners allow-list; none without egress. */
export function elasticIpsFor(egress: EnvironmentConfig['network']['egress']): number {
  return egress === 'none' ? 0 : 1;
}

export function demandsOf(config: EnvironmentConfig): Demands {
  const prefix = namePrefix(config.env);
  const functions = (Object.entries(config.lambdas) as Array<[ServiceName, EnvironmentConfig['lambdas'][ServiceName]]>).map(([service, settings]) => ({
    service,
    functionName: `${prefix}-${service}`,
    reservedConcurrency: settings.reservedConcurrency,
  }));
  const workers = WORKER_NAMES.map((name) => config.workers[name]);
  const spotVcpu = workers.reduce((sum, w) => sum + w.maxTasks * vcpu(w.cpu), 0);
  const migrationVcpu = vcpu(config.migrationTask.cpu);
  return {
    env: config.env,
    region: config.region,
    functions,
    reservedConcurrency: functions.reduce((sum, f) => sum + f.reservedConcurrency, 0),
    spotVcpu,
    largestSpotTaskVcpu: Math.max(...workers.map((w) => vcpu(w.cpu))),
    migrationVcpu,
    onDemandVcpu: migrationVcpu + (config.workers.onDemandFallback ? spotVcpu : 0),
    elasticIps: elasticIpsFor(config.network.egress),
    domainNames: config.edge.domainNames,
    certificateArn: config.edge.certificateArn,
    secrets: [...ENVIRONMENT_SECRETS, ...(config.migration.storageSource ? [STORAGE_SOURCE_SECRET] : [])].map(({ stem, usedBy, value }) => {
      const name = `${prefix}-${stem}`;
      return { name, region: config.region, usedBy, putCommand: `aws secretsmanager put-secret-value --region ${config.region} --secret-id ${name} --secret-string ${value}` };
    }),
  };
}

/** `aws service-quotas request-service-quota-increase …` for one quota. */
export function quotaIncreaseCommand(quota: { service: string; code: string }, desired: number, region: string): string {
  return `aws service-quotas request-service-quota-increase --region ${region} --service-code ${quota.service} --quota-code ${quota.code} --desired-value ${desired}`;
}
