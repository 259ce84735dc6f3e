import { CostAllocationTag, CostExplorerClient, ListCostAllocationTagsCommand } from '@aws-sdk/client-cost-explorer';
import { GLOBAL_REGION } from './clients';
import { COST_ALLOCATION_TAGS } from './demands';
import { describeError, Finding, ok, warning } from './finding';

const CHECK = 'cost-allocation-tags';

const activateCommand = (keys: readonly string[]) =>
  `aws ce update-cost-allocation-tags-status --region ${GLOBAL_REGION} --cost-allocation-tags-status ${keys.map((k) => `TagKey=${k},Status=Active`).join(' ')}`;

/**
 * Every resource carries project/env/layer (the providers' default tags), and the environment's
 * budget filters its spend on `user:env`; Billing counts a tag only once it is activated as a cost
 * allocation tag. Not a deploy failure: until then the budget sees nothing (warnings only).
 */
export async function checkCostAllocationTags(ce: CostExplorerClient, env: string): Promise<Finding> {
  const found: CostAllocationTag[] = [];
  let token: string | undefined;
  try {
    do {
      const page = await ce.send(new ListCostAllocationTagsCommand({ TagKeys: [...COST_ALLOCATION_TAGS], Type: 'UserDefined', NextToken: token }));
      found.push(...(page.CostAllocationTags ?? []));
      token = page.NextToken;
    } while (token);
  } catch (e) {
    if ((e as { name?: string }).name !== 'AccessDeniedException') throw e;
    return warning(
      CHECK,
      `cannot read the cost allocation tags (${describeError(e)}); in an AWS Organization only the management account manages them`,
      `have the management account activate ${COST_ALLOCATION_TAGS.join(', ')}: ${activateCommand(COST_ALLOCATION_TAGS)}`,
    );
  }
  const status = (key: string) => found.find((t) => t.TagKey === key)?.Status;
  const inactive = COST_ALLOCATION_TAGS.filter((k) => status(k) === 'Inactive');
  const unseen = COST_ALLOCATION_TAGS.filter((k) => status(k) === undefined);
  if (inactive.length === 0 && unseen.length === 0) return ok(CHECK, `${COST_ALLOCATION_TAGS.join(', ')} active`);
  const parts = [
    inactive.length > 0 ? `${inactive.join(', ')} inactive` : undefined,
    unseen.length > 0 ? `${unseen.join(', ')} not yet known to Billing (a key appears within 24 h of the first resource tagged with it)` : undefined,
  ].filter(Boolean);
  return warning(
    CHECK,
    `${parts.join('; ')}: costs are not broken down by tag, and the ${env} budget (filter user:env$${env}) sees none of its spend`,
    `${activateCommand([...inactive, ...unseen])}${unseen.length > 0 ? ' (a key Billing has not seen yet is refused: run it again a day after the first deploy)' : ''}`,
  );
}
