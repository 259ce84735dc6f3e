import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { REGION } from '../../core/contract';
import { EnvironmentConfig } from '../../stacks/config';
import { describeError, error, Finding, ok, warning } from './finding';

/** The region and the account: where the deploy would land, and whether that is where the config says. */

export function checkRegion(config: EnvironmentConfig, bootstrapRegion: string): Finding {
  const wrong = [
    config.region !== REGION ? `${config.env}.region is "${config.region}"` : undefined,
    bootstrapRegion !== REGION ? `bootstrap.region is "${bootstrapRegion}"` : undefined,
  ].filter(Boolean);
  if (wrong.length > 0) {
    return error(
      'region',
      `${wrong.join(', ')}: the platform runs in ${REGION} (core/contract.ts REGION: the AZs, prices and the state bucket's region are that region's)`,
      `set region: REGION (${REGION}) in stacks/config.ts`,
    );
  }
  return ok('region', `${REGION} (config of ${config.env} and of the bootstrap)`);
}

export interface Identity {
  account: string;
  arn: string;
}

/** GetCallerIdentity: whose credentials these are. Undefined identity: no usable credentials (the other checks are skipped). */
export async function checkAccount(sts: STSClient, config: EnvironmentConfig): Promise<{ finding: Finding; identity?: Identity }> {
  let identity: Identity;
  try {
    const answer = await sts.send(new GetCallerIdentityCommand({}));
    identity = { account: answer.Account ?? '', arn: answer.Arn ?? '' };
  } catch (e) {
    return {
      finding: error(
        'account',
        `no usable AWS credentials (sts GetCallerIdentity: ${describeError(e)})`,
        'give credentials for the target account through the environment (AWS_PROFILE, or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, or `aws sso login --profile …`), then run again',
      ),
    };
  }
  if (config.accountId && config.accountId !== identity.account) {
    return {
      identity,
      finding: error(
        'account',
        `credentials are for account ${identity.account} (${identity.arn}), ${config.env}.accountId is ${config.accountId}: the provider's allowed_account_ids refuses the plan`,
        `use credentials for account ${config.accountId}, or correct ${config.env}.accountId in stacks/config.ts`,
      ),
    };
  }
  if (!config.accountId) {
    return {
      identity,
      finding: warning(
        'account',
        `credentials are for account ${identity.account} (${identity.arn}); ${config.env}.accountId is not set, so nothing stops a deploy into another account`,
        `set accountId: '${identity.account}' on ${config.env} in stacks/config.ts (the provider then refuses any other account)`,
      ),
    };
  }
  return { identity, finding: ok('account', `${identity.account} = ${config.env}.accountId (${identity.arn})`) };
}
