import { Construct } from 'constructs';
import { CloudwatchLogGroup } from '@cdktf/provider-aws/lib/cloudwatch-log-group';
import { EcsTaskDefinition } from '@cdktf/provider-aws/lib/ecs-task-definition';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';
import { SPOT_STOP_BUDGET } from '../core/contract';
import { Grants, ecrLoginStatement, grantStatements, logStatement } from './iam-grants';
import { Statement, policyJson, serviceTrustPolicy } from './iam-statements';
import { taskLogGroup } from './log-queries';

export const CONTAINER_NAME = 'app';

/**
 * The one writable path of every task: an ephemeral Fargate bind mount (task storage, discarded
 * with the task) over /tmp, the root filesystem being read-only. What the images write goes there:
 * - Node's `os.tmpdir()` (TMPDIR): Playwright's Chromium profile (`--user-data-dir`) and
 *   artifacts, tsx's compile cache (the migration task runs `npm run db:migrate` through tsx);
 * - HOME: npm's logs and cache (`~/.npm`), Chromium's NSS database (`~/.pki`), libpq's lookups;
 * - XDG_CONFIG_HOME / XDG_CACHE_HOME: Chromium's crash reports and fontconfig's cache;
 * - Chromium's shared memory files (`--disable-dev-shm-usage` puts them in /tmp) and Pandoc's
 *   temporary files (TMPDIR).
 * pg_dump streams to its stdout (migrations/data-move/schema.ts), and the workers keep documents in
 * memory until they reach S3: nothing else is written.
 */
export const SCRATCH = { volume: 'scratch', path: '/tmp' } as const;
export const SCRATCH_ENVIRONMENT: Record<string, string> = {
  TMPDIR: SCRATCH.path,
  HOME: SCRATCH.path,
  XDG_CONFIG_HOME: `${SCRATCH.path}/.config`,
  XDG_CACHE_HOME: `${SCRATCH.path}/.cache`,
};
/**
 * Fargate creates a bind mount owned by root with mode 0755, which the images' `node` user cannot
 * write (only a `VOLUME` at the same path in the image would carry the image's permissions). This
 * non-essential container runs first, as root, on the same image and does nothing but make the
 * scratch volume /tmp-like (1777); the application container starts only once it exited 0.
 */
export const SCRATCH_INIT_CONTAINER = 'scratch-permissions';

export interface FargateTaskProps {
  /** Task family, role and log group name, e.g. `docplatform-dev-doc-generation`. */
  family: string;
  region: string;
  /** The account whose ECS tasks alone may take the roles (aws:SourceAccount, aws:SourceArn). */
  accountId: string;
  /** CPU units (1024 = 1 vCPU) and MiB, a valid Fargate pair. */
  cpu: number;
  memoryMb: number;
  /** The ECR repository the image comes from (the execution role may pull from it only). */
  repository: { url: string; arn: string };
  imageTag: string;
  /** Overrides the image's CMD. */
  command?: string[];
  /** Plain variables (docs/runtime-config.md); secrets travel as ARNs the app reads itself. */
  environment: Record<string, string>;
  /**
   * Variables ECS fills from Secrets Manager at start (the execution role reads them), for tools
   * that take credentials from the environment only, e.g. libpq's PGUSER/PGPASSWORD.
   */
  injectedSecrets?: Array<{ name: string; secretArn: string; jsonKey: string }>;
  /** What the application may do in AWS. */
  grants: Grants;
  logRetentionDays: number;
  /** Permissions boundary ARN both roles carry. */
  permissionsBoundary?: string;
}

/**
 * An ARM64 Fargate task definition with the two roles ECS needs: an execution role that can
 * pull this one repository and write this one log group, and a task role holding the
 * application's typed grants and nothing else. Every container has a read-only root filesystem;
 * the application writes only to the scratch volume (SCRATCH).
 */
export class FargateTask extends Construct {
  readonly taskDefinition: EcsTaskDefinition;
  readonly taskRole: IamRole;
  readonly executionRole: IamRole;
  readonly logGroup: CloudwatchLogGroup;

  constructor(scope: Construct, id: string, props: FargateTaskProps) {
    super(scope, id);
    this.logGroup = new CloudwatchLogGroup(this, 'logs', {
      name: taskLogGroup(props.family),
      retentionInDays: props.logRetentionDays,
    });

    // ECS names the task as the source; a task's ARN cannot be narrowed to one cluster in a trust policy.
    const ecsSources = `arn:aws:ecs:${props.region}:${props.accountId}:*`;
    this.executionRole = new IamRole(this, 'execution-role', {
      name: `${props.family}-exec`,
      description: `ECS pulls the image and ships the logs of ${props.family}`,
      // ECS documents the source conditions for task roles, not for execution roles: a source it
      // names must be this account's, and an assumption that names none is not refused.
      assumeRolePolicy: serviceTrustPolicy('ecs-tasks.amazonaws.com', { accountId: props.accountId, arns: [ecsSources], require: 'whenNamed' }),
      permissionsBoundary: props.permissionsBoundary,
    });
    const pull: Statement[] = [
      ecrLoginStatement(),
      {
        sid: 'PullImage',
        actions: ['ecr:BatchCheckLayerAvailability', 'ecr:BatchGetImage', 'ecr:GetDownloadUrlForLayer'],
        resources: [props.repository.arn],
        scalar: ['resources'],
      },
      logStatement(this.logGroup.arn),
    ];
    const injected = props.injectedSecrets ?? [];
    if (injected.length > 0) {
      pull.push({ sid: 'InjectSecrets', actions: ['secretsmanager:GetSecretValue'], resources: [...new Set(injected.map((s) => s.secretArn))] });
    }
    new IamRolePolicy(this, 'execution-policy', { name: 'pull-and-log', role: this.executionRole.id, policy: policyJson(pull) });

    // The role holding the application's grants is taken only for this account's tasks, the
    // confused-deputy conditions ECS documents for task roles.
    this.taskRole = new IamRole(this, 'task-role', {
      name: `${props.family}-task`,
      description: `What the ${props.family} application may do in AWS`,
      assumeRolePolicy: serviceTrustPolicy('ecs-tasks.amazonaws.com', { accountId: props.accountId, arns: [ecsSources], require: 'always' }),
      permissionsBoundary: props.permissionsBoundary,
    });
    const statements = grantStatements(props.grants);
    if (statements.length > 0) {
      new IamRolePolicy(this, 'task-policy', { name: 'least-privilege', role: this.taskRole.id, policy: policyJson(statements) });
    }

    const image = `${props.repository.url}:${props.imageTag}`;
    const logs = (streamPrefix: string) => ({
      logDriver: 'awslogs',
      options: {
        'awslogs-group': this.logGroup.name,
        'awslogs-region': props.region,
        'awslogs-stream-prefix': streamPrefix,
      },
    });
    const scratchMount = [{ sourceVolume: SCRATCH.volume, containerPath: SCRATCH.path, readOnly: false }];
    const container = {
      name: CONTAINER_NAME,
      image,
      essential: true,
      command: props.command,
      // Fargate's maximum, and Spot's notice: the longest a worker can take to stop cleanly.
      stopTimeout: SPOT_STOP_BUDGET.stopTimeoutSeconds,
      readonlyRootFilesystem: true,
      mountPoints: scratchMount,
      dependsOn: [{ containerName: SCRATCH_INIT_CONTAINER, condition: 'SUCCESS' }],
      environment: Object.entries({ ...SCRATCH_ENVIRONMENT, ...props.environment })
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([name, value]) => ({ name, value })),
      secrets: injected.length > 0 ? injected.map((s) => ({ name: s.name, valueFrom: `${s.secretArn}:${s.jsonKey}::` })) : undefined,
      logConfiguration: logs(CONTAINER_NAME),
    };
    const scratchInit = {
      name: SCRATCH_INIT_CONTAINER,
      image,
      essential: false,
      user: '0',
      entryPoint: ['/bin/chmod'],
      command: ['1777', SCRATCH.path],
      readonlyRootFilesystem: true,
      mountPoints: scratchMount,
      logConfiguration: logs(SCRATCH_INIT_CONTAINER),
    };

    this.taskDefinition = new EcsTaskDefinition(this, 'task-definition', {
      family: props.family,
      cpu: String(props.cpu),
      memory: String(props.memoryMb),
      networkMode: 'awsvpc',
      requiresCompatibilities: ['FARGATE'],
      runtimePlatform: { operatingSystemFamily: 'LINUX', cpuArchitecture: 'ARM64' },
      executionRoleArn: this.executionRole.arn,
      taskRoleArn: this.taskRole.arn,
      volume: [{ name: SCRATCH.volume }],
      containerDefinitions: JSON.stringify([container, scratchInit]),
    });
  }
}
