import { DescribeSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretDemand } from './demands';
import { error, Finding, ok, warning } from './finding';

/** Where a secret stands: `value` has one (AWSCURRENT), `empty` none yet, `absent` was never created, `deleted` awaits deletion. */
export type SecretState = { state: 'value' | 'empty' | 'absent' } | { state: 'deleted'; deletedDate: Date };

/**
 * A secret's state from DescribeSecret alone, for preflight and the smoke step: the deploy role
 * may describe the environment's secrets but neither list their versions nor read a value, and
 * VersionIdsToStages names the versions with their labels, AWSCURRENT being the one readers get.
 * Any error but a missing secret is thrown.
 */
export async function secretState(client: SecretsManagerClient, secretId: string): Promise<SecretState> {
  try {
    const described = await client.send(new DescribeSecretCommand({ SecretId: secretId }));
    if (described.DeletedDate) return { state: 'deleted', deletedDate: described.DeletedDate };
    const current = Object.values(described.VersionIdsToStages ?? {}).some((stages) => stages.includes('AWSCURRENT'));
    return { state: current ? 'value' : 'empty' };
  } catch (e) {
    if ((e as { name?: string }).name === 'ResourceNotFoundException') return { state: 'absent' };
    throw e;
  }
}

/**
 * The data stack creates each secret empty and its value is put by hand (never through
 * Terraform): a secret without an AWSCURRENT version makes its readers fail. One that does not
 * exist yet is the data layer's to create (a warning: put the value right after it); one
 * scheduled for deletion blocks that create.
 */
export async function checkSecret(client: SecretsManagerClient, secret: SecretDemand): Promise<Finding> {
  const check = `secret ${secret.name}`;
  const found = await secretState(client, secret.name);
  if (found.state === 'absent') {
    return warning(
      check,
      `not created yet: the data layer creates it empty, and what reads it fails until it has a value: ${secret.usedBy}`,
      `right after the data layer, before compute: ${secret.putCommand}`,
    );
  }
  if (found.state === 'deleted') {
    return error(
      check,
      `scheduled for deletion (${found.deletedDate.toISOString()}): the data layer can neither use nor re-create it`,
      `aws secretsmanager restore-secret --region ${secret.region} --secret-id ${secret.name}, then, if it has no value: ${secret.putCommand}`,
    );
  }
  if (found.state === 'empty') {
    return error(check, `has no value (no AWSCURRENT version), so what reads it fails: ${secret.usedBy}`, secret.putCommand);
  }
  return ok(check, 'has a value (AWSCURRENT)');
}
