import { readConfig, recheckSecrets, requireDatabase, requireSecret, resolveConfig, SECRET_RECHECK_SECONDS } from './config';
import { estimateTokens, MAX_PROMPT, windowLimits } from './domain/generation-budget';
import { AppError, ConfigError } from './errors';
import { createDb } from './db';
import { createStripe, webhookSecret } from './stripe';
import { orderTokenSecret } from './domain/order-tokens';

/**
 * Database settings are optional: a service that never connects (the gateways, core-llm) is given
 * none and reads no database secret; one that connects fails at start naming the variables.
 */
const RDS = { DB_HOST: 'db.example.internal', DB_NAME: 'docplatform', DB_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-3:123456789012:secret:docplatform-dev-db-app-AbCdEf' };
const noFetch = async (arn: string): Promise<string> => {
  throw new Error(`fetched ${arn}`);
};

test('no database variable: no database settings, and no database secret is read', async () => {
  const config = readConfig({ GEMINI_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-3:123456789012:secret:gemini' });
  expect(config.database).toBeUndefined();
  const fetched: string[] = [];
  const resolved = await resolveConfig(config, async (arn) => (fetched.push(arn), 'key'));
  expect(fetched).toEqual(['arn:aws:secretsmanager:eu-west-3:123456789012:secret:gemini']);
  expect(resolved.secrets.databaseCredentials).toBeUndefined();
});

test('DB_HOST, DB_NAME and DB_SECRET_ARN go together: a partial set names what is missing', () => {
  expect(() => readConfig({ DB_HOST: RDS.DB_HOST })).toThrow(new ConfigError('invalid configuration: DB_NAME, DB_SECRET_ARN: required with DB_HOST (or set DATABASE_URL)'));
  expect(() => readConfig({ DB_HOST: RDS.DB_HOST, DB_SECRET_ARN: RDS.DB_SECRET_ARN })).toThrow(/DB_NAME: required with DB_HOST, DB_SECRET_ARN/);
  expect(readConfig(RDS).database).toMatchObject({ host: RDS.DB_HOST, name: RDS.DB_NAME, secretArn: RDS.DB_SECRET_ARN, port: 5432, poolMax: 5 });
});

test('the RDS settings read the login of DB_SECRET_ARN at start', async () => {
  const resolved = await resolveConfig(readConfig(RDS), async () => JSON.stringify({ username: 'docplatform_app', password: 'p'.repeat(20) }));
  expect(resolved.secrets.databaseCredentials).toEqual({ username: 'docplatform_app', password: 'p'.repeat(20) });
});

test('DATABASE_APP_URL, when given, is what the process connects with; DATABASE_URL stays the owner’s', () => {
  const owner = 'postgres://postgres@127.0.0.1:5432/docplatform';
  const app = 'postgres://app_login:0123456789abcdef@127.0.0.1:5432/docplatform';
  expect(readConfig({ DATABASE_URL: owner }).database?.url).toBe(owner);
  expect(readConfig({ DATABASE_URL: owner, DATABASE_APP_URL: app }).database?.url).toBe(app);
  expect(() => readConfig({ DATABASE_APP_URL: 'mysql://x' })).toThrow(/DATABASE_APP_URL/);
});

test('a client that connects fails at start without database settings, naming the variables', async () => {
  const config = await resolveConfig(readConfig({}), noFetch);
  const message = 'invalid configuration: DATABASE_URL is required (or DB_HOST, DB_NAME and DB_SECRET_ARN together)';
  expect(() => requireDatabase(config)).toThrow(new ConfigError(message));
  expect(() => createDb(config)).toThrow(message);
});

describe('secrets without a value yet (created empty, not put)', () => {
  const notFound = async (): Promise<string> => {
    throw Object.assign(new Error("Secrets Manager can't find the specified secret value for staging label: AWSCURRENT"), { name: 'ResourceNotFoundException' });
  };
  const arns = { STRIPE_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-3:123456789012:secret:s', ORDER_TOKEN_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-3:123456789012:secret:o' };

  test('no version (ResourceNotFoundException) or a blank value: undefined and named in `missing`, not a start-up failure', async () => {
    const config = await resolveConfig(readConfig({ ...RDS, ...arns }), async (arn) => (arn === arns.ORDER_TOKEN_SECRET_ARN ? '  ' : notFound()));
    expect(config.missing).toEqual(['DB_SECRET_ARN', 'ORDER_TOKEN_SECRET_ARN', 'STRIPE_SECRET_ARN']);
    expect(config.secrets).toEqual({});
  });

  test('any other failure (access denied, Secrets Manager down) still fails the start-up, naming the variable', async () => {
    const denied = async (): Promise<string> => {
      throw Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' });
    };
    await expect(resolveConfig(readConfig(arns), denied)).rejects.toThrow(/cannot read secret (STRIPE_SECRET_ARN|ORDER_TOKEN_SECRET_ARN): not authorized/);
  });

  test('requireSecret: a 503 not_configured naming the ARN variable while it has no value, both variables when none is set', async () => {
    const config = await resolveConfig(readConfig(arns), notFound);
    expect(() => requireSecret(config, 'stripeSecretKey')).toThrow(new AppError(503, 'not_configured', 'STRIPE_SECRET_ARN has no value yet: this route needs it'));
    expect(() => createStripe(config)).toThrow('STRIPE_SECRET_ARN has no value yet');
    expect(() => orderTokenSecret(config)).toThrow('ORDER_TOKEN_SECRET_ARN has no value yet');
    const local = await resolveConfig(readConfig({}), noFetch);
    expect(() => webhookSecret(local)).toThrow('STRIPE_WEBHOOK_SECRET (or STRIPE_WEBHOOK_SECRET_ARN) is not set: this route needs it');
    const short = await resolveConfig(readConfig({ ORDER_TOKEN_SECRET_ARN: arns.ORDER_TOKEN_SECRET_ARN }), async () => 'too-short');
    expect(() => orderTokenSecret(short)).toThrow('ORDER_TOKEN_SECRET_ARN must be at least 32 characters: this route needs it');
    try {
      requireSecret(config, 'stripeSecretKey');
    } catch (err) {
      expect((err as AppError).retryAfter).toBe(SECRET_RECHECK_SECONDS);
    }
  });

  test('a database login with no value: connecting is a 503 naming DB_SECRET_ARN (a worker stops at start with it)', async () => {
    const config = await resolveConfig(readConfig(RDS), notFound);
    expect(() => createDb(config)).toThrow(new AppError(503, 'not_configured', 'DB_SECRET_ARN has no value yet: this route needs it'));
  });

  test('recheckSecrets reads only what is missing, in place, and keeps the config as it was when the read fails', async () => {
    const config = await resolveConfig(readConfig({ ...RDS, ...arns }), notFound);
    const secrets = config.secrets;
    const reads: string[] = [];
    await expect(recheckSecrets(config, async () => Promise.reject(new Error('down')))).rejects.toThrow('down');
    expect(config.missing).toHaveLength(3);
    const still = await recheckSecrets(config, async (arn) => (reads.push(arn), arn === arns.STRIPE_SECRET_ARN ? 'sk_live_x' : notFound()));
    expect(reads.sort()).toEqual([RDS.DB_SECRET_ARN, ...Object.values(arns)].sort());
    expect(still).toEqual(['DB_SECRET_ARN', 'ORDER_TOKEN_SECRET_ARN']);
    expect(config.missing).toBe(still);
    expect(config.secrets).toBe(secrets);
    expect(secrets.stripeSecretKey).toBe('sk_live_x');
  });
});

/**
 * core-llm's budget counts 10 s windows, rounding down (windowLimits): a quota or share whose
 * window cannot serve the longest prompt (20,000 characters: 5,000 tokens and the answer's 1,500)
 * would refuse generations for ever, so the reader refuses it at start, naming the workable bound.
 */
describe('the generation budget must leave every window one workable generation', () => {
  test('GEMINI_REQUESTS_PER_MINUTE below 6 rounds every window down to no request', () => {
    for (const rpm of ['1', '5']) {
      expect(() => readConfig({ GEMINI_REQUESTS_PER_MINUTE: rpm, LLM_INTERACTIVE_SHARE_PERCENT: '0' })).toThrow(
        new ConfigError('invalid configuration: GEMINI_REQUESTS_PER_MINUTE: must be at least 6: one request per 10 s budget window'),
      );
    }
    expect(windowLimits(readConfig({ GEMINI_REQUESTS_PER_MINUTE: '6', LLM_INTERACTIVE_SHARE_PERCENT: '0' }).llm.budget).requests).toBe(1);
  });

  test('GEMINI_TOKENS_PER_MINUTE below 39,000 leaves a window fewer tokens than the longest prompt is counted for', () => {
    for (const tpm of ['10000', '38999']) {
      expect(() => readConfig({ GEMINI_TOKENS_PER_MINUTE: tpm })).toThrow(
        new ConfigError("invalid configuration: GEMINI_TOKENS_PER_MINUTE: must be at least 39000: the longest prompt's 6500 tokens per 10 s budget window"),
      );
    }
    const limits = windowLimits(readConfig({ GEMINI_TOKENS_PER_MINUTE: '39000', LLM_INTERACTIVE_SHARE_PERCENT: '0' }).llm.budget);
    expect(limits.tokens).toBe(estimateTokens(MAX_PROMPT));
  });

  test('LLM_INTERACTIVE_SHARE_PERCENT may not leave batch rows less than a request and the longest prompt a window', () => {
    // 1,000 requests and 1,000,000 tokens a minute: 166,666 tokens a window; at 97% the batch part is 4,999 tokens.
    expect(() => readConfig({ LLM_INTERACTIVE_SHARE_PERCENT: '100' })).toThrow(
      new ConfigError(
        'invalid configuration: LLM_INTERACTIVE_SHARE_PERCENT: at most 96 with GEMINI_REQUESTS_PER_MINUTE=1000 and GEMINI_TOKENS_PER_MINUTE=1000000: ' +
          'a larger share leaves batch generations less than one request or 6500 tokens per budget window',
      ),
    );
    expect(() => readConfig({ LLM_INTERACTIVE_SHARE_PERCENT: '97' })).toThrow(/LLM_INTERACTIVE_SHARE_PERCENT: at most 96 /);
    expect(readConfig({ LLM_INTERACTIVE_SHARE_PERCENT: '96' }).llm.budget.interactiveSharePercent).toBe(96);
    // One request a window: any share keeps it for B2C, so only 0 leaves batch rows one.
    expect(() => readConfig({ GEMINI_REQUESTS_PER_MINUTE: '6' })).toThrow(/LLM_INTERACTIVE_SHARE_PERCENT: at most 0 with GEMINI_REQUESTS_PER_MINUTE=6 /);
  });
});
