import { Construct } from 'constructs';
import { TerraformOutput, TerraformStack } from 'cdktf';
import { Vpc } from '@cdktf/provider-aws/lib/vpc';
import { Subnet } from '@cdktf/provider-aws/lib/subnet';
import { InternetGateway } from '@cdktf/provider-aws/lib/internet-gateway';
import { RouteTable } from '@cdktf/provider-aws/lib/route-table';
import { Route } from '@cdktf/provider-aws/lib/route';
import { RouteTableAssociation } from '@cdktf/provider-aws/lib/route-table-association';
import { Eip } from '@cdktf/provider-aws/lib/eip';
import { NatGateway } from '@cdktf/provider-aws/lib/nat-gateway';
import { VpcEndpoint } from '@cdktf/provider-aws/lib/vpc-endpoint';
import { FlowLog } from '@cdktf/provider-aws/lib/flow-log';
import { DefaultSecurityGroup } from '@cdktf/provider-aws/lib/default-security-group';
import { SecurityGroup } from '@cdktf/provider-aws/lib/security-group';
import { VpcSecurityGroupIngressRule } from '@cdktf/provider-aws/lib/vpc-security-group-ingress-rule';
import { VpcSecurityGroupEgressRule } from '@cdktf/provider-aws/lib/vpc-security-group-egress-rule';
import { PROJECT } from '../core/contract';
import { EnvironmentConfig, namePrefix } from './config';
import { useS3Backend } from './backend';
import { workloadBoundaryArn } from './bootstrap';
import { awsProvider } from './provider';
import { cidrSubnet, peerCidr } from '../modules/cidr';
import { NatInstance } from '../modules/nat-instance';
import { AlarmTopic } from '../modules/alarm-topic';
import { Budget } from '../modules/budget';
import { SecureBucket } from '../modules/secure-bucket';

export const POSTGRES_PORT = 5432;
export const VALKEY_PORT = 6379;
const HTTPS_PORT = 443;

type Role = 'lambda' | 'worker' | 'db' | 'cache' | 'migration';

const ROLE_DESCRIPTIONS: Record<Role, string> = {
  lambda: 'Lambda functions: reach RDS, the cache and HTTPS APIs',
  worker: 'Fargate workers: reach RDS, the cache and HTTPS APIs',
  db: 'RDS PostgreSQL: accepts the application roles on 5432',
  cache: 'ElastiCache Serverless: accepts Lambda and workers on 6379',
  migration: 'Migration task: reaches RDS and the old database',
};

/** What the environment's dashboard shows of egress, per `network.egress`. */
export type EgressHealth =
  | { mode: 'nat-instance'; autoScalingGroupName: string }
  | { mode: 'nat-gateway'; natGatewayId: string }
  | { mode: 'none' };

/**
 * The VPC of an environment over `azCount` AZs: public subnets (NAT, nothing else), private
 * subnets with egress (Lambda, Fargate, cache) and isolated subnets without any (RDS). Also
 * holds the environment's alarm topic and cost budget, which every later layer reports to.
 */
export class NetworkStack extends TerraformStack {
  readonly privateSubnetIds: string[];
  readonly isolatedSubnetIds: string[];
  readonly securityGroupIds: Record<Role, string>;
  readonly alarmTopicArn: string;
  readonly egress: EgressHealth;

  constructor(scope: Construct, id: string, config: EnvironmentConfig) {
    super(scope, id);
    const layer = 'network';
    awsProvider(this, config, layer);
    useS3Backend(this, config.env, layer);
    const prefix = namePrefix(config.env);
    const { cidr, azCount } = config.network;
    if (azCount < 2 || azCount > 3) throw new Error(`network.azCount: ${azCount} must be 2 or 3`);
    const { natAz } = config.network;
    if (!Number.isInteger(natAz) || natAz < 0 || natAz >= azCount) throw new Error(`network.natAz: ${natAz} must be an AZ index from 0 to ${azCount - 1}`);

    const vpc = new Vpc(this, 'vpc', {
      cidrBlock: cidr,
      enableDnsHostnames: true,
      enableDnsSupport: true,
      tags: { Name: prefix },
    });
    // The default group stays empty so nothing attached by accident gets any traffic.
    new DefaultSecurityGroup(this, 'default-sg', { vpcId: vpc.id });

    const azs = Array.from({ length: azCount }, (_, i) => `${config.region}${'abc'[i]}`);
    const subnets = (tier: 'public' | 'private' | 'isolated', cidrOf: (i: number) => string) =>
      azs.map(
        (az, i) =>
          new Subnet(this, `${tier}-${i}`, {
            vpcId: vpc.id,
            availabilityZone: az,
            cidrBlock: cidrOf(i),
            mapPublicIpOnLaunch: false,
            tags: { Name: `${prefix}-${tier}-${az}`, tier },
          }),
      );
    // /24 public (NAT only), /20 private (Lambda ENIs and tasks need room), /24 isolated (RDS).
    const publicSubnets = subnets('public', (i) => cidrSubnet(cidr, 8, i));
    const privateSubnets = subnets('private', (i) => cidrSubnet(cidr, 4, 1 + i));
    const isolatedSubnets = subnets('isolated', (i) => cidrSubnet(cidr, 8, 200 + i));
    this.privateSubnetIds = privateSubnets.map((s) => s.id);
    this.isolatedSubnetIds = isolatedSubnets.map((s) => s.id);

    const igw = new InternetGateway(this, 'igw', { vpcId: vpc.id, tags: { Name: prefix } });
    const associations: Record<string, RouteTableAssociation[]> = {};
    const routeTable = (tier: string, members: Subnet[]) => {
      const table = new RouteTable(this, `${tier}-rt`, { vpcId: vpc.id, tags: { Name: `${prefix}-${tier}` } });
      associations[tier] = members.map((subnet, i) => new RouteTableAssociation(this, `${tier}-rta-${i}`, { routeTableId: table.id, subnetId: subnet.id }));
      return table;
    };
    const publicRt = routeTable('public', publicSubnets);
    const privateRt = routeTable('private', privateSubnets);
    const isolatedRt = routeTable('isolated', isolatedSubnets);
    const publicDefault = new Route(this, 'public-default', { routeTableId: publicRt.id, destinationCidrBlock: '0.0.0.0/0', gatewayId: igw.id });
    // The account id comes from the config or from the VPC (its owner): no STS call at plan time.
    const account = config.accountId ?? vpc.ownerId;
    // The alarm topic comes first: the NAT's egress alarm reports to it.
    const alarms = new AlarmTopic(this, 'alarms', { name: `${prefix}-alarms`, region: config.region, accountId: account, emails: config.alarms.emails });
    this.alarmTopicArn = alarms.topic.arn;

    // The one-off copy reads the old database: only the hosts the config names (none by default),
    // never the whole internet on 5432. The session itself uses TLS.
    const sourceCidrs = config.migration.sourceCidrs.map((c, i) => peerCidr(c, `migration.sourceCidrs[${i}]`, 16));
    const SOURCE_DB = 'PostgreSQL of the old platform (one-off data migration)';
    const INTERNET_HTTPS = 'HTTPS to AWS APIs, Gemini, Stripe, ECR';

    switch (config.network.egress) {
      case 'nat-instance': {
        const nat = new NatInstance(this, 'nat', {
          namePrefix: prefix,
          region: config.region,
          accountId: account,
          vpcId: vpc.id,
          vpcCidr: cidr,
          forwards: [
            { port: HTTPS_PORT, cidr: '0.0.0.0/0', description: `${INTERNET_HTTPS}; the NAT's own EC2, SSM and dnf calls` },
            ...sourceCidrs.map((c) => ({ port: POSTGRES_PORT, cidr: c, description: SOURCE_DB })),
          ],
          subnetId: publicSubnets[natAz].id,
          instanceType: config.network.natInstanceType,
          permissionsBoundary: workloadBoundaryArn(account, config.env),
          alarmTopicArn: alarms.topic.arn,
          tags: { project: PROJECT, env: config.env, layer },
          // Its user data (dnf install, the EC2 API) reaches the internet through the gateway: the
          // route AND its subnet's association with that table must exist before the first boot
          // (without the association the subnet still uses the VPC's main table: no route out).
          dependsOn: [publicDefault, associations.public[natAz]],
        });
        new Route(this, 'private-default', {
          routeTableId: privateRt.id,
          destinationCidrBlock: '0.0.0.0/0',
          networkInterfaceId: nat.networkInterface.id,
        });
        new TerraformOutput(this, 'egress_ip', { value: nat.eip.publicIp, description: 'The one egress address of the private subnets (partners allow-list it)' });
        this.egress = { mode: 'nat-instance', autoScalingGroupName: nat.autoScalingGroupName };
        break;
      }
      case 'nat-gateway': {
        const eip = new Eip(this, 'nat-eip', { domain: 'vpc', tags: { Name: `${prefix}-nat` } });
        const gateway = new NatGateway(this, 'nat-gateway', {
          allocationId: eip.allocationId,
          subnetId: publicSubnets[natAz].id,
          tags: { Name: prefix },
          dependsOn: [igw],
        });
        new Route(this, 'private-default', { routeTableId: privateRt.id, destinationCidrBlock: '0.0.0.0/0', natGatewayId: gateway.id });
        new TerraformOutput(this, 'egress_ip', { value: eip.publicIp, description: 'The one egress address of the private subnets (partners allow-list it)' });
        this.egress = { mode: 'nat-gateway', natGatewayId: gateway.id };
        break;
      }
      case 'none':
        this.egress = { mode: 'none' };
        break;
      default:
        throw new Error(`network.egress: "${String(config.network.egress)}" is not nat-instance, nat-gateway or none`);
    }

    if (config.network.flowLogs.enabled) this.flowLogs(config, prefix, vpc);

    // S3 traffic (reports, assets, ECR layers) skips the NAT: gateway endpoints are free.
    new VpcEndpoint(this, 's3-endpoint', {
      vpcId: vpc.id,
      serviceName: `com.amazonaws.${config.region}.s3`,
      vpcEndpointType: 'Gateway',
      routeTableIds: [privateRt.id, isolatedRt.id],
      tags: { Name: `${prefix}-s3` },
    });

    const groups = {} as Record<Role, SecurityGroup>;
    for (const role of Object.keys(ROLE_DESCRIPTIONS) as Role[]) {
      groups[role] = new SecurityGroup(this, `sg-${role}`, {
        name: `${prefix}-${role}`,
        description: ROLE_DESCRIPTIONS[role],
        vpcId: vpc.id,
        tags: { Name: `${prefix}-${role}` },
      });
    }
    const ingress = (to: Role, from: Role, port: number) =>
      new VpcSecurityGroupIngressRule(this, `${to}-from-${from}`, {
        securityGroupId: groups[to].id,
        referencedSecurityGroupId: groups[from].id,
        description: `${from} to ${to} on ${port}`,
        ipProtocol: 'tcp',
        fromPort: port,
        toPort: port,
      });
    const egressToGroup = (from: Role, to: Role, port: number) =>
      new VpcSecurityGroupEgressRule(this, `${from}-to-${to}`, {
        securityGroupId: groups[from].id,
        referencedSecurityGroupId: groups[to].id,
        description: `${from} to ${to} on ${port}`,
        ipProtocol: 'tcp',
        fromPort: port,
        toPort: port,
      });
    const egressToInternet = (from: Role, port: number, why: string) =>
      new VpcSecurityGroupEgressRule(this, `${from}-to-internet-${port}`, {
        securityGroupId: groups[from].id,
        cidrIpv4: '0.0.0.0/0',
        description: why,
        ipProtocol: 'tcp',
        fromPort: port,
        toPort: port,
      });

    for (const client of ['lambda', 'worker', 'migration'] as const) {
      ingress('db', client, POSTGRES_PORT);
      egressToGroup(client, 'db', POSTGRES_PORT);
      egressToInternet(client, HTTPS_PORT, INTERNET_HTTPS);
    }
    for (const client of ['lambda', 'worker'] as const) {
      ingress('cache', client, VALKEY_PORT);
      egressToGroup(client, 'cache', VALKEY_PORT);
    }
    sourceCidrs.forEach((source, i) => {
      new VpcSecurityGroupEgressRule(this, `migration-to-source-${i}`, {
        securityGroupId: groups.migration.id,
        cidrIpv4: source,
        description: SOURCE_DB,
        ipProtocol: 'tcp',
        fromPort: POSTGRES_PORT,
        toPort: POSTGRES_PORT,
      });
    });

    this.securityGroupIds = {
      lambda: groups.lambda.id,
      worker: groups.worker.id,
      db: groups.db.id,
      cache: groups.cache.id,
      migration: groups.migration.id,
    };

    new Budget(this, 'budget', {
      name: `${prefix}-monthly`,
      monthlyUsd: config.budget.monthlyUsd,
      env: config.env,
      alertEmails: config.budget.alertEmails,
      alarmTopicArn: alarms.topic.arn,
    });
  }

  /**
   * Flow logs of the whole VPC (accepted and rejected, every ENI) as gzip text to a private bucket,
   * objects expiring after `network.flowLogs.expireAfterDays`. The bucket policy is the one AWS
   * documents for log delivery (this account's `delivery.logs` under AWSLogs/<account>/ only),
   * written here so that the service does not add its own to a policy Terraform owns.
   */
  private flowLogs(config: EnvironmentConfig, prefix: string, vpc: Vpc): void {
    const account = config.accountId ?? vpc.ownerId;
    const delivery = { Service: 'delivery.logs.amazonaws.com' };
    const fromThisAccount = {
      StringEquals: { 'aws:SourceAccount': account },
      ArnLike: { 'aws:SourceArn': `arn:aws:logs:${config.region}:${account}:*` },
    };
    const bucket = new SecureBucket(this, 'flow-logs', {
      bucketPrefix: `${prefix}-flow-logs-`,
      intelligentTiering: false,
      noncurrentVersionDays: 1,
      expirationDays: config.network.flowLogs.expireAfterDays,
      forceDestroy: config.teardown.destroyWithContents,
      extraStatements: (arn) => [
        {
          sid: 'AWSLogDeliveryWrite',
          principal: delivery,
          actions: ['s3:PutObject'],
          resources: [`${arn}/AWSLogs/${account}/*`],
          conditions: { ...fromThisAccount, StringEquals: { ...fromThisAccount.StringEquals, 's3:x-amz-acl': 'bucket-owner-full-control' } },
          scalar: ['actions', 'resources'],
        },
        {
          sid: 'AWSLogDeliveryAclCheck',
          principal: delivery,
          actions: ['s3:GetBucketAcl', 's3:ListBucket'],
          resources: [arn],
          conditions: fromThisAccount,
          scalar: ['resources'],
        },
      ],
    });
    new FlowLog(this, 'flow-log', {
      vpcId: vpc.id,
      trafficType: 'ALL',
      logDestinationType: 's3',
      logDestination: bucket.bucket.arn,
      maxAggregationInterval: 600,
      destinationOptions: { fileFormat: 'plain-text', perHourPartition: true, hiveCompatiblePartitions: false },
      tags: { Name: prefix },
      // Delivery checks the bucket policy when the flow log is created.
      dependsOn: [bucket.policy],
    });
  }
}
