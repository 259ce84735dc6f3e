import { randomBytes } from 'node:crypto';
import { readConfig, resolveConfig } from '../../core/config';
import { createRuntime, Runtime } from '../../functions/shared/runtime';
import { startGeminiStandIn, GeminiStandIn } from './stand-ins/gemini';

/**
 * core-llm's runtime as its Lambda builds it, over the local Redis (a key prefix of its own) and
 * the Gemini stand-in through the real SDK: for tests that drive the real app through the
 * Lambda adapter without the rest of the platform. `env` adds or overrides variables.
 */
export async function startCoreLlmRuntime(name: string, env: Record<string, string> = {}): Promise<{ gemini: GeminiStandIn; runtime: Runtime; close(): Promise<void> }> {
  const gemini = await startGeminiStandIn({ apiKey: 'test-gemini-key' });
  const config = await resolveConfig(
    readConfig({
      APP_ENV: 'test',
      LOG_LEVEL: 'error',
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/unused',
      REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      REDIS_KEY_PREFIX: `test:${name}:${randomBytes(4).toString('hex')}:`,
      GEMINI_API_KEY: 'test-gemini-key',
      GEMINI_BASE_URL: gemini.url,
      ...env,
    }),
  );
  const runtime = createRuntime('core-llm', config);
  return {
    gemini,
    runtime,
    close: async () => {
      await runtime.close();
      await gemini.close();
    },
  };
}
