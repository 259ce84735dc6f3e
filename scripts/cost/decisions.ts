import { EnvironmentConfig } from '../../stacks/config';
import { CostReport } from './estimate';
import { PriceTable } from './priceTable';
import { natGbPerMonth } from './rules';
import { TrafficProfile } from './traffic';
import { usd } from './render';

export interface Decision {
  decision: string;
  chosen: string;
  chosenUsd: number;
  alternative: string;
  alternativeUsd: number;
  why: string;
}

const DAYS_PER_MONTH = 30.4;

function trafficQuantity(report: CostReport, priceKey: string): number {
  return report.items.flatMap((i) => i.traffic.charges).filter((c) => c.priceKey === priceKey).reduce((t, c) => t + c.quantity, 0);
}

/** Each cost decision of the design, priced per month with the same price table and traffic profile as the report. */
export function costDecisions(prices: PriceTable, config: EnvironmentConfig, report: CostReport, profile: TrafficProfile): Decision[] {
  const h = prices.hoursPerMonth;
  const p = (key: string) => prices.usd(key);
  const azs = config.network.azCount;
  const natGb = natGbPerMonth(profile, profile.volume);
  const natInstance = p('ec2.t4g.nano.hours') * h + 8 * p('ec2.ebs.gp3.gbMonth') + p('vpc.publicIpv4.hours') * h;
  const natGateways = azs * (p('vpc.natGateway.hours') + p('vpc.publicIpv4.hours')) * h;

  const worker = config.workers['doc-generation'];
  const vcpu = worker.cpu / 1024;
  const gb = worker.memoryMb / 1024;
  const fargateMonth = (arch: string, capacity: string) => {
    return h * (vcpu * p(`fargate.${arch}.${capacity}.vcpuHours`) + gb * p(`fargate.${arch}.${capacity}.gbHours`));
  };

  const apiMillions = profile.volume.apiRequestsPerMonth / 1e6;
  const cdnMillions = profile.volume.cdnRequestsPerMonth / 1e6;
  const webAcl = (rules: number, requests: number) => p('waf.webAcl') + rules * p('waf.rule') + requests * p('waf.requests');
  const wafAsBuilt = report.items.filter((i) => i.type === 'aws_wafv2_web_acl').reduce((t, i) => t + i.traffic.usd, 0);

  const logIngestGb = trafficQuantity(report, 'cloudwatch.logs.ingestGb');
  const logStorage = (days: number) => (logIngestGb / DAYS_PER_MONTH) * days * profile.assumptions.logCompressionRatio * p('cloudwatch.logs.storageGbMonth');

  const storage = config.database.allocatedStorageGb;
  const single = p('rds.db.t4g.micro.singleAz.hours') * h + storage * p('rds.gp3.singleAz.gbMonth');
  const multi = p('rds.db.t4g.micro.multiAz.hours') * h + storage * p('rds.gp3.multiAz.gbMonth');

  return [
    {
      decision: 'Egress for private subnets',
      chosen: `one NAT instance ${config.network.natInstanceType} in an Auto Scaling group of one (8 GB gp3, Elastic IP on its floating interface)`,
      chosenUsd: natInstance,
      alternative: `NAT gateway in each of ${azs} AZs (+ public IPv4 each; + $${p('vpc.natGateway.gb')}/GB, ${natGb.toFixed(1)} GB/month in the traffic profile)`,
      alternativeUsd: natGateways + natGb * p('vpc.natGateway.gb'),
      why: 'Only Gemini/Stripe calls and image pulls leave the VPC; S3 goes through the free gateway endpoint. One instance, replaced by its Auto Scaling group when it fails (a few minutes without egress, same address); no inbound path depends on it.',
    },
    {
      decision: 'ElastiCache Serverless engine (idle floor)',
      chosen: 'Valkey, 100 MB metered minimum',
      chosenUsd: 0.1 * p('elasticache.serverless.valkey.gbHours') * h,
      alternative: 'Redis OSS, 1 GB metered minimum',
      alternativeUsd: 1 * p('elasticache.serverless.redis.gbHours') * h,
      why: 'Same protocol for ioredis; Valkey is 33% cheaper per GB-hour and per ECPU and its minimum is 10x lower.',
    },
    {
      decision: `Fargate capacity for a ${vcpu} vCPU / ${gb} GB worker running a full month`,
      chosen: 'Fargate Spot, ARM64',
      chosenUsd: fargateMonth('arm64', 'spot'),
      alternative: `Fargate on-demand x86_64 (on-demand ARM64: $${usd(fargateMonth('arm64', 'onDemand'))}, Spot x86_64: $${usd(fargateMonth('x86_64', 'spot'))})`,
      alternativeUsd: fargateMonth('x86_64', 'onDemand'),
      why: `Workers scale to zero, so idle is $0 either way; per task-hour Spot ARM64 is ${Math.round((1 - fargateMonth('arm64', 'spot') / fargateMonth('x86_64', 'onDemand')) * 100)}% below on-demand x86_64. Workers drain on SIGTERM within the 2-minute Spot notice.`,
    },
    {
      decision: `API front door (per month at ${apiMillions.toFixed(2)}M requests of the traffic profile)`,
      chosen: 'API Gateway REST API + WAF web ACL',
      chosenUsd: apiMillions * 1e6 * p('apigateway.rest.requests'),
      alternative: 'HTTP API (cannot be protected by AWS WAF)',
      alternativeUsd: apiMillions * 1e6 * p('apigateway.http.requests'),
      why: 'The specification requires WAF with OWASP managed rules and a rate rule; WAF attaches to REST APIs, not HTTP APIs. The WAF itself is priced on its own line.',
    },
    {
      decision: `WAF that sees the client (per month at ${apiMillions.toFixed(2)}M API and ${cdnMillions.toFixed(2)}M CloudFront requests)`,
      chosen: 'one REGIONAL web ACL on the API stage: origin-secret rule first, 3 managed groups, rate rule on the viewer IP the edge writes (x-client-ip)',
      chosenUsd: wafAsBuilt,
      alternative: `CLOUDFRONT-scope web ACL (us-east-1: 3 managed groups, IP reputation, rate rule; inspects every CloudFront request) plus a REGIONAL web ACL with the origin-secret rule on the API ($${usd(webAcl(5, profile.volume.cdnRequestsPerMonth))} + $${usd(webAcl(1, profile.volume.apiRequestsPerMonth))})`,
      alternativeUsd: webAcl(5, profile.volume.cdnRequestsPerMonth) + webAcl(1, profile.volume.apiRequestsPerMonth),
      why: 'Either way a request straight to execute-api must be refused, which only a regional rule on a secret header can do (resource policies cannot read headers, and CloudFront IP ranges admit any distribution), so the CloudFront-scope ACL adds a second ACL. What it adds is the IP reputation list, which cannot read a forwarded address; the rate limit counts the real client in both.',
    },
    {
      decision: 'Database connection pooling',
      chosen: 'no RDS Proxy: reserved concurrency x pool size bounded by config.database.connectionBudget',
      chosenUsd: 0,
      alternative: 'RDS Proxy on db.t4g.micro (2 vCPU minimum)',
      alternativeUsd: 2 * p('rds.proxy.vcpuHours') * h,
      why: 'The proxy would cost more than the database instance itself; connection count is bounded by configuration instead.',
    },
    {
      decision: `Log retention (storage only, ${logIngestGb.toFixed(2)} GB ingested per month in the traffic profile)`,
      chosen: `${config.logs.retentionDays} days`,
      chosenUsd: logStorage(config.logs.retentionDays),
      alternative: 'never expire (after one year)',
      alternativeUsd: logStorage(365),
      why: 'Ingestion ($0.5985/GB) dominates; retention keeps storage flat instead of growing every month forever.',
    },
    {
      decision: `RDS deployment (db.t4g.micro, ${storage} GB gp3)`,
      chosen: config.database.multiAz ? 'Multi-AZ' : 'Single-AZ (automated backups, point-in-time restore)',
      chosenUsd: config.database.multiAz ? multi : single,
      alternative: config.database.multiAz ? 'Single-AZ' : 'Multi-AZ (standby in a second AZ)',
      alternativeUsd: config.database.multiAz ? single : multi,
      why: 'Multi-AZ doubles instance and storage for faster failover; the knob is config.database.multiAz per environment.',
    },
  ];
}

export function renderDecisions(decisions: Decision[]): string {
  return [
    '| Decision | Chosen | $/month | Alternative | $/month | Why |',
    '|---|---|---:|---|---:|---|',
    ...decisions.map((d) => `| ${d.decision} | ${d.chosen} | ${usd(d.chosenUsd)} | ${d.alternative} | ${usd(d.alternativeUsd)} | ${d.why} |`),
    '',
  ].join('\n');
}
