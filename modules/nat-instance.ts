import { Construct } from 'constructs';
import { ITerraformDependable, Token } from 'cdktf';
import { AutoscalingGroup } from '@cdktf/provider-aws/lib/autoscaling-group';
import { CloudwatchMetricAlarm } from '@cdktf/provider-aws/lib/cloudwatch-metric-alarm';
import { Eip } from '@cdktf/provider-aws/lib/eip';
import { IamInstanceProfile } from '@cdktf/provider-aws/lib/iam-instance-profile';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { IamRolePolicy } from '@cdktf/provider-aws/lib/iam-role-policy';
import { LaunchTemplate } from '@cdktf/provider-aws/lib/launch-template';
import { NetworkInterface } from '@cdktf/provider-aws/lib/network-interface';
import { SecurityGroup } from '@cdktf/provider-aws/lib/security-group';
import { VpcSecurityGroupIngressRule } from '@cdktf/provider-aws/lib/vpc-security-group-ingress-rule';
import { VpcSecurityGroupEgressRule } from '@cdktf/provider-aws/lib/vpc-security-group-egress-rule';
import { ssmAgentStatements } from './iam-grants';
import { assumeRolePolicy, policyJson, Statement } from './iam-statements';
import { opsAlarm } from './ops-alarm';

export interface NatInstanceProps {
  /** `docplatform-<env>`: names the group, template, role, interface and address (`<prefix>-nat…`). */
  namePrefix: string;
  region: string;
  /** Account id (or a Terraform expression of it) for the ARNs of the instance role's policy. */
  accountId: string;
  vpcId: string;
  vpcCidr: string;
  /**
   * What the NAT forwards (TCP, a port to a range): the internet egress the private subnets'
   * security groups allow, and nothing more, so that an interface with a wider group still
   * cannot get out. Its own calls (the EC2 and SSM APIs, dnf) are HTTPS and must be among them;
   * DNS, NTP and the metadata service are link-local and no security group filters them.
   */
  forwards: Array<{ port: number; cidr: string; description: string }>;
  /**
   * The public subnet of the NAT: the floating interface lives in it, and so does every instance
   * the group launches, since an ENI can only be attached to an instance of its own AZ.
   */
  subnetId: string;
  instanceType: string;
  /** The environment's workload boundary: every role of an environment carries it. */
  permissionsBoundary: string;
  /** The environment's alarm topic: egress down, and its recovery. */
  alarmTopicArn: string;
  /** Tags the launched instances, volumes and interfaces carry (default_tags do not reach a launch template's tag specifications). */
  tags: Record<string, string>;
  /**
   * What an instance needs in place before it boots (the public subnet's route to the internet
   * gateway: its user data calls the EC2 API), carried to the Auto Scaling group and the address.
   */
  dependsOn?: ITerraformDependable[];
}

/** AL2023 ARM64 resolved by EC2 at launch: no AMI lookup (data source) in the plan. */
export const NAT_AMI_PARAMETER = 'resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64';

/** The launch lifecycle hook the instance completes once it forwards: until then it is not InService. */
export const NAT_READY_HOOK = 'nat-ready';
/** How long a launching instance has to take over the floating interface before the group abandons it and launches another. */
export const NAT_READY_TIMEOUT_SECONDS = 600;

export interface NatBootNames {
  /** Name tag of the floating interface, looked up in the instance's own AZ. */
  eniName: string;
  autoScalingGroupName: string;
  hookName: string;
}

/**
 * What the instance runs at every boot (`nat-egress.service`): take over the floating interface
 * and forward through it.
 *
 * 1. IMDSv2 token; instance id, Region, AZ and primary interface from the metadata service.
 * 2. After a reboot only: the floating interface is still attached (the metadata service lists it
 *    at device-number 1), but the primary interface's public IPv4 was released at the first boot
 *    and the default route out of the floating interface, set at run time, is gone; the primary's
 *    own default route (amazon-ec2-net-utils prefers device 0) reaches nothing, so every EC2 API
 *    call would fail. The default route goes out of the floating interface first (its Linux name
 *    by MAC, the router of its subnet from the metadata service, which needs no route out), and
 *    the API is reached through the Elastic IP. A first boot has nothing at device 1.
 * 3. `iptables` (iptables-nft) if missing: through the boot-time public IPv4 at the first boot.
 * 4. The floating interface (by its Name tag, in this AZ) attached as device 1, retried while the
 *    previous instance still holds it (its attachment goes when that instance terminates); after a
 *    reboot it is already this instance's and nothing is attached.
 * 5. Forwarding on, reverse-path filtering and redirects off, MASQUERADE out of the floating
 *    interface, default route through it (metric 10, under the primary's): traffic from the
 *    private subnets comes in and leaves through the interface the routes point at and the
 *    Elastic IP sits on, so the egress address never changes. systemd-networkd is told to keep
 *    routes it did not make. Source/destination check off on the interface (Terraform sets it;
 *    re-asserted).
 * 6. The primary interface's public IPv4 released (`--no-associate-public-ip-address`): it was
 *    only needed to reach the EC2 API before the floating interface was there, and would cost a
 *    second public IPv4 ($3.65/month). If the call fails, egress still works; the log says so.
 * 7. The launch lifecycle action completed: the instance is InService only once it forwards (a
 *    reboot has no action to complete; that failure is expected and logged).
 *
 * Any other failure ends the script non-zero, and its unit powers the instance off (NAT_EGRESS_UNIT).
 *
 * Written with `$var` only (no `${…}`) so the TypeScript template interpolates only the names; the
 * one exception, `ROOT`, is escaped: empty on the instance, a scratch directory for the tests that
 * run this script (test/infra/nat-boot.test.ts), it prefixes the one file the script writes.
 */
export function natEgressScript(names: NatBootNames): string {
  return `#!/bin/bash
# NAT egress through the floating interface (modules/nat-instance.ts). Runs at every boot.
set -euo pipefail
ENI_NAME='${names.eniName}'
ASG_NAME='${names.autoScalingGroupName}'
HOOK_NAME='${names.hookName}'
ROOT=\${ROOT:-}

log() { echo "nat-egress: $*"; }
retry() { local n=0; until "$@"; do n=$((n + 1)); if [ "$n" -ge 60 ]; then return 1; fi; sleep 5; done; }

token=$(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 21600' http://169.254.169.254/latest/api/token)
imds() { curl -sf -H "X-aws-ec2-metadata-token: $token" "http://169.254.169.254/latest/meta-data/$1"; }
instance=$(imds instance-id)
az=$(imds placement/availability-zone)
export AWS_DEFAULT_REGION=$(imds placement/region)
primary_mac=$(imds mac)
primary_eni=$(imds "network/interfaces/macs/$primary_mac/interface-id")

# nat_if and gateway: the Linux interface of MAC $1 once it has its IPv4 address, and its subnet's router (the first host).
floating_link() {
  nat_if=''
  for _ in $(seq 1 90); do
    nat_if=$(ip -o link | awk -v mac="$1" 'index(tolower($0), mac) && !seen { seen = 1; sub(":", "", $2); print $2 }')
    if [ -n "$nat_if" ] && [ -n "$(ip -4 -o addr show dev "$nat_if")" ]; then break; fi
    nat_if=''
    sleep 2
  done
  if [ -z "$nat_if" ]; then log "no interface with MAC $1 came up with an address"; exit 1; fi
  local cidr
  cidr=$(retry imds "network/interfaces/macs/$1/subnet-ipv4-cidr-block")
  gateway=$(python3 -c 'import ipaddress, sys; print(ipaddress.ip_network(sys.argv[1])[1])' "$cidr")
}

# A reboot: the API is reachable only through the Elastic IP of the interface still at device 1.
for mac in $(imds network/interfaces/macs/ | tr -d /); do
  if [ "$(imds "network/interfaces/macs/$mac/device-number")" = 1 ]; then
    floating_link "$mac"
    ip route replace default via "$gateway" dev "$nat_if" metric 10
    log "device 1 ($mac) still attached: default route through $nat_if before any EC2 API call"
  fi
done

command -v iptables >/dev/null || retry dnf install -y iptables-nft

found=$(retry aws ec2 describe-network-interfaces \\
  --filters "Name=tag:Name,Values=$ENI_NAME" "Name=availability-zone,Values=$az" \\
  --query 'NetworkInterfaces[0].[NetworkInterfaceId,MacAddress,Attachment.InstanceId]' --output text)
read -r eni eni_mac holder <<<"$found"
if [ -z "$eni" ] || [ "$eni" = "None" ]; then log "no interface named $ENI_NAME in $az"; exit 1; fi

if [ "$holder" != "$instance" ]; then
  until aws ec2 attach-network-interface --network-interface-id "$eni" --instance-id "$instance" --device-index 1; do
    log "$eni is not free yet (attached to $holder); retrying in 5 s"
    sleep 5
  done
  log "attached $eni"
fi

floating_link "$eni_mac"

if [ ! -f "$ROOT/etc/systemd/networkd.conf.d/90-nat.conf" ]; then
  mkdir -p "$ROOT/etc/systemd/networkd.conf.d"
  printf '[Network]\\nManageForeignRoutes=no\\nManageForeignRoutingPolicyRules=no\\n' > "$ROOT/etc/systemd/networkd.conf.d/90-nat.conf"
  systemctl restart systemd-networkd
  sleep 3
fi

sysctl -q -w net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.all.send_redirects=0
sysctl -q -w "net.ipv4.conf.$nat_if.rp_filter=0" "net.ipv4.conf.$nat_if.send_redirects=0"
iptables -t nat -C POSTROUTING -o "$nat_if" -j MASQUERADE 2>/dev/null || iptables -t nat -A POSTROUTING -o "$nat_if" -j MASQUERADE
iptables -P FORWARD ACCEPT
ip route replace default via "$gateway" dev "$nat_if" metric 10
retry aws ec2 modify-network-interface-attribute --network-interface-id "$eni" --no-source-dest-check
log "forwarding through $nat_if ($eni); egress address $(curl -s -m 5 https://checkip.amazonaws.com || echo unknown)"

if [ -n "$(imds "network/interfaces/macs/$primary_mac/public-ipv4s" || true)" ]; then
  aws ec2 modify-network-interface-attribute --network-interface-id "$primary_eni" --no-associate-public-ip-address \\
    && log "released the boot-time public IPv4 of $primary_eni" \\
    || log "could not release the public IPv4 of $primary_eni: egress works, but a second public IPv4 is billed"
fi

aws autoscaling complete-lifecycle-action --auto-scaling-group-name "$ASG_NAME" --lifecycle-hook-name "$HOOK_NAME" \\
  --instance-id "$instance" --lifecycle-action-result CONTINUE \\
  && log "launch completed: InService" \\
  || log "no launch action to complete (a reboot)"
`;
}

/**
 * The unit that runs natEgressScript at every boot. A boot that cannot forward must not leave the
 * instance running: a running instance passes the group's EC2 health check (`healthCheckType:
 * 'EC2'` looks at the instance state and status checks, not at forwarding) and counts in
 * GroupInServiceInstances, so neither the group nor the egress alarm would ever see it. So a failed
 * run powers the instance off (`FailureAction=poweroff`), which needs no API call, and the group
 * replaces it either way: after a reboot (InService) the EC2 health check finds it stopped, and the
 * group terminates it and launches another (the 60 s grace period only covers a new instance's
 * first minute in service); during its launch (Pending:Wait, where the group runs no health check:
 * it acts on InService instances) it never completes `nat-ready`, whose `defaultResult: 'ABANDON'`
 * terminates it after NAT_READY_TIMEOUT_SECONDS. Not a reboot: it would meet the same failure and
 * stay in service.
 */
export const NAT_EGRESS_UNIT = `[Unit]
Description=NAT egress through the floating interface
Wants=network-online.target
After=network-online.target
# Stopped, a NAT that cannot forward is replaced by its Auto Scaling group (modules/nat-instance.ts).
FailureAction=poweroff

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/nat-egress
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
`;

/** The user data: install the boot script and its unit, and run it now (cloud-init runs user data once; the unit runs at every boot). */
export function natUserData(names: NatBootNames): string {
  return `#!/bin/bash
set -euo pipefail
cat > /usr/local/sbin/nat-egress <<'NAT_EGRESS'
${natEgressScript(names)}NAT_EGRESS
chmod 0755 /usr/local/sbin/nat-egress
cat > /etc/systemd/system/nat-egress.service <<'NAT_UNIT'
${NAT_EGRESS_UNIT}NAT_UNIT
systemctl daemon-reload
systemctl enable --now nat-egress.service
`;
}

/**
 * Self-healing egress for the private subnets at the price of one NAT instance: an Auto Scaling
 * group of exactly one t4g.nano (EC2 health checks: an instance that fails its status checks, is
 * stopped or terminated is replaced) that takes over a floating network interface on boot. The
 * private route tables point at that interface and the Elastic IP sits on it, so neither the
 * routes nor the egress address (which partners allow-list) change when the instance does.
 *
 * The interface is bound to its subnet's AZ, so the group launches only there (one subnet): an
 * instance in another AZ could not attach it. If that AZ fails, egress is down until it is back or
 * `network.natAz` moves the NAT (interface, group, same Elastic IP) to another AZ (docs/operations.md#egress-down).
 * One group per AZ would survive an AZ loss on its own but doubles the instance and the address.
 *
 * The instance reaches the EC2 API at its first boot through a public IPv4 of its primary
 * interface, which it releases once the floating interface forwards, and after a reboot through
 * the Elastic IP of the floating interface it still holds (natEgressScript): one public IPv4, the
 * Elastic IP, in the steady state. A boot that cannot forward powers the instance off, and the
 * group replaces it (NAT_EGRESS_UNIT). Its role may attach and modify only the NAT's own interfaces
 * (Name tag), complete the group's launch action, and run the SSM Agent (Session Manager: no SSH
 * key, no inbound port). IMDSv2 only, encrypted root volume.
 */
export class NatInstance extends Construct {
  readonly securityGroup: SecurityGroup;
  readonly networkInterface: NetworkInterface;
  readonly eip: Eip;
  readonly launchTemplate: LaunchTemplate;
  readonly group: AutoscalingGroup;
  readonly role: IamRole;
  readonly egressAlarm: CloudwatchMetricAlarm;
  /** The group's name as a literal (what the dashboard names). */
  readonly autoScalingGroupName: string;

  constructor(scope: Construct, id: string, props: NatInstanceProps) {
    super(scope, id);
    const name = `${props.namePrefix}-nat`;
    const eniName = `${name}-egress`;
    this.autoScalingGroupName = name;

    this.securityGroup = new SecurityGroup(this, 'sg', {
      name,
      description: 'NAT instance: forwards traffic from the VPC to the internet',
      vpcId: props.vpcId,
    });
    if (props.forwards.length === 0) throw new Error(`${name}: a NAT instance needs at least one port to forward (its own EC2 calls are HTTPS)`);
    // The first port and destination keep the ids of the rules they narrowed: an in-place update, never a moment without a rule.
    const ports = [...new Set(props.forwards.map((f) => f.port))];
    ports.forEach((port, i) => {
      new VpcSecurityGroupIngressRule(this, i === 0 ? 'from-vpc' : `from-vpc-${port}`, {
        securityGroupId: this.securityGroup.id,
        description: `Traffic to forward on ${port}, from the VPC only`,
        ipProtocol: 'tcp',
        fromPort: port,
        toPort: port,
        cidrIpv4: props.vpcCidr,
      });
    });
    props.forwards.forEach((f, i) => {
      new VpcSecurityGroupEgressRule(this, i === 0 ? 'to-internet' : `to-internet-${i}`, {
        securityGroupId: this.securityGroup.id,
        description: f.description,
        ipProtocol: 'tcp',
        fromPort: f.port,
        toPort: f.port,
        cidrIpv4: f.cidr,
      });
    });

    // The stable half: what the routes and partners see. The attachment is the instance's to make.
    this.networkInterface = new NetworkInterface(this, 'eni', {
      subnetId: props.subnetId,
      securityGroups: [this.securityGroup.id],
      sourceDestCheck: false,
      description: 'NAT egress: the private routes point here; the NAT instance attaches it at boot',
      tags: { Name: eniName },
      // Moving the NAT to another AZ (network.natAz): the new interface takes the Elastic IP before the old one goes.
      lifecycle: { createBeforeDestroy: true, ignoreChanges: ['attachment'] },
    });
    this.eip = new Eip(this, 'eip', {
      domain: 'vpc',
      networkInterface: this.networkInterface.id,
      tags: { Name: name },
      dependsOn: props.dependsOn,
    });

    this.role = new IamRole(this, 'role', {
      name,
      description: 'NAT instance: takes over the floating egress interface; SSM Session Manager',
      assumeRolePolicy: assumeRolePolicy('ec2.amazonaws.com'),
      permissionsBoundary: props.permissionsBoundary,
    });
    const policy = new IamRolePolicy(this, 'policy', {
      name: 'least-privilege',
      role: this.role.id,
      policy: policyJson(natRoleStatements({ ...props, name, eniName, eniId: this.networkInterface.id })),
    });
    const profile = new IamInstanceProfile(this, 'profile', { name, role: this.role.name });

    const launchTags = { ...props.tags, Name: name };
    this.launchTemplate = new LaunchTemplate(this, 'template', {
      name,
      description: 'NAT instance of the egress Auto Scaling group',
      imageId: NAT_AMI_PARAMETER,
      instanceType: props.instanceType,
      iamInstanceProfile: { arn: profile.arn },
      userData: Buffer.from(natUserData({ eniName, autoScalingGroupName: name, hookName: NAT_READY_HOOK })).toString('base64'),
      metadataOptions: { httpTokens: 'required', httpEndpoint: 'enabled', httpPutResponseHopLimit: 1, instanceMetadataTags: 'disabled' },
      networkInterfaces: [
        {
          deviceIndex: 0,
          // Only until boot: the instance releases it once the floating interface forwards.
          associatePublicIpAddress: 'true',
          deleteOnTermination: 'true',
          securityGroups: [this.securityGroup.id],
          description: 'NAT instance primary interface (its public IPv4 is released after boot)',
        },
      ],
      blockDeviceMappings: [
        { deviceName: '/dev/xvda', ebs: { volumeSize: 8, volumeType: 'gp3', encrypted: 'true', deleteOnTermination: 'true' } },
      ],
      tagSpecifications: ['instance', 'volume', 'network-interface'].map((resourceType) => ({ resourceType, tags: launchTags })),
    });

    this.group = new AutoscalingGroup(this, 'group', {
      name,
      minSize: 1,
      maxSize: 1,
      desiredCapacity: 1,
      vpcZoneIdentifier: [props.subnetId],
      healthCheckType: 'EC2',
      healthCheckGracePeriod: 60,
      // A new template version replaces the instance (through the same boot); the latest version is named so the change shows in the plan.
      launchTemplate: { id: this.launchTemplate.id, version: Token.asString(this.launchTemplate.latestVersion) },
      // One instance and one interface: the old one goes before the new one launches, so the interface is free.
      instanceMaintenancePolicy: { minHealthyPercentage: 0, maxHealthyPercentage: 100 },
      instanceRefresh: { strategy: 'Rolling', preferences: { minHealthyPercentage: 0 } },
      initialLifecycleHook: [
        {
          name: NAT_READY_HOOK,
          lifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
          heartbeatTimeout: NAT_READY_TIMEOUT_SECONDS,
          defaultResult: 'ABANDON',
        },
      ],
      enabledMetrics: ['GroupInServiceInstances', 'GroupDesiredCapacity', 'GroupPendingInstances', 'GroupTerminatingInstances'],
      metricsGranularity: '1Minute',
      waitForCapacityTimeout: '15m',
      // aws_autoscaling_group takes no default_tags.
      tag: Object.entries(launchTags).map(([key, value]) => ({ key, value, propagateAtLaunch: false })),
      dependsOn: [policy, ...(props.dependsOn ?? [])],
    });

    this.egressAlarm = opsAlarm(this, 'egress-down', {
      alarmName: `${name}-egress-down`,
      alarmDescription: 'No NAT instance in service for 5 minutes: the private subnets have no egress (Gemini, Stripe, ECR, AWS APIs)',
      runbook: 'egress-down',
      topicArn: props.alarmTopicArn,
      namespace: 'AWS/AutoScaling',
      metricName: 'GroupInServiceInstances',
      dimensions: { AutoScalingGroupName: this.group.name },
      statistic: 'Minimum',
      comparisonOperator: 'LessThanThreshold',
      threshold: 1,
      period: 60,
      evaluationPeriods: 5,
      // No data from the group is no proof of egress.
      treatMissingData: 'breaching',
    });
  }
}

/**
 * The instance role: the SSM Agent, and on the NAT's own interfaces (Name tag `<prefix>-nat` on
 * the instances and their primary interfaces, `<prefix>-nat-egress` on the floating one) attach
 * and modify (source/destination check, release of the boot-time public IPv4), and complete the
 * group's launch action.
 */
export function natRoleStatements(p: { region: string; accountId: string; namePrefix: string; name: string; eniName: string; eniId: string }): Statement[] {
  const ec2 = (type: string) => `arn:aws:ec2:${p.region}:${p.accountId}:${type}`;
  const ownInterfaces = { StringEquals: { 'aws:ResourceTag/Name': [p.name, p.eniName] } };
  return [
    {
      sid: 'AttachFloatingInterface',
      actions: ['ec2:AttachNetworkInterface'],
      resources: [ec2(`network-interface/${p.eniId}`), ec2('instance/*')],
      conditions: ownInterfaces,
    },
    {
      sid: 'NatInterfaceAttributes',
      actions: ['ec2:ModifyNetworkInterfaceAttribute'],
      resources: [ec2('network-interface/*'), ec2('instance/*')],
      conditions: ownInterfaces,
    },
    {
      sid: 'FindFloatingInterface',
      actions: ['ec2:DescribeNetworkInterfaces'],
      resources: ['*'],
      justification: 'ec2:DescribeNetworkInterfaces has no resource-level permission: IAM accepts only "*".',
      scalar: ['actions', 'resources'],
    },
    {
      sid: 'CompleteNatLaunch',
      actions: ['autoscaling:CompleteLifecycleAction'],
      resources: [`arn:aws:autoscaling:${p.region}:${p.accountId}:autoScalingGroup:*:autoScalingGroupName/${p.name}`],
      scalar: ['actions', 'resources'],
    },
    ...ssmAgentStatements(p.region, p.accountId, p.namePrefix),
  ];
}

/** Every action the NAT instance role is granted (for the workload boundary, stacks/ci-policies/boundary.ts). */
export function natRoleActions(): string[] {
  const statements = natRoleStatements({ region: 'r', accountId: 'a', namePrefix: 'p', name: 'p-nat', eniName: 'p-nat-egress', eniId: 'eni' });
  return [...new Set(statements.flatMap((s) => s.actions))];
}
