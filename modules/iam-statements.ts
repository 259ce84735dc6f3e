/**
 * IAM policy statements as data, and the one renderer that turns them into IAM's JSON. Every
 * policy of the platform goes through it: workload role policies (Lambda, ECS task and
 * execution roles), the CI roles and the workload boundary, resource policies (buckets, queues,
 * the alarm topic) and trust policies. So one set of rules holds for all of them, checked when
 * the document is rendered: no statement allows every action, and a statement whose resource is
 * `*` says why in `justification` (the tests list those statements and their reasons).
 */

export type Effect = 'Allow' | 'Deny';
export type Conditions = Record<string, Record<string, string | string[]>>;
/** Whom a resource or trust policy speaks of; identity policies name none (the holder is the principal). */
export type Principal = '*' | { Service: string | string[] } | { Federated: string } | { AWS: string | string[] };

export interface Statement {
  sid: string;
  effect?: Effect;
  /** Resource policies only (a bucket, queue or topic policy). */
  principal?: Principal;
  actions: string[];
  resources: string[];
  conditions?: Conditions;
  /** Required when `resources` contains `*`: the API has no resource-level permission. */
  justification?: string;
  /**
   * Writes `Action` and/or `Resource` as a bare string instead of a one-element list. IAM reads
   * both alike; each policy keeps the form it was first applied with, so how a statement is
   * built never shows up as a change in the JSON Terraform compares.
   */
  scalar?: Array<'actions' | 'resources'>;
}

/** A statement as IAM's JSON has it (keys in this order). */
export interface RenderedStatement {
  Sid?: string;
  Effect: Effect;
  Principal?: Principal;
  Action: string | string[];
  Resource?: string | string[];
  Condition?: Conditions;
}

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: RenderedStatement[];
}

/** A statement of any policy, before the checks that apply to permission statements. */
type Renderable = Omit<Statement, 'sid' | 'resources'> & { sid?: string; resources?: string[] };

function values(s: Renderable, field: 'actions' | 'resources', list: string[]): string | string[] {
  if (!s.scalar?.includes(field)) return list;
  if (list.length !== 1) throw new Error(`IAM statement ${s.sid ?? '(trust)'}: a scalar ${field} needs exactly one value, got ${list.length}`);
  return list[0];
}

function render(s: Renderable): RenderedStatement {
  return {
    ...(s.sid !== undefined ? { Sid: s.sid } : {}),
    Effect: s.effect ?? 'Allow',
    ...(s.principal !== undefined ? { Principal: s.principal } : {}),
    Action: values(s, 'actions', s.actions),
    ...(s.resources !== undefined ? { Resource: values(s, 'resources', s.resources) } : {}),
    ...(s.conditions ? { Condition: s.conditions } : {}),
  };
}

export function policyDocument(statements: Statement[]): PolicyDocument {
  for (const s of statements) {
    if (s.resources.includes('*') && !s.justification) {
      throw new Error(`IAM statement ${s.sid} uses Resource "*" without a justification`);
    }
    if (s.actions.includes('*')) throw new Error(`IAM statement ${s.sid} allows every action`);
  }
  return { Version: '2012-10-17', Statement: statements.map(render) };
}

/** The policy as the JSON string Terraform takes. */
export function policyJson(statements: Statement[]): string {
  return JSON.stringify(policyDocument(statements));
}

/**
 * A trust policy: who may assume the role. It names no resource (the role is the resource), so
 * only the action rule applies; a Sid is optional there.
 */
export function trustPolicyJson(statements: Array<Omit<Renderable, 'resources' | 'justification'> & { principal: Principal }>): string {
  for (const s of statements) if (s.actions.includes('*')) throw new Error(`trust statement ${s.sid ?? ''} allows every action`);
  const document: PolicyDocument = { Version: '2012-10-17', Statement: statements.map(render) };
  return JSON.stringify(document);
}

/** Trust policy letting one AWS service assume a role. */
export function assumeRolePolicy(service: string): string {
  return trustPolicyJson([{ principal: { Service: service }, actions: ['sts:AssumeRole'], scalar: ['actions'] }]);
}

/** The resources of this account a service may assume a role for (the confused-deputy conditions). */
export interface TrustSource {
  accountId: string;
  /** ARN patterns (ArnLike) of the service's resources that may take the role. */
  arns: string[];
  /**
   * `always`: the service must name a source of this account (it documents sending
   * aws:SourceAccount and aws:SourceArn when it assumes the role). `whenNamed`: a source it names
   * must be this account's (the …IfExists operators), for assumptions AWS does not document as
   * carrying the keys: a positive condition on a key the service leaves out would refuse the
   * service itself.
   */
  require: 'always' | 'whenNamed';
}

/** Trust policy letting one AWS service assume a role for this account's resources only. */
export function serviceTrustPolicy(service: string, source: TrustSource): string {
  const [equals, like] = source.require === 'always' ? ['StringEquals', 'ArnLike'] : ['StringEqualsIfExists', 'ArnLikeIfExists'];
  return trustPolicyJson([
    {
      principal: { Service: service },
      actions: ['sts:AssumeRole'],
      conditions: { [equals]: { 'aws:SourceAccount': source.accountId }, [like]: { 'aws:SourceArn': source.arns.length === 1 ? source.arns[0] : source.arns } },
      scalar: ['actions'],
    },
  ]);
}

/**
 * IAM's managed-policy size limit counts characters without whitespace; tokens are counted as
 * they will resolve roughly (an account id is 12 digits), which the caller accounts for.
 */
export const MANAGED_POLICY_MAX_CHARS = 6144;

export function policySize(doc: PolicyDocument): number {
  return JSON.stringify(doc).replace(/\s/g, '').length;
}

/** The resource-policy statement (bucket, queue, topic) that refuses every request not made over TLS. */
export function denyInsecureTransport(action: string, resource: string | string[]): Statement {
  return {
    sid: 'DenyInsecureTransport',
    effect: 'Deny',
    principal: '*',
    actions: [action],
    resources: Array.isArray(resource) ? resource : [resource],
    conditions: { Bool: { 'aws:SecureTransport': 'false' } },
    scalar: Array.isArray(resource) ? ['actions'] : ['actions', 'resources'],
  };
}
