import { GetOpenIDConnectProviderCommand, IAMClient, ListOpenIDConnectProvidersCommand } from '@aws-sdk/client-iam';
import { GITHUB_OIDC_AUDIENCE, GITHUB_OIDC_HOST } from '../../modules/github-oidc-roles';
import { BOOTSTRAP_TAGS } from './demands';
import { error, Finding, ok, warning } from './finding';

const CHECK = 'github-oidc-provider';

/** Terraform address of the provider in the bootstrap stack (stacks/bootstrap.ts, id `github-oidc`). */
export const OIDC_PROVIDER_ADDRESS = 'aws_iam_openid_connect_provider.github-oidc';

/**
 * The bootstrap stack creates the GitHub OIDC provider, and IAM holds one provider per URL per
 * account: if the account already has one that the bootstrap did not create (another
 * repository's bootstrap, a console setup), the first bootstrap apply fails with
 * EntityAlreadyExists. The one to reuse is then imported into the bootstrap's state. A provider
 * carrying the bootstrap's tags (project, layer = bootstrap: its provider's default tags) is
 * the bootstrap's own.
 */
export async function checkGithubOidc(iam: IAMClient): Promise<Finding> {
  const listed = await iam.send(new ListOpenIDConnectProvidersCommand({}));
  const arn = (listed.OpenIDConnectProviderList ?? []).map((p) => p.Arn ?? '').find((a) => a.endsWith(`:oidc-provider/${GITHUB_OIDC_HOST}`));
  if (!arn) return ok(CHECK, `none for ${GITHUB_OIDC_HOST} in the account: the bootstrap creates it`);

  const provider = await iam.send(new GetOpenIDConnectProviderCommand({ OpenIDConnectProviderArn: arn }));
  const tags = Object.fromEntries((provider.Tags ?? []).map((t) => [t.Key, t.Value]));
  const audiences = provider.ClientIDList ?? [];
  const ours = Object.entries(BOOTSTRAP_TAGS).every(([k, v]) => tags[k] === v);
  if (ours) {
    if (!audiences.includes(GITHUB_OIDC_AUDIENCE)) {
      return warning(
        CHECK,
        `${arn} is the bootstrap's, but its audiences (${audiences.join(', ') || 'none'}) lack ${GITHUB_OIDC_AUDIENCE}: no role can be assumed from GitHub`,
        'apply the bootstrap stack again (npx cdktf deploy bootstrap), which puts the audience back',
      );
    }
    return ok(CHECK, `${arn}, created by the bootstrap stack (tags ${Object.keys(BOOTSTRAP_TAGS).join(', ')}): reused`);
  }
  return error(
    CHECK,
    `${arn} exists and was not created by the bootstrap stack (no ${Object.entries(BOOTSTRAP_TAGS).map(([k, v]) => `${k}=${v}`).join(', ')} tags; audiences ${audiences.join(', ') || 'none'}): ` +
      'the bootstrap would create a duplicate, which IAM refuses (EntityAlreadyExists: one provider per URL per account)',
    `reuse it: import it into the bootstrap's state before its first apply: npx cdktf synth && terraform -chdir=cdktf.out/stacks/bootstrap init && ` +
      `terraform -chdir=cdktf.out/stacks/bootstrap import ${OIDC_PROVIDER_ADDRESS} ${arn} ` +
      `(read the plan before applying: the stack sets its audiences to ${GITHUB_OIDC_AUDIENCE} alone and adds its tags; destroying the bootstrap would then delete the provider for everything that trusts it)`,
  );
}
