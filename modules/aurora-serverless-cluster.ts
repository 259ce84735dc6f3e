import { Construct } from 'constructs';
import { DbSubnetGroup } from '@cdktf/provider-aws/lib/db-subnet-group';
import { RdsClusterParameterGroup } from '@cdktf/provider-aws/lib/rds-cluster-parameter-group';
import { RdsCluster } from '@cdktf/provider-aws/lib/rds-cluster';
import { RdsClusterInstance } from '@cdktf/provider-aws/lib/rds-cluster-instance';
import { CloudwatchLogGroup } from '@cdktf/provider-aws/lib/cloudwatch-log-group';
import { opsAlarm } from './ops-alarm';

export interface AuroraServerlessClusterProps {
  /** Cluster identifier; its instances are `<identifier>-1` (writer) and `<identifier>-2` (reader). */
  identifier: string;
  /**
   * aurora-postgresql version the cluster is created at, e.g. `16.6`; a `minAcu` of 0 needs 16.3
   * or later. AWS's automatic minor upgrades move it on, and Terraform leaves them be.
   */
  engineVersion: string;
  databaseName: string;
  masterUsername: string;
  /** ACU range of each instance: half steps, 0 (auto-pause) to 256, `maxAcu` at least 1. */
  minAcu: number;
  maxAcu: number;
  /** Idle seconds before an instance at 0 ACU pauses (300-86,400); ignored unless `minAcu` is 0. */
  secondsUntilAutoPause: number;
  /** Adds a second db.serverless instance, reader and failover target, pausing with the writer. */
  reader: boolean;
  /** Isolated subnets: no route to or from the internet. */
  subnetIds: string[];
  securityGroupId: string;
  /** Server parameters of the cluster parameter group (force SSL, …); `rds.logical_replication` keeps the writer from ever pausing. */
  parameters: Array<{ name: string; value: string; applyMethod?: 'immediate' | 'pending-reboot' }>;
  backupRetentionDays: number;
  /** Also takes a final snapshot `<identifier>-final` on deletion. */
  deletionProtection: boolean;
  logRetentionDays: number;
  alarmTopicArn: string;
}

/** What the config may ask for, as messages naming the prop: empty when the range is valid. */
export function capacityIssues(props: Pick<AuroraServerlessClusterProps, 'engineVersion' | 'minAcu' | 'maxAcu' | 'secondsUntilAutoPause'>): string[] {
  const issues: string[] = [];
  const halfStep = (n: number) => Number.isFinite(n) && Number.isInteger(n * 2);
  if (!halfStep(props.minAcu) || props.minAcu < 0) issues.push(`minAcu: a multiple of 0.5 from 0, got ${props.minAcu}`);
  if (!halfStep(props.maxAcu) || props.maxAcu < 1 || props.maxAcu > 256) issues.push(`maxAcu: a multiple of 0.5 from 1 to 256, got ${props.maxAcu}`);
  if (props.maxAcu < props.minAcu) issues.push(`maxAcu: at least minAcu (${props.minAcu}), got ${props.maxAcu}`);
  if (props.minAcu === 0) {
    const seconds = props.secondsUntilAutoPause;
    if (!Number.isInteger(seconds) || seconds < 300 || seconds > 86_400) issues.push(`secondsUntilAutoPause: 300 to 86400 when minAcu is 0, got ${seconds}`);
    const [major, minor] = props.engineVersion.split('.').map(Number);
    if (!(major > 16 || (major === 16 && minor >= 3))) issues.push(`engineVersion: 16.3 or later when minAcu is 0 (scaling to 0 ACU), got ${props.engineVersion}`);
  }
  return issues;
}

/**
 * An Aurora PostgreSQL cluster of Serverless v2 instances (`db.serverless`): encrypted under the
 * AWS-managed aws/rds key, in isolated subnets, its master password generated and rotated by RDS
 * in Secrets Manager, its log exported to a log group with retention, its CPU and capacity
 * watched. It answers on the cluster (writer) endpoint, as the RDS instance answers on its own.
 */
export class AuroraServerlessCluster extends Construct {
  readonly cluster: RdsCluster;
  readonly endpoint: { address: string; port: number; masterSecretArn: string };

  constructor(scope: Construct, id: string, props: AuroraServerlessClusterProps) {
    super(scope, id);
    const issues = capacityIssues(props);
    if (issues.length > 0) throw new Error(`${props.identifier}: ${issues.join('; ')}`);
    const major = props.engineVersion.split('.')[0];

    const subnets = new DbSubnetGroup(this, 'subnets', {
      name: props.identifier,
      description: 'Isolated subnets: no route to or from the internet',
      subnetIds: props.subnetIds,
    });
    // name_prefix with create_before_destroy: a replacement (new family) never collides with the old name.
    const parameters = new RdsClusterParameterGroup(this, 'parameters', {
      namePrefix: `${props.identifier}-postgresql${major}-`,
      family: `aurora-postgresql${major}`,
      description: 'Cluster parameters of the Aurora PostgreSQL cluster',
      parameter: props.parameters,
      lifecycle: { createBeforeDestroy: true },
    });
    // Aurora would create this group itself, without retention: owning it bounds the log bill.
    const logGroup = new CloudwatchLogGroup(this, 'log-group', {
      name: `/aws/rds/cluster/${props.identifier}/postgresql`,
      retentionInDays: props.logRetentionDays,
    });

    this.cluster = new RdsCluster(this, 'cluster', {
      clusterIdentifier: props.identifier,
      engine: 'aurora-postgresql',
      engineMode: 'provisioned',
      engineVersion: props.engineVersion,
      databaseName: props.databaseName,
      masterUsername: props.masterUsername,
      manageMasterUserPassword: true,
      storageEncrypted: true,
      dbSubnetGroupName: subnets.name,
      vpcSecurityGroupIds: [props.securityGroupId],
      dbClusterParameterGroupName: parameters.name,
      serverlessv2ScalingConfiguration: {
        minCapacity: props.minAcu,
        maxCapacity: props.maxAcu,
        // Aurora refuses the setting above 0 ACU: an instance that never reaches 0 never pauses.
        secondsUntilAutoPause: props.minAcu === 0 ? props.secondsUntilAutoPause : undefined,
      },
      backupRetentionPeriod: props.backupRetentionDays,
      preferredBackupWindow: '01:00-02:00',
      preferredMaintenanceWindow: 'sun:02:30-sun:03:30',
      deletionProtection: props.deletionProtection,
      skipFinalSnapshot: !props.deletionProtection,
      finalSnapshotIdentifier: props.deletionProtection ? `${props.identifier}-final` : undefined,
      copyTagsToSnapshot: true,
      enabledCloudwatchLogsExports: ['postgresql'],
      dependsOn: [logGroup],
      // The instances upgrade their minor version on their own (autoMinorVersionUpgrade): a pinned
      // 16.6 would plan a downgrade after the first one, which RDS refuses, failing every apply.
      // aws_rds_cluster takes a partial version only "where supported by the API" (provider docs), and a
      // major alone could not promise the 16.3 that 0 ACU needs.
      lifecycle: { ignoreChanges: ['engine_version'] },
    });

    // Promotion tiers 0 and 1 pause and resume together (a reader of tier 2+ would pause alone).
    const instance = (n: number) =>
      new RdsClusterInstance(this, `instance-${n}`, {
        identifier: `${props.identifier}-${n}`,
        clusterIdentifier: this.cluster.id,
        instanceClass: 'db.serverless',
        engine: this.cluster.engine,
        engineVersion: this.cluster.engineVersion,
        publiclyAccessible: false,
        promotionTier: n - 1,
        caCertIdentifier: 'rds-ca-rsa2048-g1',
        autoMinorVersionUpgrade: true,
        performanceInsightsEnabled: false,
        monitoringInterval: 0,
        copyTagsToSnapshot: true,
        lifecycle: { ignoreChanges: ['engine_version'] },
      });
    instance(1);
    if (props.reader) instance(2);

    // A paused instance reports nothing: missing data is a sleeping database, not an outage.
    const alarm = (name: string, metricName: string, threshold: number, description: string) =>
      opsAlarm(this, `alarm-${name}`, {
        alarmName: `${props.identifier}-${name}`,
        alarmDescription: description,
        runbook: 'rds-exhausted',
        topicArn: props.alarmTopicArn,
        namespace: 'AWS/RDS',
        metricName,
        dimensions: { DBClusterIdentifier: this.cluster.clusterIdentifier },
        statistic: 'Average',
        evaluationPeriods: 3,
        threshold,
        comparisonOperator: 'GreaterThanThreshold',
        treatMissingData: 'notBreaching',
      });
    alarm('cpu-high', 'CPUUtilization', 80, 'Aurora CPU above 80 % for 15 minutes');
    alarm('capacity-high', 'ACUUtilization', 90, `Aurora above 90 % of its ${props.maxAcu} ACU maximum for 15 minutes: raise database.aurora.maxAcu`);

    this.endpoint = {
      address: this.cluster.endpoint,
      port: this.cluster.port,
      masterSecretArn: this.cluster.masterUserSecret.get(0).secretArn,
    };
  }
}
