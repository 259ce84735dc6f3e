import { DescribeAddressesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import { Demands, quotaIncreaseCommand, QUOTAS } from './demands';
import { quotaValue } from './fargate';
import { error, Finding, ok } from './finding';

const CHECK = 'elastic-ips';

/**
 * The network stack allocates an Elastic IP for its NAT (the egress address, instance or
 * gateway), and EC2 refuses one past the region's quota (AddressLimitExceeded, default 5 per region).
 */
export async function checkElasticIps(ec2: EC2Client, quotas: ServiceQuotasClient, demands: Demands, egress: string): Promise<Finding> {
  if (demands.elasticIps === 0) {
    return ok(CHECK, `egress ${egress} allocates no Elastic IP`);
  }
  const [answer, quota] = await Promise.all([
    ec2.send(new DescribeAddressesCommand({ Filters: [{ Name: 'domain', Values: ['vpc'] }] })),
    quotaValue(quotas, QUOTAS.elasticIps),
  ]);
  const addresses = answer.Addresses ?? [];
  const free = quota - addresses.length;
  const figures = `${addresses.length} of ${quota} allocated (${QUOTAS.elasticIps.code}); egress ${egress} needs ${demands.elasticIps}`;
  if (free < demands.elasticIps) {
    const idle = addresses.filter((a) => !a.AssociationId).map((a) => `${a.AllocationId} (${a.PublicIp})`);
    const release = idle.length > 0 ? `release an unused one (not associated: ${idle.join(', ')}): aws ec2 release-address --region ${demands.region} --allocation-id <id>; or ` : '';
    return error(
      CHECK,
      `${figures}: the network deploy fails allocating it (AddressLimitExceeded)`,
      `${release}${quotaIncreaseCommand(QUOTAS.elasticIps, addresses.length + demands.elasticIps, demands.region)}`,
    );
  }
  return ok(CHECK, figures);
}
