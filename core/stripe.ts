import type Stripe from 'stripe';
import { requireSecret, type AppConfig } from './config';

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
