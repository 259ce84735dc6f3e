import { randomUUID } from 'node:crypto';
import type { HttpTimeouts } from '../../core/aws-sdk';
import { INTERNAL_SERVICES, LIVE_ALIAS, type ServiceName } from '../../core/contract';
import { httpTransport, lambdaTransport, type Transport } from '../../core/internal-client';
import { healthVerdict } from './smoke';

/**
 * The post-deploy check of the internal services, which have no route: the edge's smoke test
 * never reaches them, and a broken alias would first be met by a customer's order. Each one's
 * `GET /health` goes through the internal client's own transports (core/internal-client.ts), so
 * it arrives as the gateways' and workers' calls do: in AWS, Lambda Invoke of `<function>:live`
 * with the API Gateway proxy event the callers send; locally, HTTP to the service's port. It
 * proves that the version behind `live` starts (config, secrets read) and serves; what its
 * dependencies answer is the routes' business, not this check's.
 */

/**
 * One call's bounds: a cold start (Lambda's init phase is at most 10 s) and the Invoke round trip
 * fit in 30 s; a hung one ends there and counts as a failed attempt.
 */
export const HEALTH_TIMEOUTS: HttpTimeouts = { connectMs: 3_000, requestMs: 30_000 };

export interface InternalTargets {
  transport: Transport;
  /** What the log lines name: the function and alias, or the URL. */
  targetOf(service: ServiceName): string;
}

/** Lambda Invoke of each service's live alias (`functions`: service → function name). */
export function lambdaTargets(region: string, functions: Partial<Record<ServiceName, string>>): InternalTargets {
  return {
    transport: lambdaTransport({ aws: { region, s3ForcePathStyle: false }, internal: { transport: 'lambda', urls: {}, functions } }, HEALTH_TIMEOUTS),
    targetOf: (service) => `${functions[service]}:${LIVE_ALIAS}`,
  };
}

/** HTTP to each service's base URL, as the local run's callers reach them. */
export function httpTargets(urls: Partial<Record<ServiceName, string>>): InternalTargets {
  return { transport: httpTransport(urls, HEALTH_TIMEOUTS), targetOf: (service) => `${urls[service]}/health` };
}

export interface InternalHealthResult {
  service: ServiceName;
  target: string;
  ok: boolean;
  attempts: number;
  status?: number;
  error?: string;
  /** Started without these settings (their secrets have no value yet): ok, with a warning. */
  missing?: string[];
}

export interface InternalHealthOptions {
  attempts?: number;
  delayMs?: number;
}

/**
 * The transport's failure in the operator's words. A refused Invoke is the deploy role's missing
 * permission, not the service's fault, and is said so: the step fails either way, since the
 * service was not proven.
 */
function failureOf(error: unknown): string {
  const message = (error as Error).message;
  if (/not authorized to perform: lambda:InvokeFunction/.test(message)) {
    return `${message} (the role running the check needs lambda:InvokeFunction on the internal services' live aliases: docs/deploy.md, "The internal services' check")`;
  }
  return message;
}

async function probeOnce(targets: InternalTargets, service: ServiceName) {
  try {
    const answer = await targets.transport(service, { method: 'GET', path: '/health' }, randomUUID());
    return healthVerdict(answer.status, answer.body);
  } catch (error) {
    return { ok: false, error: failureOf(error) };
  }
}

/** Each service's health, retried as the edge's smoke test is, for the seconds a moved alias takes to settle. */
export async function checkInternalHealth(
  targets: InternalTargets,
  services: readonly ServiceName[] = INTERNAL_SERVICES,
  options: InternalHealthOptions = {},
): Promise<InternalHealthResult[]> {
  const attempts = options.attempts ?? 10;
  const delayMs = options.delayMs ?? 3000;
  return Promise.all(
    services.map(async (service): Promise<InternalHealthResult> => {
      const target = targets.targetOf(service);
      let last: Awaited<ReturnType<typeof probeOnce>> = { ok: false };
      for (let attempt = 1; attempt <= attempts; attempt++) {
        last = await probeOnce(targets, service);
        if (last.ok) return { service, target, ok: true, attempts: attempt, status: last.status, ...(last.missing ? { missing: last.missing } : {}) };
        if (attempt < attempts) await new Promise((resolve) => setTimeout(resolve, delayMs));
      }
      return { service, target, ok: false, attempts, status: last.status, error: last.error };
    }),
  );
}
