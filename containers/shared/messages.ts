import * as z from '../../core/zod';

/**
 * The message can never succeed (malformed, or naming nothing that exists): the consumer makes it
 * visible again at once, so it reaches the DLQ within seconds, not after maxReceiveCount visibility
 * timeouts (consumer.ts).
 */
export class UnprocessableMessage extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnprocessableMessage';
  }
}

/** A queue message body checked against its versioned schema (DESIGN §5), or an UnprocessableMessage that names what is wrong. */
export function parseJobMessage<T extends z.ZodMiniType>(schema: T, body: string, what: string): z.infer<T> {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new UnprocessableMessage(`${what} is not JSON`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new UnprocessableMessage(`${what} does not match its schema: ${parsed.error.issues.map((i) => i.path.join('.') || 'body').join(', ')}`);
  }
  return parsed.data;
}

/**
 * The order is no longer this attempt's (its lease expired or was given up, and another attempt
 * took it, see core/domain/orders.ts): it must not upload or end the order. Thrown, the message
 * comes back after its visibility timeout and is dropped once the order is final. (A delivery
 * that finds the order held when it starts does not throw this: it comes back when the lease
 * ends, containers/doc-generation/handler.ts.)
 */
export class OrderBusy extends Error {
  constructor(orderId: string, why = 'another attempt holds its generation lease') {
    super(`order ${orderId}: ${why}`);
    this.name = 'OrderBusy';
  }
}
