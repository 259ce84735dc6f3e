import { execFileSync } from 'node:child_process';
import { Testing } from 'cdktf';
import { dev, environments, EnvironmentConfig } from '../../stacks/config';
import { NetworkStack } from '../../stacks/network';
import { cidrSubnet } from '../../modules/cidr';
import { NAT_READY_TIMEOUT_SECONDS, natUserData } from '../../modules/nat-instance';
import { parsePolicy, resources, synthesizedStack } from '../support/infra-synth';

const envs = Object.values(environments);
const stackOf = (config: EnvironmentConfig) => synthesizedStack(`${config.env}-network`);
const ref = (type: string, name: string, attr = 'id') => `\${${type}.${name}.${attr}}`;

/** A network stack synthesised in-process with the old database's hosts the migration task may reach. */
function networkWithSources(sourceCidrs: string[]): any {
  const stack = new NetworkStack(Testing.app(), 'probe-network', { ...dev, migration: { ...dev.migration, sourceCidrs } });
  return JSON.parse(Testing.synth(stack));
}

/** A network stack synthesised in-process with another egress mode. */
function networkWith(egress: EnvironmentConfig['network']['egress']): any {
  const app = Testing.app();
  const stack = new NetworkStack(app, 'probe-network', { ...dev, network: { ...dev.network, egress } });
  return JSON.parse(Testing.synth(stack));
}

function ipRange(cidr: string): [number, number] {
  const [ip, bits] = cidr.split('/');
  const start = ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  return [start, start + 2 ** (32 - Number(bits)) - 1];
}

describe.each(envs.map((c) => [c.env, c] as const))('%s-network', (_env, config) => {
  const stack = stackOf(config);
  const subnets = resources(stack, 'aws_subnet');
  const tier = (name: string) => subnets.filter((s) => s.config.tags.tier === name);
  const routes = resources(stack, 'aws_route');
  const routeTable = (name: string) => resources(stack, 'aws_route_table').find((t) => t.name === `${name}-rt`)!;
  const sgs = Object.fromEntries(resources(stack, 'aws_security_group').map((g) => [g.name, g]));
  const ingress = resources(stack, 'aws_vpc_security_group_ingress_rule');

  test('VPC uses the configured CIDR with DNS support', () => {
    const [vpc] = resources(stack, 'aws_vpc');
    expect(vpc.config).toMatchObject({ cidr_block: config.network.cidr, enable_dns_hostnames: true, enable_dns_support: true });
  });

  test('public, private and isolated subnets span azCount availability zones', () => {
    for (const name of ['public', 'private', 'isolated']) {
      const azs = tier(name).map((s) => s.config.availability_zone);
      expect(new Set(azs).size).toBe(config.network.azCount);
      azs.forEach((az) => expect(az.startsWith(config.region)).toBe(true));
    }
  });

  test('subnet CIDRs lie inside the VPC and do not overlap', () => {
    const [vpcStart, vpcEnd] = ipRange(config.network.cidr);
    const ranges = subnets.map((s) => ipRange(s.config.cidr_block)).sort((a, b) => a[0] - b[0]);
    ranges.forEach(([start, end], i) => {
      expect(start >= vpcStart && end <= vpcEnd).toBe(true);
      if (i > 0) expect(start).toBeGreaterThan(ranges[i - 1][1]);
    });
  });

  test('no subnet assigns public IPs on launch', () => {
    subnets.forEach((s) => expect(s.config.map_public_ip_on_launch).toBe(false));
  });

  test('isolated subnets have no route to the internet', () => {
    expect(routes.filter((r) => r.config.route_table_id === ref('aws_route_table', 'isolated-rt'))).toEqual([]);
  });

  const [group] = resources(stack, 'aws_autoscaling_group');
  const [template] = resources(stack, 'aws_launch_template');
  const [eni] = resources(stack, 'aws_network_interface');
  const natSubnet = ref('aws_subnet', `public-${config.network.natAz}`);
  const userData = () => Buffer.from(template.config.user_data, 'base64').toString('utf8');

  test(`egress follows config (${config.network.egress}): an Auto Scaling group of exactly one ${config.network.natInstanceType} NAT instance, EC2 health checks, in the floating interface's public subnet`, () => {
    expect(config.network.egress).toBe('nat-instance');
    expect(resources(stack, 'aws_instance')).toEqual([]);
    expect(resources(stack, 'aws_nat_gateway')).toEqual([]);
    expect(group.config).toMatchObject({ min_size: 1, max_size: 1, desired_capacity: 1, health_check_type: 'EC2' });
    // An interface is bound to its AZ: every instance the group launches must be able to attach it.
    expect(group.config.vpc_zone_identifier).toEqual([natSubnet]);
    expect(eni.config.subnet_id).toBe(natSubnet);
    expect(tier('public').map((s) => ref('aws_subnet', s.name))).toContain(natSubnet);
    expect(group.config.launch_template).toEqual({ id: `\${${template.address}.id}`, version: `\${${template.address}.latest_version}` });
    expect(template.config.instance_type).toBe(config.network.natInstanceType);
    // Replace before relaunch: the old instance goes first, so the interface is free for the new one.
    expect(group.config.instance_maintenance_policy).toEqual({ min_healthy_percentage: 0, max_healthy_percentage: 100 });
    expect(group.config.initial_lifecycle_hook).toEqual([
      // A launch that never completes (its boot failed and powered it off) is terminated after the timeout.
      expect.objectContaining({ name: 'nat-ready', lifecycle_transition: 'autoscaling:EC2_INSTANCE_LAUNCHING', default_result: 'ABANDON', heartbeat_timeout: NAT_READY_TIMEOUT_SECONDS }),
    ]);
  });

  test('the private route table points at the floating interface, whose source/dest check is off', () => {
    const privateDefault = routes.find((r) => r.config.route_table_id === ref('aws_route_table', 'private-rt'))!;
    expect(privateDefault.config).toMatchObject({ destination_cidr_block: '0.0.0.0/0', network_interface_id: `\${${eni.address}.id}` });
    expect(eni.config.source_dest_check).toBe(false);
    expect(eni.config.lifecycle.ignore_changes).toEqual(['attachment']);
  });

  test('one Elastic IP, associated to the floating interface: the egress address never changes with the instance', () => {
    const eips = resources(stack, 'aws_eip');
    expect(eips).toHaveLength(1);
    expect(eips[0].config).toMatchObject({ domain: 'vpc', network_interface: `\${${eni.address}.id}` });
    expect(eips[0].config.depends_on).toContain('aws_route.public-default');
    expect(stack.output.egress_ip.value).toBe(`\${${eips[0].address}.public_ip}`);
  });

  test('NAT instances require IMDSv2, carry no SSH key, encrypt their root volume and accept traffic from the VPC only', () => {
    expect(template.config.metadata_options).toMatchObject({ http_tokens: 'required', http_put_response_hop_limit: 1 });
    expect(template.config.key_name).toBeUndefined();
    expect(template.config.block_device_mappings[0].ebs.encrypted).toBe('true');
    const [nic] = template.config.network_interfaces;
    expect(nic.device_index).toBe(0);
    const natGroup = nic.security_groups[0];
    expect(eni.config.security_groups).toEqual([natGroup]);
    const natIngress = ingress.filter((r) => r.config.security_group_id === natGroup);
    expect(natIngress.map((r) => r.config.cidr_ipv4)).toEqual([config.network.cidr]);
  });

  test('the NAT forwards exactly the internet egress the private roles are allowed (TCP 443 to anywhere), not every protocol to every port', () => {
    const natGroup = eni.config.security_groups[0];
    const egress = resources(stack, 'aws_vpc_security_group_egress_rule');
    const tcp = (r: any) => `${r.config.ip_protocol}/${r.config.from_port}-${r.config.to_port} ${r.config.cidr_ipv4}`;
    const clientsOut = egress.filter((r) => r.config.security_group_id !== natGroup && r.config.cidr_ipv4 !== undefined).map(tcp);
    const natOut = egress.filter((r) => r.config.security_group_id === natGroup).map(tcp);
    expect([...new Set(clientsOut)]).toEqual(['tcp/443-443 0.0.0.0/0']);
    expect(natOut).toEqual(['tcp/443-443 0.0.0.0/0']);
    const natIn = ingress.filter((r) => r.config.security_group_id === natGroup).map(tcp);
    expect(natIn).toEqual([`tcp/443-443 ${config.network.cidr}`]);
  });

  test('the group waits for the public route (the user data calls the EC2 API) and for its role policy', () => {
    const [policy] = resources(stack, 'aws_iam_role_policy');
    expect(group.config.depends_on).toEqual(expect.arrayContaining(['aws_route.public-default', policy.address]));
  });

  test("the user data installs the boot script and its unit with this stack's interface, group and hook (what they do: nat-boot.test.ts)", () => {
    expect(userData()).toBe(natUserData({ eniName: eni.config.tags.Name, autoScalingGroupName: group.config.name, hookName: group.config.initial_lifecycle_hook[0].name }));
    expect(userData()).toContain('systemctl enable --now nat-egress.service');
  });

  test('the user data and the boot script it installs are valid bash', () => {
    const script = userData();
    const inner = script.slice(script.indexOf("<<'NAT_EGRESS'\n") + "<<'NAT_EGRESS'\n".length, script.indexOf('NAT_EGRESS\nchmod'));
    for (const text of [script, inner]) {
      expect(() => execFileSync('bash', ['-n'], { input: text })).not.toThrow();
    }
  });

  test('the instance role: the environment boundary; attach and modify only the NAT interfaces; the SSM Agent; no IAM', () => {
    const [role] = resources(stack, 'aws_iam_role');
    const [profile] = resources(stack, 'aws_iam_instance_profile');
    expect(role.config.permissions_boundary).toMatch(new RegExp(`:policy/docplatform-${config.env}-workload-boundary$`));
    expect(JSON.parse(role.config.assume_role_policy).Statement[0].Principal).toEqual({ Service: 'ec2.amazonaws.com' });
    expect(template.config.iam_instance_profile).toEqual({ arn: `\${${profile.address}.arn}` });
    const [policy] = resources(stack, 'aws_iam_role_policy');
    const statements = parsePolicy(policy.config.policy).Statement;
    const sid = (id: string) => statements.find((s: any) => s.Sid === id);
    const own = { StringEquals: { 'aws:ResourceTag/Name': [group.config.name, eni.config.tags.Name] } };
    expect(sid('AttachFloatingInterface')).toMatchObject({ Action: ['ec2:AttachNetworkInterface'], Condition: own });
    expect(sid('AttachFloatingInterface').Resource[0]).toMatch(new RegExp(`:network-interface/\\$\\{${eni.address}\\.id\\}$`));
    expect(sid('NatInterfaceAttributes')).toMatchObject({ Action: ['ec2:ModifyNetworkInterfaceAttribute'], Condition: own });
    expect(sid('CompleteNatLaunch').Resource).toMatch(new RegExp(`:autoScalingGroupName/${group.config.name}$`));
    const actions = statements.flatMap((s: any) => [s.Action].flat());
    expect(actions).toEqual(expect.arrayContaining(['ssm:UpdateInstanceInformation', 'ssmmessages:OpenDataChannel', 'ec2messages:GetMessages']));
    expect(actions.filter((a: string) => a.startsWith('ec2:'))).toEqual(['ec2:AttachNetworkInterface', 'ec2:ModifyNetworkInterfaceAttribute', 'ec2:DescribeNetworkInterfaces']);
    expect(actions.filter((a: string) => /^(iam|sts):/.test(a))).toEqual([]);
  });

  test('an alarm fires to the alarm topic (and clears) when no NAT instance is in service for 5 minutes', () => {
    const alarm = resources(stack, 'aws_cloudwatch_metric_alarm').find((a) => a.config.metric_name === 'GroupInServiceInstances')!;
    const topic = ref('aws_sns_topic', 'alarms_topic_CB6504A9', 'arn');
    expect(alarm.config).toMatchObject({
      namespace: 'AWS/AutoScaling',
      dimensions: { AutoScalingGroupName: `\${${group.address}.name}` },
      statistic: 'Minimum',
      comparison_operator: 'LessThanThreshold',
      threshold: 1,
      period: 60,
      evaluation_periods: 5,
      treat_missing_data: 'breaching',
      alarm_actions: [topic],
      ok_actions: [topic],
    });
    expect(alarm.config.alarm_description).toContain('Runbook: docs/operations.md#egress-down');
    expect(group.config.enabled_metrics).toContain('GroupInServiceInstances');
  });

  test('S3 gateway endpoint serves the private and isolated route tables', () => {
    const [endpoint] = resources(stack, 'aws_vpc_endpoint');
    expect(endpoint.config.vpc_endpoint_type).toBe('Gateway');
    expect(endpoint.config.service_name).toBe(`com.amazonaws.${config.region}.s3`);
    expect(endpoint.config.route_table_ids.sort()).toEqual(
      [ref('aws_route_table', routeTable('private').name), ref('aws_route_table', routeTable('isolated').name)].sort(),
    );
  });

  test('no interface endpoints (each costs ~$8/month per AZ)', () => {
    expect(resources(stack, 'aws_vpc_endpoint').filter((e) => e.config.vpc_endpoint_type !== 'Gateway')).toEqual([]);
  });

  test('one security group per role: lambda, worker, db, cache, migration', () => {
    for (const role of ['lambda', 'worker', 'db', 'cache', 'migration']) {
      expect(sgs[`sg-${role}`]?.config.name).toBe(`docplatform-${config.env}-${role}`);
    }
  });

  test('security groups declare no inline rules (every rule is a named resource)', () => {
    Object.values(sgs).forEach((g) => {
      expect(g.config.ingress).toBeUndefined();
      expect(g.config.egress).toBeUndefined();
    });
  });

  const sourcesOf = (role: string) =>
    ingress
      .filter((r) => r.config.security_group_id === ref('aws_security_group', `sg-${role}`))
      .map((r) => ({ from: r.config.referenced_security_group_id, port: r.config.from_port, to: r.config.to_port, proto: r.config.ip_protocol, cidr: r.config.cidr_ipv4 }));

  test('the database accepts 5432 only from the lambda, worker and migration groups', () => {
    expect(sourcesOf('db')).toEqual(
      expect.arrayContaining(['lambda', 'worker', 'migration'].map((r) => ({ from: ref('aws_security_group', `sg-${r}`), port: 5432, to: 5432, proto: 'tcp', cidr: undefined }))),
    );
    expect(sourcesOf('db')).toHaveLength(3);
  });

  test('the cache accepts 6379 only from the lambda and worker groups', () => {
    expect(sourcesOf('cache')).toEqual(
      ['lambda', 'worker'].map((r) => ({ from: ref('aws_security_group', `sg-${r}`), port: 6379, to: 6379, proto: 'tcp', cidr: undefined })),
    );
  });

  test('no security group allows 0.0.0.0/0 into the database', () => {
    const open = ingress.filter((r) => r.config.cidr_ipv4 === '0.0.0.0/0' || r.config.cidr_ipv6 === '::/0');
    expect(open).toEqual([]);
    expect(sourcesOf('db').every((s) => s.cidr === undefined)).toBe(true);
  });

  test('lambda, worker and migration groups have egress; db and cache have none', () => {
    const egress = resources(stack, 'aws_vpc_security_group_egress_rule');
    const owners = new Set(egress.map((r) => r.config.security_group_id));
    ['lambda', 'worker', 'migration'].forEach((r) => expect(owners.has(ref('aws_security_group', `sg-${r}`))).toBe(true));
    ['db', 'cache'].forEach((r) => expect(owners.has(ref('aws_security_group', `sg-${r}`))).toBe(false));
  });

  test(`the migration group opens 5432 only to RDS and to migration.sourceCidrs (${config.migration.sourceCidrs.length} configured), never to 0.0.0.0/0`, () => {
    const egress = resources(stack, 'aws_vpc_security_group_egress_rule').filter((r) => r.config.security_group_id === ref('aws_security_group', 'sg-migration'));
    const postgres = egress.filter((r) => r.config.from_port === 5432 || r.config.to_port === 5432);
    expect(postgres.map((r) => r.config.referenced_security_group_id ?? r.config.cidr_ipv4).sort()).toEqual(
      [ref('aws_security_group', 'sg-db'), ...config.migration.sourceCidrs].sort(),
    );
    expect(egress.filter((r) => r.config.cidr_ipv4 === '0.0.0.0/0').map((r) => [r.config.from_port, r.config.to_port])).toEqual([[443, 443]]);
  });

  test('no security group egress rule opens 5432 to the whole internet', () => {
    const open = resources(stack, 'aws_vpc_security_group_egress_rule').filter((r) => r.config.cidr_ipv4 === '0.0.0.0/0' || r.config.cidr_ipv6 === '::/0');
    expect(open.filter((r) => r.config.from_port <= 5432 && r.config.to_port >= 5432).map((r) => r.address)).toEqual([]);
  });

  test(`VPC flow logs follow network.flowLogs (${config.network.flowLogs.enabled ? 'on' : 'off'}): every flow of the VPC to a private bucket whose objects expire`, () => {
    const logs = resources(stack, 'aws_flow_log');
    const buckets = resources(stack, 'aws_s3_bucket');
    if (!config.network.flowLogs.enabled) {
      expect(logs).toEqual([]);
      expect(buckets).toEqual([]);
      return;
    }
    expect(logs).toHaveLength(1);
    const [log] = logs;
    const [bucket] = buckets;
    expect(log.config).toMatchObject({ vpc_id: ref('aws_vpc', 'vpc'), traffic_type: 'ALL', log_destination_type: 's3', max_aggregation_interval: 600 });
    expect(log.config.log_destination).toBe(`\${${bucket.address}.arn}`);
    expect(bucket.config.bucket_prefix).toBe(`docplatform-${config.env}-flow-logs-`);
    const onBucket = (type: string) => resources(stack, type).find((r) => r.config.bucket === `\${${bucket.address}.id}`)!;
    const expiry = onBucket('aws_s3_bucket_lifecycle_configuration').config.rule.flatMap((r: any) => r.expiration ?? []);
    expect(expiry).toEqual([{ days: config.network.flowLogs.expireAfterDays }]);
    // The flow log waits for the policy that lets log delivery write.
    const policy = onBucket('aws_s3_bucket_policy');
    expect(log.config.depends_on).toContain(policy.address);
  });

  test('only log delivery for this account may write to the flow-log bucket, under AWSLogs/<account>/', () => {
    if (!config.network.flowLogs.enabled) return;
    const [bucket] = resources(stack, 'aws_s3_bucket');
    const policy = resources(stack, 'aws_s3_bucket_policy').find((r) => r.config.bucket === `\${${bucket.address}.id}`)!;
    const allows = parsePolicy(policy.config.policy).Statement.filter((s) => s.Effect === 'Allow');
    expect(allows.map((s) => s.Principal)).toEqual([{ Service: 'delivery.logs.amazonaws.com' }, { Service: 'delivery.logs.amazonaws.com' }]);
    const write = allows.find((s) => s.Sid === 'AWSLogDeliveryWrite');
    expect(write.Action).toBe('s3:PutObject');
    const account = write.Condition.StringEquals['aws:SourceAccount'];
    expect(account).toBe(config.accountId ?? ref('aws_vpc', 'vpc', 'owner_id'));
    expect(write.Resource).toBe(`\${${bucket.address}.arn}/AWSLogs/${account}/*`);
    expect(write.Condition).toEqual({
      StringEquals: { 'aws:SourceAccount': account, 's3:x-amz-acl': 'bucket-owner-full-control' },
      ArnLike: { 'aws:SourceArn': `arn:aws:logs:${config.region}:${account}:*` },
    });
    const check = allows.find((s) => s.Sid === 'AWSLogDeliveryAclCheck');
    expect(check.Action).toEqual(['s3:GetBucketAcl', 's3:ListBucket']);
    expect(check.Condition.StringEquals).toEqual({ 'aws:SourceAccount': account });
  });

  test('the default security group is left without rules', () => {
    const [group] = resources(stack, 'aws_default_security_group');
    expect(group.config.ingress).toBeUndefined();
    expect(group.config.egress).toBeUndefined();
  });

  test('a monthly budget alerts the alarm topic on actual and forecast spend', () => {
    const [budget] = resources(stack, 'aws_budgets_budget');
    expect(budget.config).toMatchObject({ budget_type: 'COST', limit_amount: config.budget.monthlyUsd.toFixed(2), time_unit: 'MONTHLY' });
    expect(budget.config.cost_filter).toEqual([{ name: 'TagKeyValue', values: [`user:env$${config.env}`] }]);
    expect(budget.config.notification.map((n: any) => n.notification_type).sort()).toEqual(['ACTUAL', 'FORECASTED']);
    budget.config.notification.forEach((n: any) => expect(n.subscriber_sns_topic_arns).toEqual([ref('aws_sns_topic', 'alarms_topic_CB6504A9', 'arn')]));
  });

  test('only CloudWatch and Budgets may publish to the alarm topic, over TLS, each for this account only (aws:SourceAccount, aws:SourceArn)', () => {
    const [policy] = resources(stack, 'aws_sns_topic_policy');
    const statements = parsePolicy(policy.config.policy).Statement;
    const allow = statements.filter((s) => s.Effect === 'Allow');
    const account = ref('aws_vpc', 'vpc', 'owner_id');
    expect(allow.map((s) => [s.Principal, s.Action, s.Condition])).toEqual([
      [{ Service: 'cloudwatch.amazonaws.com' }, 'sns:Publish', { StringEquals: { 'aws:SourceAccount': account }, ArnLike: { 'aws:SourceArn': `arn:aws:cloudwatch:${config.region}:${account}:alarm:*` } }],
      [{ Service: 'budgets.amazonaws.com' }, 'sns:Publish', { StringEquals: { 'aws:SourceAccount': account }, ArnLike: { 'aws:SourceArn': `arn:aws:budgets::${account}:*` } }],
    ]);
    expect(statements.some((s) => s.Effect === 'Deny' && s.Condition?.Bool?.['aws:SecureTransport'] === 'false')).toBe(true);
  });
});

describe('migration source hosts (migration.sourceCidrs)', () => {
  test('each configured host gets one 5432 egress rule from the migration group, and nothing else changes', () => {
    const stack = networkWithSources(['203.0.113.10/32', '198.51.100.0/24']);
    const toSources = resources(stack, 'aws_vpc_security_group_egress_rule').filter((r) => r.name.startsWith('migration-to-source-'));
    expect(toSources.map((r) => r.config)).toEqual(
      ['203.0.113.10/32', '198.51.100.0/24'].map((cidr) =>
        expect.objectContaining({ security_group_id: ref('aws_security_group', 'sg-migration'), cidr_ipv4: cidr, ip_protocol: 'tcp', from_port: 5432, to_port: 5432 }),
      ),
    );
    const natGroup = '${aws_security_group.nat_sg_994361FE.id}';
    const natRule = (r: any) => r.config.security_group_id === natGroup;
    // The NAT forwards 5432 to those hosts too, from the VPC only: the migration's one way to them.
    const natOut = resources(stack, 'aws_vpc_security_group_egress_rule').filter(natRule).map((r) => `${r.config.ip_protocol}/${r.config.from_port} ${r.config.cidr_ipv4}`);
    expect(natOut.sort()).toEqual(['tcp/443 0.0.0.0/0', 'tcp/5432 198.51.100.0/24', 'tcp/5432 203.0.113.10/32']);
    const natIn = resources(stack, 'aws_vpc_security_group_ingress_rule').filter(natRule).map((r) => `${r.config.ip_protocol}/${r.config.from_port} ${r.config.cidr_ipv4}`);
    expect(natIn.sort()).toEqual([`tcp/443 ${dev.network.cidr}`, `tcp/5432 ${dev.network.cidr}`]);
    const others = (s: any) => resources(s, 'aws_vpc_security_group_egress_rule').filter((r) => !r.name.startsWith('migration-to-source-') && !natRule(r)).map((r) => r.address);
    expect(others(stack)).toEqual(others(networkWithSources([])));
  });

  test('the whole internet, a wide range, a host-bits CIDR or a host name is refused naming the entry', () => {
    expect(() => networkWithSources(['0.0.0.0/0'])).toThrow(/migration\.sourceCidrs\[0\].*wider than \/16/);
    expect(() => networkWithSources(['203.0.113.10/32', '10.0.0.0/8'])).toThrow(/migration\.sourceCidrs\[1\]/);
    expect(() => networkWithSources(['203.0.113.10/24'])).toThrow(/migration\.sourceCidrs\[0\].*write 203\.0\.113\.0\/24/);
    expect(() => networkWithSources(['old-db.example.com'])).toThrow(/migration\.sourceCidrs\[0\].*not an IPv4 CIDR/);
  });
});

describe('alarm e-mail subscribers (alarms.emails)', () => {
  const withEmails = (emails: string[]) => JSON.parse(Testing.synth(new NetworkStack(Testing.app(), 'probe-network', { ...dev, alarms: { emails } })));
  const topic = ref('aws_sns_topic', 'alarms_topic_CB6504A9', 'arn');

  test('none by default in any environment', () => {
    for (const config of envs) {
      expect(config.alarms.emails).toEqual([]);
      expect(resources(stackOf(config), 'aws_sns_topic_subscription')).toEqual([]);
    }
  });

  test('each address becomes an e-mail subscription to the alarm topic; a malformed one is refused naming the entry', () => {
    const subscriptions = resources(withEmails(['oncall@example.com', 'ops@example.com']), 'aws_sns_topic_subscription');
    expect(subscriptions.map((s) => s.config)).toEqual([
      expect.objectContaining({ topic_arn: topic, protocol: 'email', endpoint: 'oncall@example.com' }),
      expect.objectContaining({ topic_arn: topic, protocol: 'email', endpoint: 'ops@example.com' }),
    ]);
    expect(() => withEmails(['oncall@example.com', 'not-an-address'])).toThrow(/alarms\.emails\[1\]/);
  });
});

describe('egress modes', () => {
  test('nat-gateway mode: one NAT gateway with an EIP, private default route through it, no NAT instance', () => {
    const stack = networkWith('nat-gateway');
    const [gateway] = resources(stack, 'aws_nat_gateway');
    expect(resources(stack, 'aws_eip')).toHaveLength(1);
    expect(resources(stack, 'aws_autoscaling_group')).toEqual([]);
    expect(resources(stack, 'aws_network_interface')).toEqual([]);
    const privateDefault = resources(stack, 'aws_route').find((r) => r.config.route_table_id === ref('aws_route_table', 'private-rt'))!;
    expect(privateDefault.config.nat_gateway_id).toBe(ref('aws_nat_gateway', gateway.name));
  });

  test('none mode: private subnets get no default route and no NAT at all', () => {
    const stack = networkWith('none');
    expect(resources(stack, 'aws_nat_gateway')).toEqual([]);
    expect(resources(stack, 'aws_autoscaling_group')).toEqual([]);
    expect(resources(stack, 'aws_route').map((r) => r.config.route_table_id)).toEqual([ref('aws_route_table', 'public-rt')]);
  });

  test('an unknown egress mode is refused with the field named', () => {
    expect(() => networkWith('open' as never)).toThrow(/network\.egress/);
  });

  test('network.natAz moves the NAT (interface, group, or gateway) to another AZ; an AZ the VPC does not have is refused', () => {
    const synthAz = (egress: EnvironmentConfig['network']['egress'], natAz: number) =>
      JSON.parse(Testing.synth(new NetworkStack(Testing.app(), 'probe-network', { ...dev, network: { ...dev.network, egress, natAz } })));
    const moved = synthAz('nat-instance', 1);
    expect(resources(moved, 'aws_network_interface')[0].config.subnet_id).toBe(ref('aws_subnet', 'public-1'));
    expect(resources(moved, 'aws_autoscaling_group')[0].config.vpc_zone_identifier).toEqual([ref('aws_subnet', 'public-1')]);
    expect(resources(synthAz('nat-gateway', 1), 'aws_nat_gateway')[0].config.subnet_id).toBe(ref('aws_subnet', 'public-1'));
    expect(() => synthAz('nat-instance', 2)).toThrow(/network\.natAz/);
  });
});

describe('cidrSubnet', () => {
  test('matches terraform cidrsubnet', () => {
    expect(cidrSubnet('10.20.0.0/16', 8, 0)).toBe('10.20.0.0/24');
    expect(cidrSubnet('10.20.0.0/16', 4, 1)).toBe('10.20.16.0/20');
    expect(cidrSubnet('10.20.0.0/16', 8, 200)).toBe('10.20.200.0/24');
  });

  test('rejects bad input naming the field', () => {
    expect(() => cidrSubnet('10.20.0.0', 8, 0)).toThrow(/network\.cidr/);
    expect(() => cidrSubnet('10.20.0.0/16', 8, 256)).toThrow(/network\.cidr/);
  });
});
