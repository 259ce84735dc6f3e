import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NAT_EGRESS_UNIT, NAT_READY_HOOK, natEgressScript, natUserData } from '../../modules/nat-instance';

/**
 * The NAT boot script run by bash against stand-ins of what it calls on the instance: the metadata
 * service (curl), the AWS CLI, ip, iptables, sysctl, systemctl, dnf and sleep each log their call
 * and answer from the scenario's state; python3, awk, seq and tr are real. The floating interface
 * shows in the metadata service (device 1) and as a Linux link only once attached, as on EC2.
 */

const PRIMARY_MAC = '0a:00:00:00:00:01';
const FLOATING_MAC = '0a:00:00:00:00:02';
const INSTANCE = 'i-0new';
const names = { eniName: 'docplatform-dev-nat-egress', autoScalingGroupName: 'docplatform-dev-nat', hookName: NAT_READY_HOOK };
const defaultRoute = 'ip route replace default via 10.20.0.1 dev ens6 metric 10';

const logCall = 'echo "$(basename "$0") $*" >> "$STATE/calls"\n';
const stubs: Record<string, string> = {
  curl: String.raw`
case "$*" in *' -X PUT '*) echo token; exit 0 ;; esac
url=$(printf '%s\n' "$@" | tail -n 1)
case "$url" in
  https://checkip.amazonaws.com) echo 13.37.0.1 ;;
  */meta-data/network/interfaces/macs/)
    echo "$PRIMARY_MAC/"
    if [ -e "$STATE/attached" ]; then echo "$FLOATING_MAC/"; fi ;;
  */meta-data/*)
    key=$(printf '%s' "$url" | sed 's|.*/meta-data/||' | tr / _)
    if [ -f "$STATE/imds/$key" ]; then cat "$STATE/imds/$key"; else exit 22; fi ;;
  *) exit 6 ;;
esac`,
  aws: String.raw`
if [ -e "$STATE/aws-down" ]; then echo 'Could not connect to the endpoint URL: "https://ec2.eu-west-3.amazonaws.com/"' >&2; exit 255; fi
case "$1 $2" in
  'ec2 describe-network-interfaces')
    holder=None
    if [ -e "$STATE/attached" ]; then holder=$INSTANCE; fi
    printf 'eni-floating\t%s\t%s\n' "$FLOATING_MAC" "$holder" ;;
  'ec2 attach-network-interface') touch "$STATE/attached" ;;
  'autoscaling complete-lifecycle-action')
    if [ ! -e "$STATE/launch-action" ]; then echo 'No active Lifecycle Action found' >&2; exit 254; fi ;;
esac`,
  ip: String.raw`
case "$*" in
  '-o link')
    echo "1: lo: <LOOPBACK,UP,LOWER_UP> mtu 65536 qdisc noqueue state UNKNOWN\    link/loopback 00:00:00:00:00:00 brd 00:00:00:00:00:00"
    echo "2: ens5: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 9001 qdisc mq state UP\    link/ether $PRIMARY_MAC brd ff:ff:ff:ff:ff:ff"
    if [ -e "$STATE/attached" ]; then echo "3: ens6: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 9001 qdisc mq state UP\    link/ether $FLOATING_MAC brd ff:ff:ff:ff:ff:ff"; fi ;;
  '-4 -o addr show dev ens5') echo '2: ens5    inet 10.20.0.10/24 brd 10.20.0.255 scope global dynamic ens5' ;;
  '-4 -o addr show dev ens6') if [ -e "$STATE/attached" ]; then echo '3: ens6    inet 10.20.0.20/24 brd 10.20.0.255 scope global dynamic ens6'; fi ;;
esac`,
  iptables: 'if [ "$3" = -C ]; then exit 1; fi',
  sysctl: '',
  systemctl: '',
  dnf: '',
  sleep: '',
};

let bin: string;
beforeAll(() => {
  bin = mkdtempSync(join(tmpdir(), 'nat-boot-bin-'));
  for (const [name, body] of Object.entries(stubs)) {
    writeFileSync(join(bin, name), `#!/bin/bash\n${logCall}${body}\n`);
    chmodSync(join(bin, name), 0o755);
  }
});
afterAll(() => rmSync(bin, { recursive: true, force: true }));

interface Boot {
  /** The floating interface already attached to this instance (device 1): a reboot. */
  reboot: boolean;
  /** Every AWS CLI call fails (no route to the API). */
  awsDown?: boolean;
}

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function boot({ reboot, awsDown = false }: Boot) {
  const state = mkdtempSync(join(tmpdir(), 'nat-boot-'));
  dirs.push(state);
  const imds: Record<string, string> = {
    'instance-id': INSTANCE,
    'placement/availability-zone': 'eu-west-3a',
    'placement/region': 'eu-west-3',
    mac: PRIMARY_MAC,
    [`network/interfaces/macs/${PRIMARY_MAC}/interface-id`]: 'eni-primary',
    [`network/interfaces/macs/${PRIMARY_MAC}/device-number`]: '0',
    [`network/interfaces/macs/${FLOATING_MAC}/device-number`]: '1',
    [`network/interfaces/macs/${FLOATING_MAC}/subnet-ipv4-cidr-block`]: '10.20.0.0/24',
    // The boot-time public IPv4, released by the first boot.
    ...(reboot ? {} : { [`network/interfaces/macs/${PRIMARY_MAC}/public-ipv4s`]: '15.236.1.2' }),
  };
  mkdirSync(join(state, 'imds'));
  for (const [path, value] of Object.entries(imds)) writeFileSync(join(state, 'imds', path.replaceAll('/', '_')), value);
  const root = join(state, 'root');
  const networkdConf = join(root, 'etc/systemd/networkd.conf.d/90-nat.conf');
  if (reboot) {
    writeFileSync(join(state, 'attached'), '');
    mkdirSync(join(root, 'etc/systemd/networkd.conf.d'), { recursive: true });
    writeFileSync(networkdConf, '[Network]\nManageForeignRoutes=no\n');
  } else {
    writeFileSync(join(state, 'launch-action'), '');
  }
  if (awsDown) writeFileSync(join(state, 'aws-down'), '');
  writeFileSync(join(state, 'nat-egress'), natEgressScript(names));

  const run = spawnSync('bash', [join(state, 'nat-egress')], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { PATH: `${bin}:${process.env.PATH}`, ROOT: root, STATE: state, PRIMARY_MAC, FLOATING_MAC, INSTANCE },
  });
  const calls = existsSync(join(state, 'calls')) ? readFileSync(join(state, 'calls'), 'utf8').trimEnd().split('\n') : [];
  const index = (prefix: string) => calls.findIndex((c) => c.startsWith(prefix));
  return { status: run.status, stdout: run.stdout, stderr: run.stderr, calls, index, networkdConf };
}

describe('NAT boot script (natEgressScript) at the first boot', () => {
  test('attaches the floating interface, then routes and masquerades out of it, releases the boot-time public IPv4 and completes the launch', () => {
    const run = boot({ reboot: false });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const describe = run.index('aws ec2 describe-network-interfaces --filters Name=tag:Name,Values=docplatform-dev-nat-egress Name=availability-zone,Values=eu-west-3a');
    const attach = run.index(`aws ec2 attach-network-interface --network-interface-id eni-floating --instance-id ${INSTANCE} --device-index 1`);
    expect(describe).toBeGreaterThanOrEqual(0);
    expect(attach).toBeGreaterThan(describe);
    // Nothing at device 1 before the attach: the API is reached through the primary's public IPv4, and the one default route is set after.
    expect(run.calls.filter((c) => c.startsWith('ip route'))).toEqual([defaultRoute]);
    expect(run.index(defaultRoute)).toBeGreaterThan(attach);
    expect(run.calls).toEqual(
      expect.arrayContaining([
        'sysctl -q -w net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.all.send_redirects=0',
        'iptables -t nat -A POSTROUTING -o ens6 -j MASQUERADE',
        'aws ec2 modify-network-interface-attribute --network-interface-id eni-floating --no-source-dest-check',
        'systemctl restart systemd-networkd',
      ]),
    );
    expect(readFileSync(run.networkdConf, 'utf8')).toContain('ManageForeignRoutes=no');
    const release = run.index('aws ec2 modify-network-interface-attribute --network-interface-id eni-primary --no-associate-public-ip-address');
    const complete = run.index(`aws autoscaling complete-lifecycle-action --auto-scaling-group-name docplatform-dev-nat --lifecycle-hook-name ${NAT_READY_HOOK} --instance-id ${INSTANCE} --lifecycle-action-result CONTINUE`);
    expect(release).toBeGreaterThan(run.index(defaultRoute));
    expect(complete).toBeGreaterThan(release);
    expect(run.stdout).toContain('nat-egress: forwarding through ens6 (eni-floating); egress address 13.37.0.1');
    expect(run.stdout).toContain('nat-egress: launch completed: InService');
  });

  test('the AWS CLI failing throughout: the script gives up non-zero (5 minutes of retries), nothing routed, the launch not completed', () => {
    const run = boot({ reboot: false, awsDown: true });
    expect(run.status).not.toBe(0);
    expect(run.calls.filter((c) => c.startsWith('aws ec2 describe-network-interfaces'))).toHaveLength(60);
    expect(run.calls.filter((c) => c.startsWith('ip route') || c.startsWith('aws autoscaling'))).toEqual([]);
  });
});

describe('NAT boot script after a reboot (the floating interface still attached, no public IPv4 on the primary)', () => {
  test('routes out of the floating interface before any AWS call, attaches nothing, releases nothing, and forwards', () => {
    const run = boot({ reboot: true });
    expect(run.stderr).toBe('No active Lifecycle Action found\n');
    expect(run.status).toBe(0);
    const firstAws = run.index('aws ');
    expect(firstAws).toBeGreaterThanOrEqual(0);
    expect(run.index(defaultRoute)).toBeGreaterThanOrEqual(0);
    expect(run.index(defaultRoute)).toBeLessThan(firstAws);
    expect(run.calls.filter((c) => c.startsWith('aws ec2 attach-network-interface'))).toEqual([]);
    expect(run.calls.filter((c) => c.includes('--no-associate-public-ip-address'))).toEqual([]);
    // networkd already keeps foreign routes (written at the first boot): not restarted under the route just set.
    expect(run.calls).not.toContain('systemctl restart systemd-networkd');
    expect(run.calls).toContain('iptables -t nat -A POSTROUTING -o ens6 -j MASQUERADE');
    expect(run.stdout).toContain('nat-egress: forwarding through ens6 (eni-floating); egress address 13.37.0.1');
    expect(run.stdout).toContain('nat-egress: no launch action to complete (a reboot)');
  });

  test('the AWS CLI failing throughout: the script exits non-zero, and its unit powers the instance off so the group replaces it', () => {
    const run = boot({ reboot: true, awsDown: true });
    expect(run.status).not.toBe(0);
    expect(run.index(defaultRoute)).toBeGreaterThanOrEqual(0);
    expect(run.index(defaultRoute)).toBeLessThan(run.index('aws '));
    expect(run.calls.filter((c) => c.startsWith('aws ec2 describe-network-interfaces'))).toHaveLength(60);
    expect(run.calls.filter((c) => c.startsWith('aws ec2 attach-network-interface') || c.startsWith('aws autoscaling'))).toEqual([]);

    const sections = Object.fromEntries(
      NAT_EGRESS_UNIT.split(/^(?=\[)/m).map((block) => {
        const [header, ...lines] = block.trim().split('\n');
        return [header, lines.filter((l) => !l.startsWith('#'))];
      }),
    );
    // systemd reads FailureAction= in [Unit] only.
    expect(sections['[Unit]']).toContain('FailureAction=poweroff');
    expect(sections['[Service]']).toEqual(expect.arrayContaining(['Type=oneshot', 'ExecStart=/usr/local/sbin/nat-egress']));
    const userData = natUserData(names);
    expect(userData).toContain(`cat > /etc/systemd/system/nat-egress.service <<'NAT_UNIT'\n${NAT_EGRESS_UNIT}NAT_UNIT\n`);
    expect(userData).toContain(`cat > /usr/local/sbin/nat-egress <<'NAT_EGRESS'\n${natEgressScript(names)}NAT_EGRESS\n`);
  });
});
