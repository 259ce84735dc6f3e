import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as z from '../../core/zod';

const freeTierSchema = z.object({
  quantity: z.number().check(z.nonnegative()),
  /** `always-free` allowances renew every month; `12-months` ones end a year after sign-up. */
  kind: z.enum(['always-free', '12-months']),
  note: z.optional(z.string()),
});

const priceSchema = z.object({
  usd: z.number().check(z.nonnegative()),
  unit: z.string().check(z.minLength(1)),
  source: z.string().check(z.minLength(1)),
  read: z.string().check(z.regex(/^\d{4}-\d{2}-\d{2}$/)),
  published: z.optional(z.string()),
  confirmed: z.boolean(),
  note: z.optional(z.string()),
  freeTier: z.optional(freeTierSchema),
});

const priceTableSchema = z.object({
  region: z.string(),
  currency: z.literal('USD'),
  hoursPerMonth: z.number().check(z.positive()),
  readOn: z.string(),
  prices: z.record(z.string(), priceSchema),
});

export type Price = z.infer<typeof priceSchema>;
export type PriceTableData = z.infer<typeof priceTableSchema>;

export const DEFAULT_PRICE_FILE = join(__dirname, 'prices.eu-west-3.json');

export class PriceTable {
  constructor(readonly data: PriceTableData) {
    for (const [key, price] of Object.entries(data.prices)) {
      if (!price.confirmed && !price.note) throw new Error(`price table: ${key} is not confirmed and says nothing of how it was derived (note)`);
    }
  }

  get hoursPerMonth(): number {
    return this.data.hoursPerMonth;
  }

  has(key: string): boolean {
    return key in this.data.prices;
  }

  entry(key: string): Price {
    const price = this.data.prices[key];
    if (!price) throw new Error(`price table: no price named ${key}`);
    return price;
  }

  usd(key: string): number {
    return this.entry(key).usd;
  }
}

export function loadPriceTable(file: string = DEFAULT_PRICE_FILE): PriceTable {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`price table ${file}: cannot read it as JSON (${(error as Error).message})`);
  }
  const parsed = priceTableSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`price table ${file}: ${issue.path.join('.')}: ${issue.message}`);
  }
  return new PriceTable(parsed.data);
}
