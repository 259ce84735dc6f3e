import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { AppConfig, readConfig, recheckSecrets, resolveConfig, SecretFetcher } from '../../core/config';
import { toApiGatewayEvent } from '../../core/internal-client';
import { createApp } from '../../functions/core-llm/app';
import { toLambdaHandler } from '../../functions/shared/lambda';
import { createRuntime, Runtime } from '../../functions/shared/runtime';
import { GeminiStandIn, startGeminiStandIn } from '../support/stand-ins/gemini';

/**
 * core-llm while the Gemini key's secret has no value yet (the first deploy, before anyone put
 * it): every generation is a 503 naming GEMINI_SECRET_ARN, and none of them may take the
 * client's per-minute rate limit or the generation budget, or the first calls once the key is
 * put would be refused 429 for calls that never reached the model. Real Redis, the real SDK
 * against the Gemini stand-in.
 */
const ARN = 'arn:aws:secretsmanager:eu-west-3:123456789012:secret:docplatform-dev-gemini-api-key-AbCdEf';
const PREFIX = `test:llm-missing-key:${randomBytes(4).toString('hex')}:`;
const values = new Map<string, string>();
const secretsManager: SecretFetcher = async (id) => {
  const value = values.get(id);
  if (value !== undefined) return value;
  throw Object.assign(new Error("Secrets Manager can't find the specified secret value for staging label: AWSCURRENT"), { name: 'ResourceNotFoundException' });
};

let gemini: GeminiStandIn;
let config: AppConfig;
let runtime: Runtime;
let redis: Redis;

beforeAll(async () => {
  gemini = await startGeminiStandIn({ apiKey: 'put-later-key' });
  config = await resolveConfig(
    readConfig({
      APP_ENV: 'test',
      LOG_LEVEL: 'error',
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/unused',
      REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
      REDIS_KEY_PREFIX: PREFIX,
      GEMINI_SECRET_ARN: ARN,
      GEMINI_BASE_URL: gemini.url,
      LLM_RATE_LIMIT_PER_MINUTE: '1',
    }),
    secretsManager,
  );
  runtime = createRuntime('core-llm', config);
  redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
});
afterAll(async () => {
  const keys = await redis.keys(`${PREFIX}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
  await runtime.close();
  await gemini.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a generation refused for a key with no value takes nothing from the rate limit or the budget', async () => {
  const handler = toLambdaHandler(createApp(runtime));
  const clientId = '6f1c1d1e-0000-4000-8000-0000000000f1';
  let n = 0;
  const generate = async () => {
    n += 1;
    const event = toApiGatewayEvent({ method: 'POST', path: '/generate', body: { clientId, prompt: `Missing key call ${n} at ${Date.now()}.` } }, `req-missing-key-${n}`);
    const res = (await handler(event, { awsRequestId: `ctx-${n}`, getRemainingTimeInMillis: () => 30_000 })) as { statusCode: number; body: string };
    return { status: res.statusCode, code: (JSON.parse(res.body) as { error?: { code?: string } }).error?.code, message: (JSON.parse(res.body) as { error?: { message?: string } }).error?.message };
  };
  // All in one clock minute, the rate limit's window.
  const leftInMinute = 60_000 - (Date.now() % 60_000);
  if (leftInMinute < 15_000) await sleep(leftInMinute + 50);

  expect(config.missing).toEqual(['GEMINI_SECRET_ARN']);
  for (let i = 0; i < 3; i++) {
    expect(await generate()).toEqual({ status: 503, code: 'not_configured', message: 'GEMINI_SECRET_ARN has no value yet: this route needs it' });
  }
  expect(gemini.calls).toHaveLength(0);
  // Neither the client's minute (llm:rate:…) nor the budget's windows (llm:{budget}:…) were touched.
  expect((await redis.keys(`${PREFIX}llm:*`)).sort()).toEqual([]);

  values.set(ARN, 'put-later-key');
  expect(await recheckSecrets(config, secretsManager)).toEqual([]);
  // The client's one call of the minute is its first to reach the model.
  expect(await generate()).toMatchObject({ status: 200 });
  expect(gemini.calls).toEqual([expect.objectContaining({ apiKey: 'put-later-key' })]);
}, 40_000);
