/** IPv4 subnetting done at synth time, so the synthesised JSON carries literal CIDRs tests can check. */

const toInt = (ip: string): number => ip.split('.').reduce((n, octet) => n * 256 + Number(octet), 0);
const toIp = (n: number): string => [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');

function parse(cidr: string, field = 'network.cidr'): { base: number; prefix: number } {
  const match = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(cidr);
  if (!match || match[1].split('.').some((o) => Number(o) > 255) || Number(match[2]) > 32) {
    throw new Error(`${field}: "${cidr}" is not an IPv4 CIDR block`);
  }
  return { base: toInt(match[1]), prefix: Number(match[2]) };
}

/**
 * A CIDR a security group rule may name as a peer: IPv4, written with its network address (AWS
 * would store another form than the one Terraform compares) and at least `/minPrefix` long.
 */
export function peerCidr(cidr: string, field: string, minPrefix: number): string {
  const { base, prefix } = parse(cidr, field);
  if (prefix < minPrefix) throw new Error(`${field}: "${cidr}" is wider than /${minPrefix}: name the host (/32) or its network`);
  const size = 2 ** (32 - prefix);
  if (base % size !== 0) throw new Error(`${field}: "${cidr}" is not a network address; write ${toIp(base - (base % size))}/${prefix}`);
  return cidr;
}

/** Same contract as Terraform's cidrsubnet(prefix, newbits, netnum). */
export function cidrSubnet(cidr: string, newbits: number, netnum: number): string {
  const { base, prefix } = parse(cidr);
  const length = prefix + newbits;
  if (length > 32 || netnum < 0 || netnum >= 2 ** newbits) {
    throw new Error(`network.cidr: cannot carve subnet ${netnum} of /${length} out of ${cidr}`);
  }
  return `${toIp(base + netnum * 2 ** (32 - length))}/${length}`;
}
