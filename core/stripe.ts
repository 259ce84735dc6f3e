import Stripe from 'stripe';
import type { AppConfig } from './config';
import { ConfigError } from './errors';

/**
 * The Stripe SDK client. STRIPE_API_URL points it at a local stand-in (tests, `npm run dev`);
 * unset, it talks to api.stripe.com.
 */
export function createStripe(config: Pick<AppConfig, 'stripe' | 'secrets'>): Stripe {
  const key = config.secrets.stripeSecretKey;
  if (!key) throw new ConfigError('STRIPE_SECRET_KEY (or STRIPE_SECRET_ARN) is not set');
  const target = config.stripe.apiUrl ? new URL(config.stripe.apiUrl) : undefined;
  return new Stripe(key, {
    maxNetworkRetries: 2,
    timeout: 10000,
    ...(target
      ? {
          host: target.hostname,
          port: Number(target.port || (target.protocol === 'https:' ? 443 : 80)),
          protocol: target.protocol === 'https:' ? 'https' : 'http',
        }
      : {}),
  });
}

export function webhookSecret(config: Pick<AppConfig, 'secrets'>): string {
  const secret = config.secrets.stripeWebhookSecret;
  if (!secret) throw new ConfigError('STRIPE_WEBHOOK_SECRET (or STRIPE_WEBHOOK_SECRET_ARN) is not set');
  return secret;
}
