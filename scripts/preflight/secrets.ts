import { DescribeSecretCommand, ListSecretVersionIdsCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretDemand } from './demands';
import { error, Finding, ok, warning } from './finding';

async function hasCurrentVersion(client: SecretsManagerClient, secretId: string): Promise<boolean> {
  let token: string | undefined;
  do {
    const page = await client.send(new ListSecretVersionIdsCommand({ SecretId: secretId, IncludeDeprecated: false, NextToken: token }));
    if ((page.Versions ?? []).some((v) => v.VersionStages?.includes('AWSCURRENT'))) return true;
    token = page.NextToken;
  } while (token);
  return false;
}

/**
 * The data stack creates each secret empty and its value is put by hand (never through
 * Terraform): a secret without an AWSCURRENT version makes its readers fail. One that does not
 * exist yet is the data layer's to create (a warning: put the value right after it); one
 * scheduled for deletion blocks that create.
 */
export async function checkSecret(client: SecretsManagerClient, secret: SecretDemand): Promise<Finding> {
  const check = `secret ${secret.name}`;
  let described;
  try {
    described = await client.send(new DescribeSecretCommand({ SecretId: secret.name }));
  } catch (e) {
    if ((e as { name?: string }).name !== 'ResourceNotFoundException') throw e;
    return warning(
      check,
      `not created yet: the data layer creates it empty, and what reads it fails until it has a value: ${secret.usedBy}`,
      `right after the data layer, before compute: ${secret.putCommand}`,
    );
  }
  if (described.DeletedDate) {
    return error(
      check,
      `scheduled for deletion (${described.DeletedDate.toISOString()}): the data layer can neither use nor re-create it`,
      `aws secretsmanager restore-secret --region ${secret.region} --secret-id ${secret.name}, then, if it has no value: ${secret.putCommand}`,
    );
  }
  if (!(await hasCurrentVersion(client, described.ARN ?? secret.name))) {
    return error(check, `has no value (no AWSCURRENT version), so what reads it fails: ${secret.usedBy}`, secret.putCommand);
  }
  return ok(check, 'has a value (AWSCURRENT)');
}
