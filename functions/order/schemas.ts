import * as z from '../shared/zod';
import { slugSchema } from '../shared/themes';

/** Request bodies shared by the order service and the gateways that forward them. */
export const idempotencyKeySchema = z
  .string()
  .check(z.regex(/^[A-Za-z0-9_-]{22,200}$/, 'must be 22–200 characters of A–Z a–z 0–9 _ - (e.g. a random UUID)'));

export const CreateB2cOrder = z.object({
  idempotencyKey: idempotencyKeySchema,
  email: z.string().check(z.trim(), z.email(), z.maxLength(320)),
  name: z.string().check(z.trim(), z.minLength(1), z.maxLength(200)),
  theme: slugSchema,
  input: z.record(z.string(), z.unknown()),
});
export type CreateB2cOrder = z.infer<typeof CreateB2cOrder>;
