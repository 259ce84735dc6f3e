import * as z from '../zod';
import { slugSchema } from './themes';
import { plainText, plainTextDeep } from './text';
import { CreateB2cOrderRequest, requestSchema } from '../internal-api';

/**
 * Request bodies shared by the order service and the gateways that forward them, the runtime side
 * of their types in core/internal-api.ts: both gateways take an Idempotency-Key of this form, and
 * gateway-b2c checks a B2C order as the order service will. Free text is checked as text
 * (`plainText`, core/domain/text.ts) so a control character is a 400 naming its field, not a
 * database error.
 */
export const idempotencyKeySchema = z
  .string()
  .check(z.regex(/^[A-Za-z0-9_-]{22,200}$/, 'must be 22–200 characters of A–Z a–z 0–9 _ - (e.g. a random UUID)'));

export const CreateB2cOrder = requestSchema<CreateB2cOrderRequest>()(
  z.object({
    idempotencyKey: idempotencyKeySchema,
    email: z.string().check(z.trim(), z.email(), z.maxLength(320)),
    name: z.string().check(z.trim(), z.minLength(1), z.maxLength(200), plainText),
    theme: slugSchema,
    // Any string at any depth, keys included, is text: PostgreSQL refuses a NUL in jsonb (the theme check then wants flat strings).
    input: z.record(z.string(), z.unknown()).check(plainTextDeep),
  }),
);
