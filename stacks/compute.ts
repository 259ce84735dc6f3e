import { Construct } from 'constructs';
import { Fn, TerraformLocal, TerraformOutput, TerraformStack, TerraformVariable, Token } from 'cdktf';
import { EcsCluster } from '@cdktf/provider-aws/lib/ecs-cluster';
import { EcsClusterCapacityProviders } from '@cdktf/provider-aws/lib/ecs-cluster-capacity-providers';
import { opsAlarm } from '../modules/ops-alarm';
import {
  API_ROUTES,
  BINARY_MEDIA_TYPES,
  CUSTOM_METRICS,
  EDGE_HEADERS,
  batchGenerationsInFlight,
  ENV,
  IMAGE_NAMES,
  ImageName,
  QUEUES,
  SERVICE_NAMES,
  ServiceName,
  WORKER_NAMES,
  serviceFunctionVar,
} from '../core/contract';
import { EnvironmentConfig, namePrefix } from './config';
import { ObjectAccess, SERVICE_ACCESS, SecretName, ServiceAccess, WORKER_ACCESS } from './access';
import { useS3Backend } from './backend';
import { workloadBoundaryArn } from './bootstrap';
import { awsProvider } from './provider';
import type { NetworkStack } from './network';
import { CACHE_KEY_PREFIX, databaseWatch, type DataStack } from './data';
import { Grants } from '../modules/iam-grants';
import { KoaLambda } from '../modules/koa-lambda';
import { ApiGatewayAccountLogging, LambdaRestApi } from '../modules/lambda-rest-api';
import { RegionalWebAcl } from '../modules/web-acl';
import { ImageRepository } from '../modules/image-repository';
import { SpotQueueWorker } from '../modules/spot-queue-worker';
import { FargateTask, type FargateTaskProps } from '../modules/fargate-task';
import { OpsDashboard } from '../modules/ops-dashboard';

/** What compute reads from the network layer. */
export type ComputeNetwork = Pick<NetworkStack, 'privateSubnetIds' | 'securityGroupIds' | 'alarmTopicArn' | 'egress'>;
/** What compute reads from the data layer. */
export type ComputeData = Pick<DataStack, 'db' | 'cache' | 'buckets' | 'queues' | 'secrets'>;

export const API_STAGE = 'v1';
const LAYER = 'compute';

/**
 * Where the worker and migration images keep the RDS CA bundle
 * (https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem); Lambda's runtime ships
 * its own at /var/runtime/ca-cert.pem.
 */
export const CONTAINER_RDS_CA_PATH = '/etc/ssl/certs/rds-global-bundle.pem';

/** The ECS cluster the workers run in, and its capacity providers (a service must wait for them). */
interface Cluster {
  name: string;
  arn: string;
  capacity: EcsClusterCapacityProviders;
}

export interface ApiEndpoint {
  /** `<id>.execute-api.<region>.amazonaws.com`, the CloudFront origin. */
  domainName: string;
  /** `/v1`. */
  stagePath: string;
}

/**
 * The compute layer of an environment: the six Koa services on Lambda (each with its own role,
 * log group and `live` alias), the REST API in front of the two gateways with its WAF and
 * throttling, the ECR repositories, the ECS cluster with the two Spot queue workers that scale
 * from zero, the one-off data-migration task definition, and the alarms on all of it. What each
 * function and task may reach comes from the access matrix (stacks/access.ts).
 */
export class ComputeStack extends TerraformStack {
  readonly api: ApiEndpoint;
  readonly functions: Record<ServiceName, KoaLambda>;
  readonly repositories: Record<ImageName, ImageRepository>;
  readonly migrationTask: FargateTask;
  /** Only while `migration.storageSource` is on. */
  readonly storageMoveTask?: FargateTask;
  readonly clusterName: string;

  private readonly config: EnvironmentConfig;
  private readonly network: ComputeNetwork;
  private readonly data: ComputeData;
  private readonly prefix: string;
  private readonly wiring: AccessWiring;
  /** Tag of the worker and migration images, chosen at deploy time. */
  private readonly imageTag: string;
  /** The environment's deploy role creates only roles that carry its workload boundary (stacks/bootstrap.ts). */
  private readonly permissionsBoundary: string;
  /** The account id, as `${local.account_id}` when read from an upstream ARN (a plain token inside policy and dashboard JSON). */
  private readonly account: string;

  constructor(scope: Construct, id: string, config: EnvironmentConfig, network: ComputeNetwork, data: ComputeData) {
    super(scope, id);
    awsProvider(this, config, LAYER);
    useS3Backend(this, config.env, LAYER);
    this.config = config;
    this.network = network;
    this.data = data;
    this.prefix = namePrefix(config.env);
    this.wiring = new AccessWiring(config, data);
    this.imageTag = imageTagVariable(this).stringValue;
    // The account id comes from the config or from an upstream ARN: no STS call at plan time.
    this.permissionsBoundary = workloadBoundaryArn(config.accountId ?? Fn.element(Fn.split(':', data.queues.docJobs.arn), 4), config.env);
    this.account = config.accountId ?? new TerraformLocal(this, 'account_id', Fn.element(Fn.split(':', data.queues.docJobs.arn), 4)).asString;

    this.functions = this.lambdaFunctions();
    const rest = this.restApi();
    this.api = { domainName: rest.domainName, stagePath: `/${API_STAGE}` };
    const publicBaseUrl = publicBaseUrlOf(config) ?? stageUrl(rest);
    for (const fn of Object.values(this.functions)) fn.addEnvironment(ENV.publicBaseUrl, publicBaseUrl);
    this.repositories = this.imageRepositories();
    const cluster = this.cluster();
    this.clusterName = cluster.name;
    const workers = this.queueWorkers(cluster, publicBaseUrl);
    this.migrationTask = this.dataMigrationTask();
    this.storageMoveTask = this.storageMigrationTask();
    this.alarms(rest);
    this.opsDashboard(workers);
    this.outputs(rest);
  }

  /** The six services, in creation order: a caller's grants name the aliases of the services it invokes. */
  private lambdaFunctions(): Record<ServiceName, KoaLambda> {
    const { config, network } = this;
    const functions: Partial<Record<ServiceName, KoaLambda>> = {};
    for (const name of SERVICE_NAMES) {
      const a = SERVICE_ACCESS[name];
      const settings = config.lambdas[name];
      functions[name] = new KoaLambda(this, `fn-${name}`, {
        service: name,
        functionName: `${this.prefix}-${name}`,
        region: config.region,
        accountId: this.account,
        description: `${name} service (Koa)`,
        memoryMb: settings.memoryMb,
        timeoutSeconds: settings.timeoutSeconds,
        reservedConcurrency: settings.reservedConcurrency,
        logRetentionDays: config.logs.retentionDays,
        environment: this.wiring.environment(name, a, config.database.poolMaxPerLambda),
        vpc: a.database || a.cache ? { subnetIds: network.privateSubnetIds, securityGroupIds: [network.securityGroupIds.lambda] } : undefined,
        grants: this.wiring.grants(name, a, functions),
        permissionsBoundary: this.permissionsBoundary,
      });
    }
    return functions as Record<ServiceName, KoaLambda>;
  }

  /** The REST API on the two gateways, behind a WAF that lets only the edge in; the account's API Gateway logging role if this environment owns it. */
  private restApi(): LambdaRestApi {
    const { config, prefix } = this;
    const accountLogging = config.api.ownsAccountLogRole
      ? new ApiGatewayAccountLogging(this, 'apigw-account-logging', { roleName: `${prefix}-apigateway-logs`, permissionsBoundary: this.permissionsBoundary })
      : undefined;
    const rest = new LambdaRestApi(this, 'api', {
      name: `${prefix}-api`,
      region: config.region,
      stageName: API_STAGE,
      routes: API_ROUTES.map((route) => ({ path: route.path, method: route.method, proxy: route.proxy, target: this.functions[route.service] })),
      throttle: { rateLimit: config.api.throttleRateLimit, burstLimit: config.api.throttleBurstLimit },
      logRetentionDays: config.logs.retentionDays,
      binaryMediaTypes: BINARY_MEDIA_TYPES,
      stageDependsOn: accountLogging ? [accountLogging.account] : undefined,
    });
    // Reachable only through CloudFront: the edge adds the origin secret and the viewer's address.
    new RegionalWebAcl(this, 'waf', {
      name: `${prefix}-api`,
      rateLimitPer5Min: config.api.wafRateLimitPer5Min,
      resourceArn: rest.stage.arn,
      clientIpHeader: EDGE_HEADERS.clientIp,
      originVerify: { headerName: EDGE_HEADERS.originVerify, patternSetArn: config.api.originVerifyPatternSetArn },
      blockedRequestLogs: config.api.wafBlockedRequestLogs ? { logGroupName: `aws-waf-logs-${prefix}-api`, retentionDays: config.logs.retentionDays } : undefined,
      // The Common set blocks bodies over 8 KB: B2B batch uploads and Stripe webhook events are
      // larger. API Gateway's own 10 MB limit and the services' body limits (413) bound them.
      countOnly: { AWSManagedRulesCommonRuleSet: ['SizeRestrictions_BODY'] },
    });
    return rest;
  }

  /** One ECR repository per image built from this repository. */
  private imageRepositories(): Record<ImageName, ImageRepository> {
    const repositories: Partial<Record<ImageName, ImageRepository>> = {};
    for (const image of IMAGE_NAMES) {
      repositories[image] = new ImageRepository(this, `ecr-${image}`, {
        name: `${this.prefix}-${image}`,
        keepTaggedImages: this.config.images.keepTagged,
        forceDelete: this.config.teardown.destroyWithContents,
      });
    }
    return repositories as Record<ImageName, ImageRepository>;
  }

  /** The ECS cluster, Spot by default with on-demand Fargate associated for the fallback. */
  private cluster(): Cluster {
    const cluster = new EcsCluster(this, 'cluster', {
      name: this.prefix,
      // Container Insights bills custom metrics per task and per service; the SQS and ECS
      // service metrics that drive scaling are free, so it stays off.
      setting: [{ name: 'containerInsights', value: 'disabled' }],
    });
    const capacity = new EcsClusterCapacityProviders(this, 'capacity-providers', {
      clusterName: cluster.name,
      capacityProviders: ['FARGATE_SPOT', 'FARGATE'],
      defaultCapacityProviderStrategy: [{ capacityProvider: 'FARGATE_SPOT', weight: 1, base: 0 }],
    });
    return { name: cluster.name, arn: cluster.arn, capacity };
  }

  /** The two queue workers on Fargate Spot, scaled from zero on the depth of the queues they consume. */
  private queueWorkers(cluster: Cluster, publicBaseUrl: string): SpotQueueWorker[] {
    const { config, network } = this;
    return WORKER_NAMES.map((name) => {
      const a = WORKER_ACCESS[name];
      const settings = config.workers[name];
      const doc = name === 'doc-generation' ? config.workers['doc-generation'] : undefined;
      return new SpotQueueWorker(this, `worker-${name}`, {
        name: `${this.prefix}-${name}`,
        region: config.region,
        accountId: this.account,
        cluster: { name: cluster.name, arn: cluster.arn },
        repository: this.repositories[name],
        imageTag: this.imageTag,
        cpu: settings.cpu,
        memoryMb: settings.memoryMb,
        maxTasks: settings.maxTasks,
        messagesPerTask: settings.messagesPerTask,
        queues: a.queues.map((q) => ({ arn: this.data.queues[q].arn, name: this.data.queues[q].name })),
        environment: {
          ...this.wiring.environment(name, a, config.database.poolMaxPerWorker),
          [ENV.workerConcurrency]: String(settings.concurrency),
          ...(doc ? { [ENV.workerRenderSlots]: String(doc.renderSlots) } : {}),
          [ENV.publicBaseUrl]: publicBaseUrl,
          [ENV.nodeExtraCaCerts]: CONTAINER_RDS_CA_PATH,
        },
        grants: this.wiring.grants(name, a, this.functions),
        subnetIds: network.privateSubnetIds,
        securityGroupIds: [network.securityGroupIds.worker],
        logRetentionDays: config.logs.retentionDays,
        onDemandFallback: config.workers.onDemandFallback,
        permissionsBoundary: this.permissionsBoundary,
        dependsOn: [cluster.capacity],
        wakeEveryHours: doc?.sweepWakeEveryHours,
      });
    });
  }

  /**
   * The migration task: `npm run db:move` by default (the one-off data move, run by hand), and
   * `npm run db:migrate` as a run-task command override (the schema migrations and the app login,
   * every deploy: docs/deploy.md). Both run as the RDS master user.
   */
  private dataMigrationTask(): FargateTask {
    const { data } = this;
    return this.migrationImageTask('db-move', {
      command: ['npm', 'run', 'db:move'],
      environment: {
        [ENV.dbHost]: data.db.address,
        [ENV.dbPort]: Token.asString(data.db.port),
        [ENV.dbName]: data.db.name,
        // db:migrate gives the app login (the services' DB_SECRET_ARN) its password.
        [ENV.dbSecretArn]: data.secrets.databaseApp.arn,
      },
      // db:move takes URLs; the target's credentials come from the RDS-managed secret as
      // PGUSER/PGPASSWORD (read by node-pg and libpq alike), never through run-task overrides.
      injectedSecrets: this.rdsMasterLogin(),
      grants: { readSecrets: [data.secrets.databaseApp.arn] },
    });
  }

  /**
   * The storage move (`npm run storage:move`, docs/data-migration.md "Storage phase"), only while
   * `migration.storageSource` is on: the migration image, network and size, its own family and
   * roles. Not a command of the db-move task: ECS refuses to start a task whose injected secret has
   * no value yet, and every deploy runs db:migrate on that task while the source key is put by
   * hand. The task role fills the reports and assets buckets (no delete) and reads no secret: the
   * execution role reads the old storage's key and the RDS master secret for ECS to inject, so no
   * key travels in a run-task override or sits in state.
   */
  private storageMigrationTask(): FargateTask | undefined {
    const { data } = this;
    const source = data.secrets.storageSource;
    if (!source) return undefined;
    return this.migrationImageTask('storage-move', {
      command: ['npm', 'run', 'storage:move'],
      environment: {
        // The migrated database, whose orders give the new keys and which records the progress; the
        // login comes from PGUSER/PGPASSWORD below, the TLS check from PGSSLMODE/PGSSLROOTCERT.
        [ENV.databaseUrl]: `postgres://${data.db.address}:${Token.asString(data.db.port)}/${data.db.name}`,
      },
      injectedSecrets: [
        ...this.rdsMasterLogin(),
        { name: ENV.storageSourceAccessKeyId, secretArn: source.arn, jsonKey: 'accessKeyId' },
        { name: ENV.storageSourceSecretAccessKey, secretArn: source.arn, jsonKey: 'secretAccessKey' },
      ],
      grants: { fillBuckets: [data.buckets.reports.arn, data.buckets.assets.arn] },
    });
  }

  /** The RDS master login, injected by ECS from the RDS-managed secret. */
  private rdsMasterLogin(): NonNullable<FargateTaskProps['injectedSecrets']> {
    const secretArn = this.data.db.masterSecretArn;
    return [
      { name: 'PGUSER', secretArn, jsonKey: 'username' },
      { name: 'PGPASSWORD', secretArn, jsonKey: 'password' },
    ];
  }

  /**
   * A one-off task on the migration image (`<prefix>-<id>`): the migration task's size, and node-pg
   * and libpq (pg_dump/pg_restore) both verifying the RDS certificate against the bundle.
   */
  private migrationImageTask(id: string, props: Pick<FargateTaskProps, 'command' | 'environment' | 'injectedSecrets' | 'grants'>): FargateTask {
    const { config } = this;
    return new FargateTask(this, id, {
      family: `${this.prefix}-${id}`,
      region: config.region,
      accountId: this.account,
      cpu: config.migrationTask.cpu,
      memoryMb: config.migrationTask.memoryMb,
      repository: this.repositories.migration,
      imageTag: this.imageTag,
      ...props,
      environment: {
        [ENV.appEnv]: config.env,
        [ENV.logLevel]: 'info',
        ...props.environment,
        [ENV.nodeExtraCaCerts]: CONTAINER_RDS_CA_PATH,
        PGSSLMODE: 'verify-full',
        PGSSLROOTCERT: CONTAINER_RDS_CA_PATH,
      },
      logRetentionDays: config.logs.retentionDays,
      permissionsBoundary: this.permissionsBoundary,
    });
  }

  /** Errors of every function and 5xx of the API, to the environment's alarm topic. */
  private alarms(rest: LambdaRestApi): void {
    const { prefix } = this;
    const topicArn = this.network.alarmTopicArn;
    for (const [name, fn] of Object.entries(this.functions)) {
      opsAlarm(this, `alarm-errors-${name}`, {
        alarmName: `${prefix}-${name}-errors`,
        alarmDescription: `${name} returned errors or timed out`,
        // core-llm's errors are Gemini's first; any other function's, a release's.
        runbook: name === 'core-llm' ? 'gemini-outage' : 'bad-release',
        topicArn,
        namespace: 'AWS/Lambda',
        metricName: 'Errors',
        dimensions: { FunctionName: fn.fn.functionName },
      });
    }
    opsAlarm(this, 'alarm-api-5xx', {
      alarmName: `${prefix}-api-5xx`,
      alarmDescription: 'The API answered 5xx',
      runbook: 'bad-release',
      topicArn,
      namespace: 'AWS/ApiGateway',
      metricName: '5XXError',
      dimensions: { ApiName: rest.api.name, Stage: rest.stage.stageName },
    });
  }

  /**
   * The environment's dashboard `docplatform-<env>` (modules/ops-dashboard.ts), from the names
   * every layer gives its resources (no lookup): the tests check each one against the stacks,
   * and every operational alarm's metric against the dashboard's.
   */
  private opsDashboard(workers: SpotQueueWorker[]): OpsDashboard {
    const { config, prefix } = this;
    const queue = (stem: string) => ({ label: stem, name: `${prefix}-${stem}`, dlqName: `${prefix}-${stem}-dlq` });
    const egress = this.network.egress;
    const account = this.account;
    return new OpsDashboard(this, 'dashboard', {
      name: prefix,
      region: config.region,
      api: { name: `${prefix}-api`, stage: API_STAGE, webAclMetricName: `${prefix}-api` },
      functions: SERVICE_NAMES.map((name) => `${prefix}-${name}`),
      queues: Object.values(QUEUES).map(queue),
      workers: WORKER_NAMES.map((name) => ({ label: name, clusterName: prefix, serviceName: `${prefix}-${name}` })),
      documents: {
        namespace: CUSTOM_METRICS.namespace,
        dimensions: { [CUSTOM_METRICS.dimension]: config.env },
        produced: CUSTOM_METRICS.documentsProduced,
        failed: CUSTOM_METRICS.documentsFailed,
      },
      database: databaseWatch(config),
      cache: { name: `${prefix}-cache` },
      egress,
      alarmArns: opsAlarmNames(config).map((name) => `arn:aws:cloudwatch:${config.region}:${account}:alarm:${name}`),
      header:
        `## ${prefix}: golden signals\n` +
        'Alarms notify the topic `' + `${prefix}-alarms` + '` (alarm and OK); each names its runbook in docs/operations.md ' +
        '(dlq-growing, orders-stuck, egress-down, gemini-outage, rds-exhausted, spot-unavailable, bad-release, budget-alert). ' +
        'Saved Logs Insights queries: folder `' + prefix + '` (an order\'s story: `npm run ops -- order <id> --env ' + config.env + '`).',
      logGroups: { services: Object.values(this.functions).map((fn) => fn.logGroup.name), workers: workers.map((w) => w.task.logGroup.name) },
    });
  }

  /** What deploys, the release scripts and ops read back (docs/compute.md). */
  private outputs(rest: LambdaRestApi): void {
    new TerraformOutput(this, 'api_url', { value: stageUrl(rest), description: 'Invoke URL of the REST API stage' });
    new TerraformOutput(this, 'cluster_name', { value: this.clusterName });
    new TerraformOutput(this, 'migration_task_family', { value: this.migrationTask.taskDefinition.family });
    new TerraformOutput(this, 'migration_run_network', {
      value: { subnets: this.network.privateSubnetIds, securityGroups: [this.network.securityGroupIds.migration] },
      description: 'awsvpcConfiguration for `aws ecs run-task` of the migration task (docs/compute.md)',
    });
    if (this.storageMoveTask) {
      new TerraformOutput(this, 'storage_move_task_family', { value: this.storageMoveTask.taskDefinition.family });
      // storage:move finds a bucket by listing the account's (s3:ListAllMyBuckets, not granted): the task is given its name.
      new TerraformOutput(this, 'storage_move_target_buckets', {
        value: { reports: this.data.buckets.reports.name, assets: this.data.buckets.assets.name },
        description: '--target-bucket of `npm run storage:move` in the storage-move task (docs/data-migration.md)',
      });
    }
    for (const image of IMAGE_NAMES) {
      new TerraformOutput(this, `ecr_${image.replace(/-/g, '_')}_url`, { value: this.repositories[image].url });
    }
  }
}

/**
 * The operational alarms of an environment, every layer's (those that notify the alarm topic; the
 * workers' scaling alarms drive Application Auto Scaling and notify no one), by name.
 */
export function opsAlarmNames(config: EnvironmentConfig): string[] {
  const prefix = namePrefix(config.env);
  return [
    ...(config.network.egress === 'nat-instance' ? [`${prefix}-nat-egress-down`] : []),
    ...databaseWatch(config).alarmNames,
    ...Object.values(QUEUES).flatMap((q) => [`${prefix}-${q}-dlq-not-empty`, `${prefix}-${q}-oldest-message-age`]),
    ...SERVICE_NAMES.map((name) => `${prefix}-${name}-errors`),
    `${prefix}-api-5xx`,
  ];
}

/** The variable naming the ARN of each secret (the config loader reads the value at start). */
const SECRET_VARIABLES: Record<SecretName, string> = {
  database: ENV.dbSecretArn,
  gemini: ENV.geminiSecretArn,
  stripeSecretKey: ENV.stripeSecretArn,
  stripeWebhookSecret: ENV.stripeWebhookSecretArn,
  orderToken: ENV.orderTokenSecretArn,
};

/**
 * What an access entry (stacks/access.ts) means in one environment: IAM grants on the data
 * layer's resources, and the environment variables that name the same resources.
 */
class AccessWiring {
  private readonly secretArns: Record<SecretName, string>;
  /** Variables every service and worker gets. */
  private readonly shared: Record<string, string>;
  private readonly prefix: string;

  constructor(
    config: EnvironmentConfig,
    private readonly data: ComputeData,
  ) {
    this.prefix = namePrefix(config.env);
    this.secretArns = {
      // The application role's login; the master secret is the migration task's alone.
      database: data.secrets.databaseApp.arn,
      gemini: data.secrets.gemini.arn,
      stripeSecretKey: data.secrets.stripeSecretKey.arn,
      stripeWebhookSecret: data.secrets.stripeWebhookSecret.arn,
      orderToken: data.secrets.orderToken.arn,
    };
    this.shared = {
      [ENV.appEnv]: config.env,
      [ENV.logLevel]: 'info',
      [ENV.redisUrl]: `rediss://${data.cache.endpointAddress}:${Token.asString(data.cache.port)}`,
      [ENV.redisKeyPrefix]: CACHE_KEY_PREFIX,
      [ENV.docJobsQueueUrl]: data.queues.docJobs.url,
      [ENV.batchDocJobsQueueUrl]: data.queues.batchDocJobs.url,
      [ENV.batchJobsQueueUrl]: data.queues.batchJobs.url,
      [ENV.reportsBucket]: data.buckets.reports.name,
      [ENV.assetsBucket]: data.buckets.assets.name,
      [ENV.geminiModel]: config.gemini.model,
      [ENV.geminiRequestsPerMinute]: String(config.gemini.requestsPerMinute),
      [ENV.geminiTokensPerMinute]: String(config.gemini.tokensPerMinute),
      [ENV.llmInteractiveSharePercent]: String(config.gemini.interactiveSharePercent),
      [ENV.llmBatchMaxInFlight]: String(
        batchGenerationsInFlight(config.workers['doc-generation'].maxTasks * config.workers['doc-generation'].concurrency, config.gemini.interactiveSharePercent),
      ),
      [ENV.internalTransport]: 'lambda',
    };
  }

  /** The grants of an entry; the functions it invokes must already exist (their `live` aliases are named). */
  grants(workload: string, a: ServiceAccess, functions: Partial<Record<ServiceName, KoaLambda>>): Grants {
    const objectScope = (o: ObjectAccess) => ({ bucketArn: this.data.buckets[o.bucket].arn, prefix: o.prefix, key: o.key });
    return {
      readSecrets: a.secrets.map((s) => this.secretArns[s]),
      sendTo: a.sendTo.map((q) => this.data.queues[q].arn),
      readObjects: a.readObjects.map(objectScope),
      writeObjects: a.writeObjects.map(objectScope),
      readWriteObjects: a.readWriteObjects.map(objectScope),
      listPrefixes: a.listObjects.map(objectScope),
      invoke: a.invokes.map((name) => {
        const fn = functions[name];
        if (!fn) throw new Error(`${name} must be created before the services that invoke it`);
        return fn.liveArn;
      }),
      connectToCache: a.cache ? [this.data.cache.arn, this.cacheUser(workload).arn] : [],
    };
  }

  /** The cache user the data stack made for a workload with `cache: true`. */
  private cacheUser(workload: string): { id: string; arn: string } {
    const user = this.data.cache.users[workload];
    if (!user) throw new Error(`${workload} talks to the cache but the data stack made no cache user for it`);
    return user;
  }

  /** The variables of an entry: the shared ones, the database and its pool size if it connects, its cache user if it talks to the cache, its secrets' ARNs and the functions it invokes. */
  environment(workload: string, a: ServiceAccess, poolMax: number): Record<string, string> {
    const database: Record<string, string> = a.database
      ? {
          [ENV.dbHost]: this.data.db.address,
          [ENV.dbPort]: Token.asString(this.data.db.port),
          [ENV.dbName]: this.data.db.name,
          [ENV.dbPoolMax]: String(poolMax),
          ...(this.data.db.connectWaitMs > 0 ? { [ENV.dbConnectWaitMs]: String(this.data.db.connectWaitMs) } : {}),
        }
      : {};
    const cache: Record<string, string> = a.cache ? { [ENV.redisIamUser]: this.cacheUser(workload).id, [ENV.redisIamCacheName]: this.data.cache.name } : {};
    return {
      ...this.shared,
      ...database,
      ...cache,
      ...Object.fromEntries(a.secrets.map((s) => [SECRET_VARIABLES[s], this.secretArns[s]])),
      ...Object.fromEntries(a.invokes.map((name) => [serviceFunctionVar(name), `${this.prefix}-${name}`])),
    };
  }
}

/** The invoke URL of the API's stage. */
function stageUrl(rest: LambdaRestApi): string {
  return `https://${rest.domainName}/${API_STAGE}`;
}

/** The browser-facing origin: the first custom domain, else the configured CloudFront URL. */
function publicBaseUrlOf(config: EnvironmentConfig): string | undefined {
  if (config.edge.domainNames.length > 0) return `https://${config.edge.domainNames[0]}`;
  return config.edge.publicBaseUrl;
}

/** The image tag a deploy passes (`-var image_tag=<sha>`): an immutable build, never `latest`. */
function imageTagVariable(scope: Construct): TerraformVariable {
  return new TerraformVariable(scope, 'image_tag', {
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
}
