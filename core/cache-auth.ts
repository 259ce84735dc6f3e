import { createHash, createHmac } from 'node:crypto';

/**
 * The token of ElastiCache's IAM authentication: the password of `AUTH <user> <token>` is a SigV4
 * pre-signed `GET https://<cache name>/?Action=connect&User=<user>&ResourceType=ServerlessCache`
 * for the service `elasticache`, without its scheme. Signed here with node:crypto: the SDK's
 * signer (@smithy/signature-v4) would add about 140 KiB to core-llm's bundle for these few
 * HMACs (core/cache-auth.test.ts checks both sign alike). A token is only checked when AUTH is
 * sent, so each connection signs its own, and no token outlives the 15 minutes it is valid for.
 */
export interface CacheIamSettings {
  /** The ElastiCache user (its id, which is also its name). */
  user: string;
  /** The serverless cache's name: the host the request is signed for. */
  cacheName: string;
  region: string;
}

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export type CredentialsProvider = () => Promise<AwsCredentials>;

/** The longest validity ElastiCache accepts for a token, and the one it documents. */
export const CACHE_TOKEN_EXPIRES_SECONDS = 900;

const SERVICE = 'elasticache';
const EMPTY_BODY_SHA256 = createHash('sha256').update('').digest('hex');

/** RFC 3986 encoding, which SigV4's canonical query requires (encodeURIComponent leaves !'()* as they are). */
const encode = (v: string) => encodeURIComponent(v).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest();

export function cacheAuthToken(settings: CacheIamSettings, credentials: AwsCredentials, now: Date): string {
  const amzDate = now.toISOString().replace(/[-:]|\.\d{3}/g, '');
  const day = amzDate.slice(0, 8);
  const scope = `${day}/${settings.region}/${SERVICE}/aws4_request`;
  const params: Record<string, string> = {
    Action: 'connect',
    User: settings.user,
    ResourceType: 'ServerlessCache',
    'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
    'X-Amz-Credential': `${credentials.accessKeyId}/${scope}`,
    'X-Amz-Date': amzDate,
    'X-Amz-Expires': String(CACHE_TOKEN_EXPIRES_SECONDS),
    'X-Amz-SignedHeaders': 'host',
  };
  if (credentials.sessionToken) params['X-Amz-Security-Token'] = credentials.sessionToken;
  const query = (extra: Record<string, string>) =>
    Object.entries({ ...params, ...extra })
      .map(([k, v]) => [encode(k), encode(v)])
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${k}=${v}`)
      .join('&');
  const canonicalRequest = ['GET', '/', query({}), `host:${settings.cacheName}\n`, 'host', EMPTY_BODY_SHA256].join('\n');
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonicalRequest).digest('hex')].join('\n');
  const key = [day, settings.region, SERVICE, 'aws4_request'].reduce<string | Buffer>((k, part) => hmac(k, part), `AWS4${credentials.secretAccessKey}`);
  const signature = createHmac('sha256', key).update(stringToSign).digest('hex');
  return `${settings.cacheName}/?${query({ 'X-Amz-Signature': signature })}`;
}
