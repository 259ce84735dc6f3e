import * as z from './zod';
import { AppError, ConfigError } from './errors';
import { ENV, SERVICE_NAMES, ServiceName, serviceFunctionVar, serviceUrlVar } from './contract';
import type { LogLevel } from './logger';
import type { CacheIamSettings } from './cache-auth';
import {
  BUDGET_WINDOW_MS,
  batchPartFits,
  type GenerationBudgetSettings,
  LARGEST_ESTIMATE,
  MIN_REQUESTS_PER_MINUTE,
  MIN_TOKENS_PER_MINUTE,
} from './domain/generation-budget';

/**
 * The one config loader of services and workers: it implements docs/runtime-config.md.
 * `readConfig` validates the environment synchronously (failing with a message naming the
 * variable); `loadConfig` adds the secrets, read from Secrets Manager when an ARN is given
 * and from the environment otherwise, once per process.
 */
export type Env = Record<string, string | undefined>;

const nonEmpty = (v: string | undefined): string | undefined => (v === '' ? undefined : v);

const boolFlag = z.pipe(z.enum(['true', 'false', '1', '0']), z.transform((v) => v === 'true' || v === '1'));
const url = (protocols: string[]) =>
  z.string().check(
    z.refine((v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    }, `must be a ${protocols.join(' or ')} URL`),
  );
const int = (min: number, max: number) => z.coerce.number().check(z.int(), z.minimum(min), z.maximum(max));
const positiveInt = int(1, 1000);

const WINDOW_SECONDS = BUDGET_WINDOW_MS / 1000;
/** An integer whose lower bound is explained: the message says why smaller values cannot work. */
const atLeast = (min: number, why: string, max: number) => z.coerce.number().check(z.int(), z.minimum(min, `must be at least ${min}: ${why}`), z.maximum(max));

const envSchema = z.object({
  [ENV.appEnv]: z._default(z.string().check(z.regex(/^[a-z][a-z0-9-]*$/)), 'local'),
  [ENV.logLevel]: z._default(z.enum(['debug', 'info', 'warn', 'error']), 'info'),
  [ENV.region]: z._default(z.string().check(z.minLength(1)), 'eu-west-3'),
  [ENV.awsEndpoint]: z.optional(url(['http:', 'https:'])),
  [ENV.s3ForcePathStyle]: z._default(boolFlag, false),
  [ENV.databaseUrl]: z.optional(url(['postgres:', 'postgresql:'])),
  [ENV.databaseAppUrl]: z.optional(url(['postgres:', 'postgresql:'])),
  [ENV.dbHost]: z.optional(z.string().check(z.minLength(1))),
  [ENV.dbPort]: z._default(int(1, 65535), 5432),
  [ENV.dbName]: z.optional(z.string().check(z.minLength(1))),
  [ENV.dbSecretArn]: z.optional(z.string().check(z.startsWith('arn:'))),
  [ENV.dbPoolMax]: z._default(positiveInt, 5),
  [ENV.dbConnectWaitMs]: z._default(int(0, 120000), 0),
  [ENV.redisUrl]: z._default(url(['redis:', 'rediss:']), 'redis://127.0.0.1:6379'),
  [ENV.redisKeyPrefix]: z._default(z.string().check(z.minLength(1)), 'docplatform:'),
  [ENV.redisIamUser]: z.optional(z.string().check(z.regex(/^[a-z][a-z0-9-]{0,39}$/))),
  [ENV.redisIamCacheName]: z.optional(z.string().check(z.regex(/^[a-z][a-z0-9-]{0,39}$/))),
  [ENV.docJobsQueueUrl]: z.optional(url(['http:', 'https:'])),
  [ENV.batchDocJobsQueueUrl]: z.optional(url(['http:', 'https:'])),
  [ENV.batchJobsQueueUrl]: z.optional(url(['http:', 'https:'])),
  [ENV.reportsBucket]: z._default(z.string().check(z.minLength(3)), 'reports'),
  [ENV.assetsBucket]: z._default(z.string().check(z.minLength(3)), 'assets'),
  [ENV.geminiApiKey]: z.optional(z.string().check(z.minLength(1))),
  [ENV.geminiSecretArn]: z.optional(z.string().check(z.startsWith('arn:'))),
  [ENV.geminiModel]: z._default(z.string().check(z.minLength(1)), 'gemini-2.5-flash'),
  [ENV.geminiBaseUrl]: z.optional(url(['http:', 'https:'])),
  GEMINI_TIMEOUT_MS: z._default(int(100, 120000), 20000),
  LLM_RATE_LIMIT_PER_MINUTE: z._default(int(1, 100000), 30),
  // Gemini's paid tier 1 quota for gemini-2.5-flash; each environment sets its own (stacks/config.ts).
  [ENV.geminiRequestsPerMinute]: z._default(atLeast(MIN_REQUESTS_PER_MINUTE, `one request per ${WINDOW_SECONDS} s budget window`, 1_000_000), 1000),
  [ENV.geminiTokensPerMinute]: z._default(
    atLeast(MIN_TOKENS_PER_MINUTE, `the longest prompt's ${LARGEST_ESTIMATE} tokens per ${WINDOW_SECONDS} s budget window`, 1_000_000_000),
    1_000_000,
  ),
  [ENV.llmInteractiveSharePercent]: z._default(int(0, 100), 10),
  [ENV.llmBatchMaxInFlight]: z._default(int(1, 100_000), 10),
  LLM_CACHE_TTL_SECONDS: z._default(int(1, 2592000), 604800),
  THEME_CACHE_TTL_SECONDS: z._default(int(0, 3600), 30),
  [ENV.stripeSecretKey]: z.optional(z.string().check(z.minLength(1))),
  [ENV.stripeSecretArn]: z.optional(z.string().check(z.startsWith('arn:'))),
  [ENV.stripeWebhookSecret]: z.optional(z.string().check(z.minLength(1))),
  [ENV.stripeWebhookSecretArn]: z.optional(z.string().check(z.startsWith('arn:'))),
  [ENV.stripeApiUrl]: z.optional(url(['http:', 'https:'])),
  [ENV.orderTokenSecret]: z.optional(z.string().check(z.minLength(32))),
  [ENV.orderTokenSecretArn]: z.optional(z.string().check(z.startsWith('arn:'))),
  [ENV.internalTransport]: z._default(z.enum(['http', 'lambda']), 'http'),
  [ENV.publicBaseUrl]: z._default(url(['http:', 'https:']), 'http://127.0.0.1:4200'),
});

const DbSecret = z.object({ username: z.string().check(z.minLength(1)), password: z.string().check(z.minLength(1)) });

export interface DatabaseSettings {
  /**
   * Full connection string (local): DATABASE_APP_URL when given (the application role; the
   * migrations use DATABASE_URL, the owner), else DATABASE_URL …
   */
  url?: string;
  /**
   * … or the RDS endpoint with the credentials of DB_SECRET_ARN (AWS: the application role's
   * login, `docplatform-<env>-db-app`; TLS verified).
   */
  host?: string;
  port: number;
  name?: string;
  secretArn?: string;
  poolMax: number;
  /**
   * Longest wait for a connection while the database does not answer, ms (core/db.ts): 0 answers
   * the first failure (an RDS instance does not sleep); the data stack sets it for an Aurora
   * cluster that pauses, whose first connection after a pause takes 15-30 s.
   */
  connectWaitMs?: number;
}

export interface SecretRef {
  value?: string;
  arn?: string;
}

/**
 * Refuses an interactive share that leaves batch rows nothing (they would be booked into later
 * windows for ever), naming the largest share the quota allows (0 always fits: the quota alone is
 * checked against one window by the schema).
 */
function checkInteractiveShare(settings: GenerationBudgetSettings): void {
  if (batchPartFits(settings)) return;
  let highest = settings.interactiveSharePercent - 1;
  while (highest > 0 && !batchPartFits({ ...settings, interactiveSharePercent: highest })) highest -= 1;
  throw new ConfigError(
    `invalid configuration: ${ENV.llmInteractiveSharePercent}: at most ${highest} with ${ENV.geminiRequestsPerMinute}=${settings.requestsPerMinute} and ` +
      `${ENV.geminiTokensPerMinute}=${settings.tokensPerMinute}: a larger share leaves batch generations less than one request or ${LARGEST_ESTIMATE} tokens per budget window`,
  );
}

/** Both variables or neither: a user without its cache (or the reverse) would sign tokens no cache accepts. */
function cacheIam(user: string | undefined, cacheName: string | undefined, region: string): CacheIamSettings | undefined {
  if (user === undefined && cacheName === undefined) return undefined;
  if (user === undefined) throw new ConfigError(`invalid configuration: ${ENV.redisIamUser}: required with ${ENV.redisIamCacheName}`);
  if (cacheName === undefined) throw new ConfigError(`invalid configuration: ${ENV.redisIamCacheName}: required with ${ENV.redisIamUser}`);
  return { user, cacheName, region };
}

export interface RuntimeConfig {
  appEnv: string;
  logLevel: LogLevel;
  aws: { region: string; endpoint?: string; s3ForcePathStyle: boolean };
  /**
   * Absent when no database variable is set: a service that never connects (the gateways,
   * core-llm) needs none and reads no database secret. A client that connects fails at start
   * without it (core/db.ts createDb).
   */
  database?: DatabaseSettings;
  /** `iam`: the cache user and cache of IAM authentication (ElastiCache), absent where Redis takes no AUTH (local runs, tests). */
  redis: { url: string; keyPrefix: string; iam?: CacheIamSettings };
  queues: { docJobsUrl?: string; batchDocJobsUrl?: string; batchJobsUrl?: string };
  buckets: { reports: string; assets: string };
  gemini: { apiKey: SecretRef; model: string; baseUrl?: string; timeoutMs: number };
  llm: { rateLimitPerMinute: number; cacheTtlSeconds: number; budget: GenerationBudgetSettings };
  /** How long a gateway keeps the active theme list in memory (0: ask the theme service every time). */
  themeCacheTtlSeconds: number;
  stripe: { secretKey: SecretRef; webhookSecret: SecretRef; apiUrl?: string };
  /** Key of the B2C order access tokens (HMAC of the order id), read by the order service. */
  orderTokenSecret: SecretRef;
  internal: {
    transport: 'http' | 'lambda';
    urls: Partial<Record<ServiceName, string>>;
    functions: Partial<Record<ServiceName, string>>;
  };
  publicBaseUrl: string;
}

/** RuntimeConfig with secret values resolved. */
export interface AppConfig extends RuntimeConfig {
  secrets: {
    geminiApiKey?: string;
    stripeSecretKey?: string;
    stripeWebhookSecret?: string;
    orderTokenSecret?: string;
    /** The login of DB_SECRET_ARN (the application role in AWS), present when it is set. */
    databaseCredentials?: { username: string; password: string };
  };
  /**
   * The secret settings whose ARN is given but whose secret has no value yet (created empty by
   * the data stack, not put yet), by variable name (`STRIPE_SECRET_ARN`). Not a start-up
   * failure: `/health` names them and only the routes that need one answer 503 (requireSecret);
   * `recheckSecrets` reads them again (the Lambda adapter, every SECRET_RECHECK_SECONDS).
   */
  missing: string[];
}

/** The secrets a route may require, and the variables that set each (the value, or its ARN). */
export type SecretKey = 'geminiApiKey' | 'stripeSecretKey' | 'stripeWebhookSecret' | 'orderTokenSecret';

export const SECRET_VARIABLES: Record<SecretKey | 'databaseCredentials', { value?: string; arn: string }> = {
  geminiApiKey: { value: 'GEMINI_API_KEY', arn: 'GEMINI_SECRET_ARN' },
  stripeSecretKey: { value: 'STRIPE_SECRET_KEY', arn: 'STRIPE_SECRET_ARN' },
  stripeWebhookSecret: { value: 'STRIPE_WEBHOOK_SECRET', arn: 'STRIPE_WEBHOOK_SECRET_ARN' },
  orderTokenSecret: { value: 'ORDER_TOKEN_SECRET', arn: 'ORDER_TOKEN_SECRET_ARN' },
  databaseCredentials: { arn: 'DB_SECRET_ARN' },
};

/**
 * How often a process that started with secrets missing reads them again, and the Retry-After of
 * the 503 a route that needs one answers: a value put with `aws secretsmanager put-secret-value`
 * is in use within this many seconds, without a deploy.
 */
export const SECRET_RECHECK_SECONDS = 30;

/** The 503 of a route whose setting has no value: names the setting, never a 502 or a 500. */
export function settingMissing(setting: string, detail = 'has no value yet'): AppError {
  return new AppError(503, 'not_configured', `${setting} ${detail}: this route needs it`, undefined, SECRET_RECHECK_SECONDS);
}

/** The variable to name for a secret that has no value: its ARN variable when one is given, else both. */
export function secretSetting(config: Pick<AppConfig, 'missing'>, key: SecretKey | 'databaseCredentials'): string {
  const { value, arn } = SECRET_VARIABLES[key];
  return config.missing.includes(arn) || !value ? arn : `${value} (or ${arn})`;
}

/** A secret a route needs; a 503 naming the setting (settingMissing) while it has no value. */
export function requireSecret(config: Pick<AppConfig, 'secrets' | 'missing'>, key: SecretKey): string {
  const value = config.secrets[key];
  if (value) return value;
  throw settingMissing(secretSetting(config, key), config.missing.includes(SECRET_VARIABLES[key].arn) ? 'has no value yet' : 'is not set');
}

function formatIssues(error: z.core.$ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || 'environment'}: ${i.message}`).join('; ');
}

/**
 * Validates the environment against a schema of variables, the one way every config section
 * (the shared variables here, the worker knobs in containers/shared) is read: unset and empty
 * variables both take the default, and a bad value fails with a message naming the variable.
 */
export function readEnv<S extends z.ZodMiniType>(schema: S, env: Env, what: string): z.infer<S> {
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(present);
  if (!parsed.success) throw new ConfigError(`invalid ${what}: ${formatIssues(parsed.error)}`);
  return parsed.data;
}

export function readConfig(env: Env = process.env): RuntimeConfig {
  const e = readEnv(envSchema, env, 'configuration');
  const databaseUrl = e.DATABASE_APP_URL ?? e.DATABASE_URL;
  const rds = { [ENV.dbHost]: e.DB_HOST, [ENV.dbName]: e.DB_NAME, [ENV.dbSecretArn]: e.DB_SECRET_ARN };
  const rdsMissing = Object.entries(rds).filter(([, v]) => v === undefined).map(([k]) => k);
  if (!databaseUrl && rdsMissing.length > 0 && rdsMissing.length < 3) {
    throw new ConfigError(`invalid configuration: ${rdsMissing.join(', ')}: required with ${Object.keys(rds).filter((k) => !rdsMissing.includes(k)).join(', ')} (or set DATABASE_URL)`);
  }
  const database: DatabaseSettings | undefined =
    databaseUrl || rdsMissing.length === 0
      ? { url: databaseUrl, host: e.DB_HOST, port: e.DB_PORT, name: e.DB_NAME, secretArn: e.DB_SECRET_ARN, poolMax: e.DB_POOL_MAX, connectWaitMs: e.DB_CONNECT_WAIT_MS }
      : undefined;
  const budget: GenerationBudgetSettings = {
    requestsPerMinute: e.GEMINI_REQUESTS_PER_MINUTE,
    tokensPerMinute: e.GEMINI_TOKENS_PER_MINUTE,
    interactiveSharePercent: e.LLM_INTERACTIVE_SHARE_PERCENT,
    batchMaxInFlight: e.LLM_BATCH_MAX_IN_FLIGHT,
  };
  checkInteractiveShare(budget);
  const urls: Partial<Record<ServiceName, string>> = {};
  const functions: Partial<Record<ServiceName, string>> = {};
  for (const name of SERVICE_NAMES) {
    const serviceUrl = nonEmpty(env[serviceUrlVar(name)]);
    if (serviceUrl !== undefined) {
      const check = url(['http:', 'https:']).safeParse(serviceUrl);
      if (!check.success) throw new ConfigError(`invalid configuration: ${serviceUrlVar(name)}: must be an http or https URL`);
      urls[name] = serviceUrl.replace(/\/+$/, '');
    }
    const fn = nonEmpty(env[serviceFunctionVar(name)]);
    if (fn !== undefined) functions[name] = fn;
  }
  return {
    appEnv: e.APP_ENV,
    logLevel: e.LOG_LEVEL,
    aws: { region: e.AWS_REGION, endpoint: e.AWS_ENDPOINT_URL, s3ForcePathStyle: e.S3_FORCE_PATH_STYLE },
    database,
    redis: { url: e.REDIS_URL, keyPrefix: e.REDIS_KEY_PREFIX, iam: cacheIam(e.REDIS_IAM_USER, e.REDIS_IAM_CACHE_NAME, e.AWS_REGION) },
    queues: { docJobsUrl: e.DOC_JOBS_QUEUE_URL, batchDocJobsUrl: e.BATCH_DOC_JOBS_QUEUE_URL, batchJobsUrl: e.BATCH_JOBS_QUEUE_URL },
    buckets: { reports: e.REPORTS_BUCKET, assets: e.ASSETS_BUCKET },
    gemini: { apiKey: { value: e.GEMINI_API_KEY, arn: e.GEMINI_SECRET_ARN }, model: e.GEMINI_MODEL, baseUrl: e.GEMINI_BASE_URL, timeoutMs: e.GEMINI_TIMEOUT_MS },
    llm: {
      rateLimitPerMinute: e.LLM_RATE_LIMIT_PER_MINUTE,
      cacheTtlSeconds: e.LLM_CACHE_TTL_SECONDS,
      budget,
    },
    themeCacheTtlSeconds: e.THEME_CACHE_TTL_SECONDS,
    stripe: {
      secretKey: { value: e.STRIPE_SECRET_KEY, arn: e.STRIPE_SECRET_ARN },
      webhookSecret: { value: e.STRIPE_WEBHOOK_SECRET, arn: e.STRIPE_WEBHOOK_SECRET_ARN },
      apiUrl: e.STRIPE_API_URL,
    },
    orderTokenSecret: { value: e.ORDER_TOKEN_SECRET, arn: e.ORDER_TOKEN_SECRET_ARN },
    internal: { transport: e.INTERNAL_TRANSPORT, urls, functions },
    publicBaseUrl: e.PUBLIC_BASE_URL.replace(/\/+$/, ''),
  };
}

/** The database settings of a process that connects; a ConfigError naming the variables when there are none. */
export function requireDatabase(config: Pick<RuntimeConfig, 'database'>): DatabaseSettings {
  if (!config.database) {
    throw new ConfigError(`invalid configuration: ${ENV.databaseUrl} is required (or ${ENV.dbHost}, ${ENV.dbName} and ${ENV.dbSecretArn} together)`);
  }
  return config.database;
}

export type SecretFetcher = (arn: string) => Promise<string>;

/** Reads a secret string from Secrets Manager; the SDK is loaded only when an ARN is configured. */
export const secretsManagerFetcher = (config: Pick<RuntimeConfig, 'aws'>): SecretFetcher => {
  let client: Promise<import('@aws-sdk/client-secrets-manager').SecretsManagerClient> | undefined;
  return async (arn) => {
    const sdk = await import('@aws-sdk/client-secrets-manager');
    client ??= Promise.resolve(new sdk.SecretsManagerClient({ region: config.aws.region, endpoint: config.aws.endpoint }));
    const out = await (await client).send(new sdk.GetSecretValueCommand({ SecretId: arn }));
    if (!out.SecretString) throw new ConfigError(`secret ${arn} has no string value`);
    return out.SecretString;
  };
};

/** A secret with no value is `missing`, not an error: created empty, its value not put yet. */
type Resolved = { value?: string; missing?: boolean };

/** Secrets Manager's answer for a secret that has no AWSCURRENT version (or no longer exists). */
const hasNoValue = (err: unknown): boolean => (err as Error)?.name === 'ResourceNotFoundException';

async function resolveSecret(ref: SecretRef, variable: string, fetch: SecretFetcher): Promise<Resolved> {
  if (ref.value !== undefined) return { value: ref.value };
  if (ref.arn === undefined) return {};
  let value: string;
  try {
    value = (await fetch(ref.arn)).trim();
  } catch (err) {
    if (hasNoValue(err)) return { missing: true };
    throw new ConfigError(`cannot read secret ${variable}: ${(err as Error).message}`);
  }
  return value === '' ? { missing: true } : { value };
}

function databaseCredentialsOf(text: string): AppConfig['secrets']['databaseCredentials'] {
  const parsed = DbSecret.safeParse(safeJson(text));
  if (!parsed.success) throw new ConfigError('secret DB_SECRET_ARN must be JSON with username and password');
  return parsed.data;
}

/** The refs of each secret of a config (the database login only when the process connects with DB_SECRET_ARN). */
function secretRefs(config: RuntimeConfig): Record<SecretKey | 'databaseCredentials', SecretRef> {
  return {
    geminiApiKey: config.gemini.apiKey,
    stripeSecretKey: config.stripe.secretKey,
    stripeWebhookSecret: config.stripe.webhookSecret,
    orderTokenSecret: config.orderTokenSecret,
    databaseCredentials: !config.database || config.database.url ? {} : { arn: config.database.secretArn },
  };
}

/**
 * Reads the secrets of the config. One whose secret has no value yet (Secrets Manager:
 * ResourceNotFoundException, no AWSCURRENT version; or an empty string) is left undefined and
 * named in `missing`; any other failure (access denied, Secrets Manager unreachable) fails the
 * start-up, which the Lambda adapter retries.
 */
export async function resolveConfig(config: RuntimeConfig, fetch: SecretFetcher = secretsManagerFetcher(config)): Promise<AppConfig> {
  const resolved: AppConfig = { ...config, secrets: {}, missing: [] };
  await readSecrets(resolved, Object.keys(SECRET_VARIABLES) as Array<keyof typeof SECRET_VARIABLES>, fetch);
  return resolved;
}

async function readSecrets(config: AppConfig, keys: Array<keyof typeof SECRET_VARIABLES>, fetch: SecretFetcher): Promise<void> {
  const refs = secretRefs(config);
  const results = await Promise.all(keys.map((key) => resolveSecret(refs[key], SECRET_VARIABLES[key].arn, fetch)));
  keys.forEach((key, i) => {
    const { value, missing } = results[i];
    const variable = SECRET_VARIABLES[key].arn;
    if (key === 'databaseCredentials') config.secrets.databaseCredentials = value === undefined ? undefined : databaseCredentialsOf(value);
    else config.secrets[key] = value;
    config.missing = config.missing.filter((v) => v !== variable);
    if (missing) config.missing.push(variable);
  });
  config.missing.sort();
}

/**
 * Reads again the secrets a config started without (`missing`), in place: the runtime built on
 * this config sees a value as soon as it is put. Returns the settings still missing. A failed
 * read leaves the config as it was and rejects.
 */
export async function recheckSecrets(config: AppConfig, fetch: SecretFetcher = secretsManagerFetcher(config)): Promise<string[]> {
  const keys = (Object.keys(SECRET_VARIABLES) as Array<keyof typeof SECRET_VARIABLES>).filter((key) => config.missing.includes(SECRET_VARIABLES[key].arn));
  if (keys.length === 0) return [];
  const copy: AppConfig = { ...config, secrets: { ...config.secrets }, missing: [...config.missing] };
  await readSecrets(copy, keys, fetch);
  Object.assign(config.secrets, copy.secrets);
  config.missing.splice(0, config.missing.length, ...copy.missing);
  return config.missing;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

let cached: Promise<AppConfig> | undefined;

/** The process-wide config, validated and with its secrets, read once. */
export function loadConfig(env: Env = process.env): Promise<AppConfig> {
  cached ??= Promise.resolve()
    .then(() => resolveConfig(readConfig(env)))
    .catch((err) => {
      cached = undefined;
      throw err;
    });
  return cached;
}
