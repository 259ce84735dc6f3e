import { CORE_LLM_TIMEOUT_SECONDS, PUBLIC_SERVICES, SERVICE_NAMES } from '../../core/contract';
import { INTERNAL_TIMEOUTS } from '../../core/internal-client';
import { environments } from '../../stacks/config';

/**
 * The internal client's bound and core-llm's local budget are derived from core-llm's timeout
 * (core/contract.ts); these hold the environments to it, so a timeout written there by hand, or
 * another internal service made slower, fails here instead of cutting answers off.
 */
describe.each(Object.values(environments).map((c) => [c.env, c] as const))('%s', (_env, config) => {
  test("core-llm's Lambda timeout is the contract's", () => {
    expect(config.lambdas['core-llm'].timeoutSeconds).toBe(CORE_LLM_TIMEOUT_SECONDS);
  });

  test('an internal call waits longer than any internal service may run', () => {
    for (const service of SERVICE_NAMES.filter((s) => !PUBLIC_SERVICES.has(s))) {
      expect(config.lambdas[service].timeoutSeconds * 1000).toBeLessThan(INTERNAL_TIMEOUTS.requestMs);
    }
  });
});
