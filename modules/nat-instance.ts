import { Construct } from 'constructs';
import { Instance } from '@cdktf/provider-aws/lib/instance';
import { LaunchTemplate } from '@cdktf/provider-aws/lib/launch-template';
import { SecurityGroup } from '@cdktf/provider-aws/lib/security-group';
import { VpcSecurityGroupIngressRule } from '@cdktf/provider-aws/lib/vpc-security-group-ingress-rule';
import { VpcSecurityGroupEgressRule } from '@cdktf/provider-aws/lib/vpc-security-group-egress-rule';

export interface NatInstanceProps {
  namePrefix: string;
  vpcId: string;
  vpcCidr: string;
  publicSubnetId: string;
  instanceType: string;
}

/** AL2023 ARM64 resolved by EC2 at launch: no AMI lookup (data source) in the plan. */
export const NAT_AMI_PARAMETER = 'resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64';

const USER_DATA = `#!/bin/bash
set -euo pipefail
dnf install -y iptables-services
echo 'net.ipv4.ip_forward = 1' > /etc/sysctl.d/90-nat.conf
sysctl --system
iface=$(ip route show default | awk '{print $5; exit}')
iptables -t nat -A POSTROUTING -o "$iface" -j MASQUERADE
iptables -F FORWARD
service iptables save
systemctl enable --now iptables
`;

/**
 * A NAT instance (t4g.nano, ~$3.4/month + $3.65 public IPv4) in place of a NAT gateway
 * (~$37/month + $0.048/GB): private subnets reach Gemini, Stripe and ECR through it.
 * Source/destination check is off so it forwards traffic; it accepts traffic from the VPC only.
 */
export class NatInstance extends Construct {
  readonly instance: Instance;
  readonly securityGroup: SecurityGroup;

  constructor(scope: Construct, id: string, props: NatInstanceProps) {
    super(scope, id);
    this.securityGroup = new SecurityGroup(this, 'sg', {
      name: `${props.namePrefix}-nat`,
      description: 'NAT instance: forwards traffic from the VPC to the internet',
      vpcId: props.vpcId,
    });
    new VpcSecurityGroupIngressRule(this, 'from-vpc', {
      securityGroupId: this.securityGroup.id,
      description: 'Traffic to forward, from the VPC only',
      ipProtocol: '-1',
      cidrIpv4: props.vpcCidr,
    });
    new VpcSecurityGroupEgressRule(this, 'to-internet', {
      securityGroupId: this.securityGroup.id,
      description: 'Forwarded traffic to the internet',
      ipProtocol: '-1',
      cidrIpv4: '0.0.0.0/0',
    });

    const template = new LaunchTemplate(this, 'template', {
      name: `${props.namePrefix}-nat`,
      imageId: NAT_AMI_PARAMETER,
      instanceType: props.instanceType,
      userData: Buffer.from(USER_DATA).toString('base64'),
      metadataOptions: { httpTokens: 'required', httpEndpoint: 'enabled', httpPutResponseHopLimit: 1 },
      blockDeviceMappings: [
        { deviceName: '/dev/xvda', ebs: { volumeSize: 8, volumeType: 'gp3', encrypted: 'true', deleteOnTermination: 'true' } },
      ],
      tagSpecifications: [{ resourceType: 'instance', tags: { Name: `${props.namePrefix}-nat` } }],
    });

    this.instance = new Instance(this, 'instance', {
      launchTemplate: { id: template.id, version: '$Latest' },
      subnetId: props.publicSubnetId,
      vpcSecurityGroupIds: [this.securityGroup.id],
      associatePublicIpAddress: true,
      sourceDestCheck: false,
      tags: { Name: `${props.namePrefix}-nat` },
    });
  }
}
