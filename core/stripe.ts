import type Stripe from 'stripe';
import { requireSecret, type AppConfig } from './config';
import { AppError, badRequest, serviceUnavailable, upstreamRefused } from './errors';

/**
 * The Stripe SDK client. STRIPE_API_URL points it at a local stand-in (tests, `npm run dev`);
 * unset, it talks to api.stripe.com. Without a key (its secret not put yet): a 503 naming
 * STRIPE_SECRET_ARN (requireSecret), thrown at once, before the caller does anything else.
 * The SDK itself (~240 KiB, a lazy chunk of the gateway's bundle: build/functions.ts) is loaded
 * on first use: most cold starts of the B2C gateway serve the theme list, not a payment.
 */
export function createStripe(config: Pick<AppConfig, 'stripe' | 'secrets' | 'missing'>): Promise<Stripe> {
  const key = requireSecret(config, 'stripeSecretKey');
  const target = config.stripe.apiUrl ? new URL(config.stripe.apiUrl) : undefined;
  return import('stripe').then(({ default: StripeSdk }) => new StripeSdk(key, {
    maxNetworkRetries: 2,
    timeout: 10000,
    ...(target
      ? {
          host: target.hostname,
          port: Number(target.port || (target.protocol === 'https:' ? 443 : 80)),
          protocol: target.protocol === 'https:' ? 'https' : 'http',
        }
      : {}),
  }));
}

/** The webhook signing secret; a 503 naming STRIPE_WEBHOOK_SECRET_ARN while it has no value. */
export function webhookSecret(config: Pick<AppConfig, 'secrets' | 'missing'>): string {
  return requireSecret(config, 'stripeWebhookSecret');
}

/** What the SDK's errors carry (read by their `type`, the class name: the SDK is loaded lazily). */
interface StripeErrorLike {
  type?: unknown;
  param?: unknown;
}

/** Parameters of a checkout session that carry what the client sent, by the field the client named it. */
const CLIENT_FIELDS: Record<string, string> = { customer_email: 'body.email' };

/**
 * The answer to a failed Stripe call, in our words (Stripe's message stays in the log: it names
 * its parameters and its account, not the client's request). A card refused is a 402; a request
 * Stripe refuses for what it is a 400 naming the client's field when the parameter is one
 * (`customer_email` → `body.email`), else a 422: sent again, it is refused again. Anything else
 * — Stripe down, throttling, no answer in time, or refusing the platform's key — is a 503 with
 * Retry-After: a retry with the same idempotency key completes the order once Stripe answers.
 */
export function stripeFailure(err: unknown): AppError {
  const { type, param } = (err ?? {}) as StripeErrorLike;
  if (type === 'StripeCardError') return new AppError(402, 'payment_declined', 'the payment method was declined');
  if (type === 'StripeInvalidRequestError' || type === 'StripeIdempotencyError') {
    const field = typeof param === 'string' ? CLIENT_FIELDS[param] : undefined;
    if (field) return badRequest([{ field, message: 'refused by the payment provider' }]);
    return upstreamRefused('payment_rejected', 'the payment provider refuses the checkout of this order; retrying it will not help');
  }
  return serviceUnavailable('payment provider unavailable; retry with the same idempotency key after Retry-After');
}
