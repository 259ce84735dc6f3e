import { Address, DescribeAddressesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { PROJECT } from '../../core/contract';
import { ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import { Demands, quotaIncreaseCommand, QUOTAS } from './demands';
import { quotaValue } from './fargate';
import { error, Finding, ok } from './finding';

const CHECK = 'elastic-ips';

/**
 * The network stack allocates an Elastic IP for its NAT (the egress address, instance or
 * gateway), and EC2 refuses one past the region's quota (AddressLimitExceeded, default 5 per region).
 * An address the environment's network stack already holds (its provider's default tags:
 * project, env, layer = network) is the one it needs, not one more: the preflight runs again
 * after the first deploy's data layer (docs/deploy.md), when the NAT's address exists.
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
  const held = addresses.filter((a) => heldBy(a, demands.env)).map((a) => a.AllocationId ?? '');
  const needed = Math.max(0, demands.elasticIps - held.length);
  const free = quota - addresses.length;
  const figures =
    `${addresses.length} of ${quota} allocated (${QUOTAS.elasticIps.code}); egress ${egress} needs ${demands.elasticIps}` +
    (held.length > 0 ? `, which ${demands.env}'s network stack holds already (${held.join(', ')})` : '');
  if (free < needed) {
    const idle = addresses.filter((a) => !a.AssociationId).map((a) => `${a.AllocationId} (${a.PublicIp})`);
    const release = idle.length > 0 ? `release an unused one (not associated: ${idle.join(', ')}): aws ec2 release-address --region ${demands.region} --allocation-id <id>; or ` : '';
    return error(
      CHECK,
      `${figures}: the network deploy fails allocating it (AddressLimitExceeded)`,
      `${release}${quotaIncreaseCommand(QUOTAS.elasticIps, addresses.length + needed, demands.region)}`,
    );
  }
  return ok(CHECK, figures);
}

function heldBy(address: Address, env: string): boolean {
  const tags = Object.fromEntries((address.Tags ?? []).map((t) => [t.Key, t.Value]));
  return tags.project === PROJECT && tags.env === env && tags.layer === 'network';
}
