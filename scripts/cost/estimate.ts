import { freeReason } from './freeResources';
import { PriceTable } from './priceTable';
import { Charge, Estimate, RULES, RuleContext } from './rules';
import { TfResource } from './terraformInput';
import { TrafficProfile, Volume, ZERO_VOLUME } from './traffic';

export type Status = 'priced' | 'free' | 'unpriced';

export interface PricedCharge extends Charge {
  usd: number;
}

export interface LineItem {
  address: string;
  stack: string;
  layer: string;
  type: string;
  count: number;
  status: Status;
  /** Why the resource is free or unpriced. */
  reason?: string;
  notes: string[];
  idle: { usd: number; charges: PricedCharge[] };
  traffic: { usd: number; charges: PricedCharge[] };
}

export interface Totals {
  idleUsd: number;
  trafficUsd: number;
}

export interface CostReport {
  label: string;
  profile: string;
  items: LineItem[];
  byLayer: Record<string, Totals>;
  total: Totals;
  /** Always-free monthly allowances that would cover part of the figures (never deducted from them). */
  alwaysFree: Totals;
  unpriced: LineItem[];
  /** Prices used whose Paris figure is not confirmed. */
  unconfirmedPrices: string[];
}

const round = (usd: number): number => Math.round(usd * 1e6) / 1e6;

function evaluate(resource: TfResource, ctx: RuleContext): Estimate {
  const rule = RULES[resource.type];
  if (rule) return rule(resource, ctx);
  const reason = freeReason(resource.type);
  return reason ? { status: 'free', reason } : { status: 'unpriced', reason: 'no pricing rule for this resource type' };
}

function priceCharges(charges: Charge[], count: number, prices: PriceTable): PricedCharge[] {
  return charges.map((charge) => {
    const quantity = charge.quantity * count;
    return { ...charge, quantity, usd: round(quantity * prices.usd(charge.priceKey)) };
  });
}

const sum = (charges: PricedCharge[]): number => round(charges.reduce((total, c) => total + c.usd, 0));

function alwaysFreeUsd(items: LineItem[], pick: (item: LineItem) => PricedCharge[], prices: PriceTable): number {
  const quantities = new Map<string, number>();
  for (const charge of items.flatMap(pick)) quantities.set(charge.priceKey, (quantities.get(charge.priceKey) ?? 0) + charge.quantity);
  let usd = 0;
  for (const [key, quantity] of quantities) {
    const allowance = prices.entry(key).freeTier;
    if (allowance?.kind === 'always-free') usd += Math.min(quantity, allowance.quantity) * prices.usd(key);
  }
  return round(usd);
}

export interface EstimateInput {
  label: string;
  resources: TfResource[];
  prices: PriceTable;
  profile: TrafficProfile;
}

export function estimateCosts({ label, resources, prices, profile }: EstimateInput): CostReport {
  const context = (volume: Volume): RuleContext => ({ prices, volume, profile, resources });
  const idleContext = context(ZERO_VOLUME);
  const trafficContext = context(profile.volume);

  const items: LineItem[] = resources.map((resource) => {
    const idle = evaluate(resource, idleContext);
    const traffic = evaluate(resource, trafficContext);
    const base = { address: resource.address, stack: resource.stack, layer: resource.layer, type: resource.type, count: resource.count };
    const countNotes = resource.countNote ? [resource.countNote] : [];
    if (idle.status !== 'priced' || traffic.status !== 'priced') {
      const settled = idle.status !== 'priced' ? idle : traffic;
      const reason = settled.status === 'priced' ? '' : settled.reason;
      return { ...base, status: settled.status, reason, notes: countNotes, idle: { usd: 0, charges: [] }, traffic: { usd: 0, charges: [] } };
    }
    const idleCharges = priceCharges(idle.charges, resource.count, prices);
    const trafficCharges = priceCharges(traffic.charges, resource.count, prices);
    return {
      ...base,
      status: 'priced',
      notes: [...countNotes, ...(traffic.notes ?? [])],
      idle: { usd: sum(idleCharges), charges: idleCharges },
      traffic: { usd: sum(trafficCharges), charges: trafficCharges },
    };
  });

  const byLayer: Record<string, Totals> = {};
  for (const item of items) {
    const layer = (byLayer[item.layer] ??= { idleUsd: 0, trafficUsd: 0 });
    layer.idleUsd = round(layer.idleUsd + item.idle.usd);
    layer.trafficUsd = round(layer.trafficUsd + item.traffic.usd);
  }
  const total = {
    idleUsd: round(items.reduce((t, i) => t + i.idle.usd, 0)),
    trafficUsd: round(items.reduce((t, i) => t + i.traffic.usd, 0)),
  };
  const usedKeys = new Set(items.flatMap((i) => [...i.idle.charges, ...i.traffic.charges]).filter((c) => c.quantity > 0).map((c) => c.priceKey));
  return {
    label,
    profile: profile.name,
    items,
    byLayer,
    total,
    alwaysFree: {
      idleUsd: alwaysFreeUsd(items, (i) => i.idle.charges, prices),
      trafficUsd: alwaysFreeUsd(items, (i) => i.traffic.charges, prices),
    },
    unpriced: items.filter((i) => i.status === 'unpriced'),
    unconfirmedPrices: [...usedKeys].filter((key) => !prices.entry(key).confirmed).sort(),
  };
}
