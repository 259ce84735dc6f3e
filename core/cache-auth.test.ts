import { createHash, createHmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import type { SourceData } from '@smithy/types';
import { cacheAuthToken, CACHE_TOKEN_EXPIRES_SECONDS } from './cache-auth';
import { readConfig } from './config';
import { ConfigError } from './errors';
import { createLogger } from './logger';

const IAM = { user: 'docplatform-dev-core-llm', cacheName: 'docplatform-dev-cache', region: 'eu-west-3' };
const CREDENTIALS = {
  accessKeyId: 'ASIAEXAMPLEKEY12345',
  secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  // A session token's alphabet (base64: + / =) must come out percent-encoded.
  sessionToken: 'IQoJb3JpZ2luX2VjEB4aCWV1LXdlc3QtMyJHMEUCIQ+/Ab==',
};
const NOW = new Date('2026-12-02T10:15:30.123Z');

/** The SDK's signer, as AWS's examples sign the token, over node:crypto. */
const bytes = (d: SourceData) => (typeof d === 'string' ? d : d instanceof ArrayBuffer ? new Uint8Array(d) : new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
class NodeSha256 {
  private readonly h;
  constructor(secret?: SourceData) {
    this.h = secret ? createHmac('sha256', bytes(secret)) : createHash('sha256');
  }
  update(data: SourceData) {
    this.h.update(bytes(data));
  }
  async digest() {
    return new Uint8Array(this.h.digest());
  }
}

const params = (token: string) => {
  const url = new URL(`https://${token}`);
  return { host: url.host, path: url.pathname, query: Object.fromEntries(url.searchParams) };
};

test('the token is the documented pre-signed connect request without its scheme', () => {
  const token = cacheAuthToken(IAM, CREDENTIALS, NOW);
  expect(token.startsWith('docplatform-dev-cache/?')).toBe(true);
  expect(token).not.toMatch(/^https?:/);
  const { host, path, query } = params(token);
  expect({ host, path }).toEqual({ host: IAM.cacheName, path: '/' });
  expect(query).toEqual({
    Action: 'connect',
    User: IAM.user,
    ResourceType: 'ServerlessCache',
    'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
    'X-Amz-Credential': `${CREDENTIALS.accessKeyId}/20261202/eu-west-3/elasticache/aws4_request`,
    'X-Amz-Date': '20261202T101530Z',
    'X-Amz-Expires': '900',
    'X-Amz-SignedHeaders': 'host',
    'X-Amz-Security-Token': CREDENTIALS.sessionToken,
    'X-Amz-Signature': expect.stringMatching(/^[0-9a-f]{64}$/),
  });
  expect(CACHE_TOKEN_EXPIRES_SECONDS).toBe(900);
  expect(token).toContain('X-Amz-Credential=ASIAEXAMPLEKEY12345%2F20261202%2Feu-west-3%2Felasticache%2Faws4_request');
  expect(token).toContain(`X-Amz-Security-Token=${encodeURIComponent(CREDENTIALS.sessionToken)}`);
});

test.each([
  ['temporary credentials', CREDENTIALS],
  ['long-term keys (no session token)', { accessKeyId: 'AKIAEXAMPLEKEY12345', secretAccessKey: CREDENTIALS.secretAccessKey }],
])('it signs as the SDK signer does: %s', async (_name, credentials) => {
  const signer = new SignatureV4({ service: 'elasticache', region: IAM.region, credentials, sha256: NodeSha256 });
  const presigned = await signer.presign(
    {
      method: 'GET',
      protocol: 'https:',
      hostname: IAM.cacheName,
      path: '/',
      headers: { host: IAM.cacheName },
      query: { Action: 'connect', User: IAM.user, ResourceType: 'ServerlessCache' },
    },
    { expiresIn: 900, signingDate: NOW },
  );
  expect(params(cacheAuthToken(IAM, credentials, NOW)).query).toEqual(presigned.query);
});

test('another second, user or cache: another signature', () => {
  const signature = (token: string) => params(token).query['X-Amz-Signature'];
  const base = signature(cacheAuthToken(IAM, CREDENTIALS, NOW));
  expect(signature(cacheAuthToken(IAM, CREDENTIALS, new Date(NOW.getTime() + 1000)))).not.toBe(base);
  expect(signature(cacheAuthToken({ ...IAM, user: 'docplatform-prod-core-llm' }, CREDENTIALS, NOW))).not.toBe(base);
  expect(signature(cacheAuthToken({ ...IAM, cacheName: 'docplatform-prod-cache' }, CREDENTIALS, NOW))).not.toBe(base);
});

test("a log line never carries the token's signature, key or session token", () => {
  const token = cacheAuthToken(IAM, CREDENTIALS, NOW);
  const lines: string[] = [];
  const logger = createLogger({ service: 'core-llm' }, 'info', (line) => lines.push(line));
  logger.warn(`AUTH ${IAM.user} ${token} refused`, { token, password: token, auth: [IAM.user, token] });
  const signature = params(token).query['X-Amz-Signature'];
  for (const secret of [signature, CREDENTIALS.sessionToken, encodeURIComponent(CREDENTIALS.sessionToken), CREDENTIALS.accessKeyId]) {
    expect(lines.join('\n')).not.toContain(secret);
  }
});

test('REDIS_IAM_USER and REDIS_IAM_CACHE_NAME go together, with AWS_REGION; neither: no AUTH', () => {
  expect(readConfig({}).redis.iam).toBeUndefined();
  expect(readConfig({ REDIS_IAM_USER: IAM.user, REDIS_IAM_CACHE_NAME: IAM.cacheName, AWS_REGION: 'eu-west-3' }).redis.iam).toEqual(IAM);
  expect(() => readConfig({ REDIS_IAM_USER: IAM.user })).toThrow(new ConfigError('invalid configuration: REDIS_IAM_CACHE_NAME: required with REDIS_IAM_USER'));
  expect(() => readConfig({ REDIS_IAM_CACHE_NAME: IAM.cacheName })).toThrow(new ConfigError('invalid configuration: REDIS_IAM_USER: required with REDIS_IAM_CACHE_NAME'));
  expect(() => readConfig({ REDIS_IAM_USER: 'Core LLM', REDIS_IAM_CACHE_NAME: IAM.cacheName })).toThrow(/REDIS_IAM_USER/);
});
