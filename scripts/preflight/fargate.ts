import { GetAWSDefaultServiceQuotaCommand, GetServiceQuotaCommand, ServiceQuotasClient } from '@aws-sdk/client-service-quotas';
import { Demands, quotaIncreaseCommand, QUOTAS } from './demands';
import { error, Finding, ok, warning } from './finding';

/** The value of a quota in this account and region: the applied one, else AWS's default (never raised). */
export async function quotaValue(client: ServiceQuotasClient, quota: { service: string; code: string }): Promise<number> {
  try {
    const answer = await client.send(new GetServiceQuotaCommand({ ServiceCode: quota.service, QuotaCode: quota.code }));
    return answer.Quota?.Value ?? 0;
  } catch (e) {
    if ((e as { name?: string }).name !== 'NoSuchResourceException') throw e;
    const answer = await client.send(new GetAWSDefaultServiceQuotaCommand({ ServiceCode: quota.service, QuotaCode: quota.code }));
    return answer.Quota?.Value ?? 0;
  }
}

const SHARED = 'the quota is shared by every task of the account in the region';

/**
 * Fargate counts running vCPU against a per-region quota, one for Spot (the workers) and one for
 * on-demand (the migration task every deploy runs, and the workers' fallback when
 * `workers.onDemandFallback`). A quota below one task means it never starts; below the maximum,
 * scaling stops short of `maxTasks`.
 */
export async function checkFargate(client: ServiceQuotasClient, demands: Demands): Promise<Finding[]> {
  const [spot, onDemand] = await Promise.all([quotaValue(client, QUOTAS.fargateSpotVcpu), quotaValue(client, QUOTAS.fargateOnDemandVcpu)]);
  const findings: Finding[] = [];

  const spotCheck = 'fargate-spot-vcpu';
  const spotFigures = `${QUOTAS.fargateSpotVcpu.code} ${spot} vCPU; the workers at maxTasks need ${demands.spotVcpu} vCPU`;
  const spotFix = quotaIncreaseCommand(QUOTAS.fargateSpotVcpu, demands.spotVcpu, demands.region);
  if (spot < demands.largestSpotTaskVcpu) {
    findings.push(error(spotCheck, `${spotFigures}, one task ${demands.largestSpotTaskVcpu}: no worker task can start`, spotFix));
  } else if (spot < demands.spotVcpu) {
    findings.push(warning(spotCheck, `${spotFigures}: the workers stop scaling short of maxTasks (${SHARED})`, `${spotFix} (or lower workers.*.maxTasks in stacks/config.ts)`));
  } else {
    findings.push(ok(spotCheck, `${spotFigures} (${SHARED})`));
  }

  const onDemandCheck = 'fargate-on-demand-vcpu';
  const onDemandFigures =
    `${QUOTAS.fargateOnDemandVcpu.code} ${onDemand} vCPU; the migration task needs ${demands.migrationVcpu}` +
    (demands.onDemandVcpu > demands.migrationVcpu ? `, with the workers' on-demand fallback ${demands.onDemandVcpu}` : '');
  const onDemandFix = quotaIncreaseCommand(QUOTAS.fargateOnDemandVcpu, demands.onDemandVcpu, demands.region);
  if (onDemand < demands.migrationVcpu) {
    findings.push(error(onDemandCheck, `${onDemandFigures}: the deploy's migration step cannot start its task`, onDemandFix));
  } else if (onDemand < demands.onDemandVcpu) {
    findings.push(warning(onDemandCheck, `${onDemandFigures}: a Spot shortage would not be covered in full (${SHARED})`, onDemandFix));
  } else {
    findings.push(ok(onDemandCheck, `${onDemandFigures} (${SHARED})`));
  }
  return findings;
}
