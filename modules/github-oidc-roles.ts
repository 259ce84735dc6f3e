import { Construct } from 'constructs';
import { IamRole } from '@cdktf/provider-aws/lib/iam-role';
import { IamPolicy } from '@cdktf/provider-aws/lib/iam-policy';
import { IamRolePolicyAttachment } from '@cdktf/provider-aws/lib/iam-role-policy-attachment';
import { MANAGED_POLICY_MAX_CHARS, policyDocument, policyJson, policySize, Statement, trustPolicyJson } from './iam-statements';

export const GITHUB_OIDC_HOST = 'token.actions.githubusercontent.com';
export const GITHUB_OIDC_AUDIENCE = 'sts.amazonaws.com';

export interface GithubRepository {
  /** `owner/name`. */
  repository: string;
  /** GitHub's numeric id of the owner (`gh api repos/OWNER/REPO --jq .owner.id`). */
  ownerId: string;
  /** GitHub's numeric id of the repository (`gh api repos/OWNER/REPO --jq .id`). */
  repositoryId: string;
}

/** What GitHub's ids look like (and placeholders do not): checked by the bootstrap plan. */
export const GITHUB_ID_PATTERN = '^[1-9][0-9]*$';

/** The id settings that are not GitHub ids yet, by field name (`github.ownerId`, …); empty when both are. */
export function githubIdIssues(repo: GithubRepository): string[] {
  const pattern = new RegExp(GITHUB_ID_PATTERN);
  return (['ownerId', 'repositoryId'] as const).filter((field) => !pattern.test(repo[field])).map((field) => `github.${field}`);
}

/** The command that prints both ids, for messages. */
export const githubIdsCommand = (repo: Pick<GithubRepository, 'repository'>): string => `gh api repos/${repo.repository} --jq '.id, .owner.id'`;

/**
 * The `sub` claims GitHub sends for the given contexts (`pull_request`, `ref:refs/heads/main`,
 * `environment:prod`), in both forms: the classic `repo:OWNER/NAME:…` and the immutable
 * `repo:OWNER@OWNERID/NAME@REPOID:…` (the default of repositories created since 2026-07-15).
 * Trusting both means the switch-over never locks CI out.
 */
export function githubSubjects(repo: GithubRepository, contexts: string[]): string[] {
  const [owner, name] = repo.repository.split('/');
  if (!owner || !name || repo.repository.split('/').length !== 2) {
    throw new Error(`github.repository must be "owner/name", got "${repo.repository}"`);
  }
  const prefixes = [`repo:${owner}/${name}`, `repo:${owner}@${repo.ownerId}/${name}@${repo.repositoryId}`];
  return prefixes.flatMap((prefix) => contexts.map((context) => `${prefix}:${context}`));
}

export function githubTrustPolicy(providerArn: string, subjects: string[]): string {
  return trustPolicyJson([
    {
      sid: 'GithubActionsOidc',
      principal: { Federated: providerArn },
      actions: ['sts:AssumeRoleWithWebIdentity'],
      // StringEquals, not StringLike: every trusted subject is spelled out, no wildcard.
      conditions: {
        StringEquals: {
          [`${GITHUB_OIDC_HOST}:aud`]: GITHUB_OIDC_AUDIENCE,
          [`${GITHUB_OIDC_HOST}:sub`]: subjects,
        },
      },
      scalar: ['actions'],
    },
  ]);
}

/**
 * Splits statements into as few managed policies as IAM's 6,144-character limit allows, sized
 * with a concrete account id (the real one is a token until apply).
 */
export function packStatements(sized: Statement[], max = MANAGED_POLICY_MAX_CHARS): string[][] {
  const groups: Statement[][] = [];
  for (const statement of sized) {
    const last = groups[groups.length - 1];
    if (last && policySize(policyDocument([...last, statement])) <= max) last.push(statement);
    else {
      if (policySize(policyDocument([statement])) > max) throw new Error(`IAM statement ${statement.sid} alone exceeds ${max} characters`);
      groups.push([statement]);
    }
  }
  return groups.map((group) => group.map((s) => s.sid));
}

/** Account ids are 12 digits: policies are sized with one before the real id is known. */
const SAMPLE_ACCOUNT_ID = '123456789012';

export interface GithubOidcRoleProps {
  roleName: string;
  description: string;
  providerArn: string;
  subjects: string[];
  /** The role's permissions for an account id (a token here; a sample id to size the policies). */
  statements: (accountId: string) => Statement[];
  accountId: string;
  maxSessionSeconds?: number;
}

export class GithubOidcRole extends Construct {
  readonly role: IamRole;
  readonly policies: IamPolicy[];

  constructor(scope: Construct, id: string, props: GithubOidcRoleProps) {
    super(scope, id);
    this.role = new IamRole(this, 'role', {
      name: props.roleName,
      description: props.description,
      assumeRolePolicy: githubTrustPolicy(props.providerArn, props.subjects),
      maxSessionDuration: props.maxSessionSeconds ?? 3600,
    });
    const groups = packStatements(props.statements(SAMPLE_ACCOUNT_ID));
    const bySid = new Map(props.statements(props.accountId).map((s) => [s.sid, s]));
    this.policies = groups.map((sids, index) => {
      const policy = new IamPolicy(this, `policy-${index + 1}`, {
        name: `${props.roleName}-${index + 1}`,
        description: `${props.description} (part ${index + 1} of ${groups.length})`,
        policy: policyJson(sids.flatMap((sid) => bySid.get(sid) ?? [])),
      });
      new IamRolePolicyAttachment(this, `attach-${index + 1}`, { role: this.role.name, policyArn: policy.arn });
      return policy;
    });
  }
}
