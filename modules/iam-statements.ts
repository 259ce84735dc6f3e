/**
 * IAM policy statements as data, so tests can reason about them before Terraform sees them.
 * A statement whose resource is `*` must say why in `justification`: the tests list those
 * statements and fail on any `*` resource that comes without one.
 */
export interface Statement {
  sid: string;
  effect?: 'Allow' | 'Deny';
  actions: string[];
  resources: string[];
  conditions?: Record<string, Record<string, string | string[]>>;
  /** Required when `resources` contains `*`: the API has no resource-level permission. */
  justification?: string;
}

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: Array<{
    Sid: string;
    Effect: 'Allow' | 'Deny';
    Action: string[];
    Resource: string[];
    Condition?: Record<string, Record<string, string | string[]>>;
  }>;
}

export function policyDocument(statements: Statement[]): PolicyDocument {
  for (const s of statements) {
    if (s.resources.includes('*') && !s.justification) {
      throw new Error(`IAM statement ${s.sid} uses Resource "*" without a justification`);
    }
    if (s.actions.includes('*')) throw new Error(`IAM statement ${s.sid} allows every action`);
  }
  return {
    Version: '2012-10-17',
    Statement: statements.map((s) => ({
      Sid: s.sid,
      Effect: s.effect ?? 'Allow',
      Action: s.actions,
      Resource: s.resources,
      ...(s.conditions ? { Condition: s.conditions } : {}),
    })),
  };
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
export function denyInsecureTransport(action: string, resource: string | string[]) {
  return {
    Sid: 'DenyInsecureTransport',
    Effect: 'Deny' as const,
    Principal: '*',
    Action: action,
    Resource: resource,
    Condition: { Bool: { 'aws:SecureTransport': 'false' } },
  };
}
