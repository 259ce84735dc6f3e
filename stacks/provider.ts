import { Construct } from 'constructs';
import { AwsProvider } from '@cdktf/provider-aws/lib/provider';
import { PROJECT } from '../core/contract';
import { EnvironmentConfig } from './config';

/**
 * The one AWS provider of an environment stack. `default_tags` puts project/env/layer on every
 * taggable resource without each construct repeating them; `allowed_account_ids` (when the
 * config names the account) stops a plan against the wrong account's credentials.
 */
export function awsProvider(scope: Construct, config: EnvironmentConfig, layer: string): AwsProvider {
  return new AwsProvider(scope, 'aws', {
    region: config.region,
    allowedAccountIds: config.accountId ? [config.accountId] : undefined,
    defaultTags: [{ tags: { project: PROJECT, env: config.env, layer } }],
  });
}
