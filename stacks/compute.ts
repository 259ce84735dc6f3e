import { Construct } from 'constructs';
import { Fn, TerraformOutput, TerraformStack, TerraformVariable, Token } from 'cdktf';
import { EcsCluster } from '@cdktf/provider-aws/lib/ecs-cluster';
import { EcsClusterCapacityProviders } from '@cdktf/provider-aws/lib/ecs-cluster-capacity-providers';
import { opsAlarm } from '../modules/ops-alarm';
import {
  BINARY_MEDIA_TYPES,
  BucketName,
  ENV,
  IMAGE_NAMES,
  ImageName,
  QueueName,
  SERVICE_NAMES,
  ServiceName,
  WORKER_NAMES,
  WorkerName,
  serviceFunctionVar,
} from '../core/contract';
import { EnvironmentConfig, namePrefix } from './config';
import { useS3Backend } from './backend';
import { workloadBoundaryArn } from './bootstrap';
import { awsProvider } from './provider';
import type { NetworkStack } from './network';
import type { DataStack } from './data';
import { Grants } from '../modules/iam-grants';
import { KoaLambda } from '../modules/koa-lambda';
import { ApiGatewayAccountLogging, LambdaRestApi } from '../modules/lambda-rest-api';
import { RegionalWebAcl } from '../modules/web-acl';
import { ImageRepository } from '../modules/image-repository';
import { SpotQueueWorker } from '../modules/spot-queue-worker';
import { FargateTask } from '../modules/fargate-task';

/** What compute reads from the network layer. */
export type ComputeNetwork = Pick<NetworkStack, 'privateSubnetIds' | 'securityGroupIds' | 'alarmTopicArn'>;
/** What compute reads from the data layer. */
export type ComputeData = Pick<DataStack, 'db' | 'cache' | 'buckets' | 'queues' | 'secrets'>;

export const API_STAGE = 'v1';

type SecretName = 'database' | 'gemini' | 'stripeSecretKey' | 'stripeWebhookSecret' | 'orderToken';
/** Objects of one bucket under a key prefix ('' = the whole bucket). */
interface ObjectAccess {
  bucket: BucketName;
  prefix: string;
}

/**
 * What each service may reach, in the layer's own terms; IAM grants and environment variables
 * are both derived from it, so a function never gets a variable it has no permission to use
 * (the config loader reads every secret ARN it is given at start).
 */
export interface ServiceAccess {
  /** Opens connections to RDS: counted against the connection budget, placed in the VPC. */
  database: boolean;
  /** Talks to the cache: placed in the VPC. */
  cache: boolean;
  /**
   * Secrets read at start. `database` is in every list: the services' config loader requires
   * the database settings of every service, including those that never connect.
   */
  secrets: SecretName[];
  sendTo: QueueName[];
  readObjects: ObjectAccess[];
  readWriteObjects: ObjectAccess[];
  invokes: ServiceName[];
}

const access = (a: Partial<ServiceAccess>): ServiceAccess => ({
  database: false,
  cache: false,
  secrets: ['database'],
  sendTo: [],
  readObjects: [],
  readWriteObjects: [],
  invokes: [],
  ...a,
});

/** Batch sources, rejected rows and manifests: `batches/<clientId>/<batchId>/…` in the assets bucket. */
const BATCH_OBJECTS: ObjectAccess = { bucket: 'assets', prefix: 'batches/' };
/** Documents: `<clientId>/<orderId>.<ext>` in the reports bucket. */
const DOCUMENTS: ObjectAccess = { bucket: 'reports', prefix: '' };

/**
 * The access matrix of the six services and two workers (DESIGN §5, as the code in functions/
 * and containers/ uses it). The gateways only orchestrate (internal calls, Stripe, S3): they
 * stay out of the VPC and need no NAT for Stripe or AWS APIs.
 */
export const SERVICE_ACCESS: Record<ServiceName, ServiceAccess> = {
  'gateway-b2c': access({
    secrets: ['database', 'stripeSecretKey', 'stripeWebhookSecret'],
    readObjects: [DOCUMENTS],
    invokes: ['theme', 'order'],
  }),
  'gateway-b2b': access({ readWriteObjects: [BATCH_OBJECTS], invokes: ['client', 'theme', 'order'] }),
  'core-llm': access({ cache: true, secrets: ['database', 'gemini'] }),
  theme: access({ database: true }),
  order: access({ database: true, secrets: ['database', 'orderToken'], sendTo: ['docJobs', 'batchJobs'] }),
  client: access({ database: true }),
};

export const WORKER_ACCESS: Record<WorkerName, ServiceAccess & { queue: QueueName }> = {
  'doc-generation': {
    ...access({ database: true, readWriteObjects: [DOCUMENTS, BATCH_OBJECTS], invokes: ['core-llm'] }),
    queue: 'docJobs',
  },
  'b2b-batch': { ...access({ database: true, sendTo: ['docJobs'], readWriteObjects: [BATCH_OBJECTS] }), queue: 'batchJobs' },
};

/**
 * Where the worker and migration images keep the RDS CA bundle
 * (https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem); Lambda's runtime ships
 * its own at /var/runtime/ca-cert.pem.
 */
export const CONTAINER_RDS_CA_PATH = '/etc/ssl/certs/rds-global-bundle.pem';

export interface ApiEndpoint {
  /** `<id>.execute-api.<region>.amazonaws.com`, the CloudFront origin. */
  domainName: string;
  /** `/v1`. */
  stagePath: string;
}

/**
 * The compute layer of an environment: the six Koa services on Lambda (each with its own role,
 * log group and `live` alias), the REST API in front of the two gateways with its WAF and
 * throttling, the ECS cluster with the two Spot queue workers that scale from zero, the ECR
 * repositories, the one-off data-migration task definition, and the alarms on all of it.
 */
export class ComputeStack extends TerraformStack {
  readonly api: ApiEndpoint;
  readonly functions: Record<ServiceName, KoaLambda>;
  readonly workers: Record<WorkerName, SpotQueueWorker>;
  readonly repositories: Record<ImageName, ImageRepository>;
  readonly migrationTask: FargateTask;
  readonly clusterName: string;

  constructor(scope: Construct, id: string, config: EnvironmentConfig, network: ComputeNetwork, data: ComputeData) {
    super(scope, id);
    const layer = 'compute';
    awsProvider(this, config, layer);
    useS3Backend(this, config.env, layer);
    const prefix = namePrefix(config.env);

    const imageTag = new TerraformVariable(this, 'image_tag', {
      type: 'string',
      nullable: false,
      description: 'Tag of the worker and migration images to run (the git SHA CI pushed; ECR tags are immutable)',
      validation: [
        {
          // Terraform JSON reads strings as templates: the expression goes inside ${...}.
          condition: '${can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag)) && var.image_tag != "latest"}',
          errorMessage: 'image_tag must be an ECR tag (letters, digits, _ . -) naming an immutable build, not "latest".',
        },
      ],
    });

    // The CI deploy role creates only roles that carry the workload boundary (stacks/bootstrap.ts).
    // The account id comes from the config or from an upstream ARN: no STS call at plan time.
    const accountId = config.accountId ?? Fn.element(Fn.split(':', data.queues.docJobs.arn), 4);
    const permissionsBoundary = workloadBoundaryArn(accountId);

    const secretArns: Record<SecretName, string> = {
      database: data.db.masterSecretArn,
      gemini: data.secrets.gemini.arn,
      stripeSecretKey: data.secrets.stripeSecretKey.arn,
      stripeWebhookSecret: data.secrets.stripeWebhookSecret.arn,
      orderToken: data.secrets.orderToken.arn,
    };
    const secretVariables: Record<SecretName, string> = {
      database: ENV.dbSecretArn,
      gemini: ENV.geminiSecretArn,
      stripeSecretKey: ENV.stripeSecretArn,
      stripeWebhookSecret: ENV.stripeWebhookSecretArn,
      orderToken: ENV.orderTokenSecretArn,
    };
    const objectScope = (o: ObjectAccess) => ({ bucketArn: data.buckets[o.bucket].arn, prefix: o.prefix });

    const grantsOf = (a: ServiceAccess, aliasArns: Partial<Record<ServiceName, string>>): Grants => ({
      readSecrets: a.secrets.map((s) => secretArns[s]),
      sendTo: a.sendTo.map((q) => data.queues[q].arn),
      readObjects: a.readObjects.map(objectScope),
      readWriteObjects: a.readWriteObjects.map(objectScope),
      invoke: a.invokes.map((name) => {
        const arn = aliasArns[name];
        if (!arn) throw new Error(`${name} must be created before the services that invoke it`);
        return arn;
      }),
    });

    const shared: Record<string, string> = {
      [ENV.appEnv]: config.env,
      [ENV.logLevel]: 'info',
      [ENV.dbHost]: data.db.address,
      [ENV.dbPort]: Token.asString(data.db.port),
      [ENV.dbName]: data.db.name,
      [ENV.redisUrl]: `rediss://${data.cache.endpointAddress}:${Token.asString(data.cache.port)}`,
      [ENV.redisKeyPrefix]: 'docplatform:',
      [ENV.docJobsQueueUrl]: data.queues.docJobs.url,
      [ENV.batchJobsQueueUrl]: data.queues.batchJobs.url,
      [ENV.reportsBucket]: data.buckets.reports.name,
      [ENV.assetsBucket]: data.buckets.assets.name,
      [ENV.geminiModel]: config.gemini.model,
      [ENV.internalTransport]: 'lambda',
    };
    const environmentOf = (a: ServiceAccess, poolMax: number): Record<string, string> => ({
      ...shared,
      [ENV.dbPoolMax]: String(poolMax),
      ...Object.fromEntries(a.secrets.map((s) => [secretVariables[s], secretArns[s]])),
      ...Object.fromEntries(a.invokes.map((name) => [serviceFunctionVar(name), `${prefix}-${name}`])),
    });

    const aliasArns: Partial<Record<ServiceName, string>> = {};
    const functions: Partial<Record<ServiceName, KoaLambda>> = {};
    for (const name of SERVICE_NAMES) {
      const a = SERVICE_ACCESS[name];
      const settings = config.lambdas[name];
      const fn = new KoaLambda(this, `fn-${name}`, {
        service: name,
        functionName: `${prefix}-${name}`,
        description: `${name} service (Koa)`,
        memoryMb: settings.memoryMb,
        timeoutSeconds: settings.timeoutSeconds,
        reservedConcurrency: settings.reservedConcurrency,
        logRetentionDays: config.logs.retentionDays,
        environment: environmentOf(a, config.database.poolMaxPerLambda),
        vpc: a.database || a.cache ? { subnetIds: network.privateSubnetIds, securityGroupIds: [network.securityGroupIds.lambda] } : undefined,
        grants: grantsOf(a, aliasArns),
        permissionsBoundary,
      });
      functions[name] = fn;
      aliasArns[name] = fn.liveArn;
    }
    this.functions = functions as Record<ServiceName, KoaLambda>;

    const accountLogging = config.api.ownsAccountLogRole
      ? new ApiGatewayAccountLogging(this, 'apigw-account-logging', { roleName: `${prefix}-apigateway-logs`, permissionsBoundary })
      : undefined;
    const rest = new LambdaRestApi(this, 'api', {
      name: `${prefix}-api`,
      region: config.region,
      stageName: API_STAGE,
      routes: [
        { path: 'b2c', method: 'ANY', proxy: true, target: this.functions['gateway-b2c'] },
        { path: 'b2b', method: 'ANY', proxy: true, target: this.functions['gateway-b2b'] },
        { path: 'health', method: 'GET', proxy: false, target: this.functions['gateway-b2c'] },
      ],
      throttle: { rateLimit: config.api.throttleRateLimit, burstLimit: config.api.throttleBurstLimit },
      logRetentionDays: config.logs.retentionDays,
      binaryMediaTypes: BINARY_MEDIA_TYPES,
      stageDependsOn: accountLogging ? [accountLogging.account] : undefined,
    });
    new RegionalWebAcl(this, 'waf', {
      name: `${prefix}-api`,
      rateLimitPer5Min: config.api.wafRateLimitPer5Min,
      resourceArn: rest.stage.arn,
      // The Common set blocks bodies over 8 KB: B2B batch uploads and Stripe webhook events are
      // larger. API Gateway's own 10 MB limit and the services' body limits (413) bound them.
      countOnly: { AWSManagedRulesCommonRuleSet: ['SizeRestrictions_BODY'] },
    });
    this.api = { domainName: rest.domainName, stagePath: `/${API_STAGE}` };
    const publicBaseUrl = publicBaseUrlOf(config) ?? `https://${rest.domainName}/${API_STAGE}`;
    for (const fn of Object.values(this.functions)) fn.addEnvironment(ENV.publicBaseUrl, publicBaseUrl);

    const repositories: Partial<Record<ImageName, ImageRepository>> = {};
    for (const image of IMAGE_NAMES) {
      repositories[image] = new ImageRepository(this, `ecr-${image}`, { name: `${prefix}-${image}`, keepTaggedImages: config.images.keepTagged });
    }
    this.repositories = repositories as Record<ImageName, ImageRepository>;

    const cluster = new EcsCluster(this, 'cluster', {
      name: prefix,
      // Container Insights bills custom metrics per task and per service; the SQS and ECS
      // service metrics that drive scaling are free, so it stays off.
      setting: [{ name: 'containerInsights', value: 'disabled' }],
    });
    this.clusterName = cluster.name;
    const capacity = new EcsClusterCapacityProviders(this, 'capacity-providers', {
      clusterName: cluster.name,
      capacityProviders: ['FARGATE_SPOT', 'FARGATE'],
      defaultCapacityProviderStrategy: [{ capacityProvider: 'FARGATE_SPOT', weight: 1, base: 0 }],
    });

    const workers: Partial<Record<WorkerName, SpotQueueWorker>> = {};
    for (const name of WORKER_NAMES) {
      const a = WORKER_ACCESS[name];
      const settings = config.workers[name];
      const queue = data.queues[a.queue];
      workers[name] = new SpotQueueWorker(this, `worker-${name}`, {
        name: `${prefix}-${name}`,
        region: config.region,
        cluster: { name: cluster.name, arn: cluster.arn },
        repository: this.repositories[name],
        imageTag: imageTag.stringValue,
        cpu: settings.cpu,
        memoryMb: settings.memoryMb,
        maxTasks: settings.maxTasks,
        messagesPerTask: settings.messagesPerTask,
        queue: { arn: queue.arn, name: queue.name },
        environment: {
          ...environmentOf(a, config.database.poolMaxPerWorker),
          [ENV.workerConcurrency]: String(settings.concurrency),
          [ENV.publicBaseUrl]: publicBaseUrl,
          [ENV.nodeExtraCaCerts]: CONTAINER_RDS_CA_PATH,
        },
        grants: grantsOf(a, aliasArns),
        subnetIds: network.privateSubnetIds,
        securityGroupIds: [network.securityGroupIds.worker],
        logRetentionDays: config.logs.retentionDays,
        onDemandFallback: config.workers.onDemandFallback,
        permissionsBoundary,
        dependsOn: [capacity],
      });
    }
    this.workers = workers as Record<WorkerName, SpotQueueWorker>;

    this.migrationTask = new FargateTask(this, 'db-move', {
      family: `${prefix}-db-move`,
      region: config.region,
      cpu: config.migrationTask.cpu,
      memoryMb: config.migrationTask.memoryMb,
      repository: this.repositories.migration,
      imageTag: imageTag.stringValue,
      command: ['npm', 'run', 'db:move'],
      environment: {
        [ENV.appEnv]: config.env,
        [ENV.logLevel]: 'info',
        [ENV.dbHost]: data.db.address,
        [ENV.dbPort]: Token.asString(data.db.port),
        [ENV.dbName]: data.db.name,
        [ENV.nodeExtraCaCerts]: CONTAINER_RDS_CA_PATH,
        // node-pg and libpq (pg_dump/pg_restore) both verify the RDS certificate against the bundle.
        PGSSLMODE: 'verify-full',
        PGSSLROOTCERT: CONTAINER_RDS_CA_PATH,
      },
      // db:move takes URLs; the target's credentials come from the RDS-managed secret as
      // PGUSER/PGPASSWORD (read by node-pg and libpq alike), never through run-task overrides.
      injectedSecrets: [
        { name: 'PGUSER', secretArn: data.db.masterSecretArn, jsonKey: 'username' },
        { name: 'PGPASSWORD', secretArn: data.db.masterSecretArn, jsonKey: 'password' },
      ],
      grants: {},
      logRetentionDays: config.logs.retentionDays,
      permissionsBoundary,
    });

    this.alarms(config, network.alarmTopicArn, rest);

    new TerraformOutput(this, 'api_url', { value: `https://${rest.domainName}/${API_STAGE}`, description: 'Invoke URL of the REST API stage' });
    new TerraformOutput(this, 'cluster_name', { value: cluster.name });
    new TerraformOutput(this, 'migration_task_family', { value: this.migrationTask.taskDefinition.family });
    new TerraformOutput(this, 'migration_run_network', {
      value: { subnets: network.privateSubnetIds, securityGroups: [network.securityGroupIds.migration] },
      description: 'awsvpcConfiguration for `aws ecs run-task` of the migration task (docs/compute.md)',
    });
    for (const image of IMAGE_NAMES) {
      new TerraformOutput(this, `ecr_${image.replace(/-/g, '_')}_url`, { value: this.repositories[image].url });
    }
  }

  /** Errors of every function and 5xx of the API, to the environment's alarm topic. */
  private alarms(config: EnvironmentConfig, topicArn: string, rest: LambdaRestApi): void {
    const prefix = namePrefix(config.env);
    for (const [name, fn] of Object.entries(this.functions)) {
      opsAlarm(this, `alarm-errors-${name}`, {
        alarmName: `${prefix}-${name}-errors`,
        alarmDescription: `${name} returned errors or timed out`,
        topicArn,
        namespace: 'AWS/Lambda',
        metricName: 'Errors',
        dimensions: { FunctionName: fn.fn.functionName },
      });
    }
    opsAlarm(this, 'alarm-api-5xx', {
      alarmName: `${prefix}-api-5xx`,
      alarmDescription: 'The API answered 5xx',
      topicArn,
      namespace: 'AWS/ApiGateway',
      metricName: '5XXError',
      dimensions: { ApiName: rest.api.name, Stage: rest.stage.stageName },
    });
  }
}

/** The browser-facing origin: the first custom domain, else the configured CloudFront URL. */
function publicBaseUrlOf(config: EnvironmentConfig): string | undefined {
  if (config.edge.domainNames.length > 0) return `https://${config.edge.domainNames[0]}`;
  return config.edge.publicBaseUrl;
}
