import { posix } from 'node:path';
import { EDGE_HEADERS, ORIGIN_SECRET_KEY } from '../core/contract';

/**
 * What the edge does to each request and answer, in one place for the three that need it: the
 * edge stack deploys it (stacks/edge.ts), `publish:frontend` stores the front end with its
 * headers (scripts/release/publish-frontend.ts), and the local edge of `npm run dev` executes
 * the very same function code and applies the same headers (scripts/local/edge/).
 */

// A path whose last segment has no extension is an Angular route: serve the app shell.
// Done in a viewer-request function rather than with 403/404 custom error responses, which
// apply to the whole distribution and would turn API 404s into `index.html` with status 200.
export const SPA_REWRITE = `function handler(event) {
  var request = event.request;
  var last = request.uri.substring(request.uri.lastIndexOf('/') + 1);
  if (last.indexOf('.') === -1) {
    request.uri = '/index.html';
  }
  return request;
}`;

// The browser calls /api/b2c/...; the API Gateway stage serves /b2c/... The function also writes
// the two headers the API's web ACL reads (modules/web-acl.ts), over anything the client sent:
// the viewer's address, which the rate rule counts, and the origin secret from the key value
// store, without which the API refuses the request. The secret is put into the store out of band
// (docs/deploy.md), so it is in no plan and no state; while the key is missing the header stays
// out and the API stays closed.
export const API_REQUEST = `import cf from 'cloudfront';
const kvs = cf.kvs();

async function handler(event) {
  var request = event.request;
  request.uri = request.uri.replace(/^\\/api(?=\\/)/, '');
  request.headers['${EDGE_HEADERS.clientIp}'] = { value: event.viewer.ip };
  delete request.headers['${EDGE_HEADERS.originVerify}'];
  try {
    request.headers['${EDGE_HEADERS.originVerify}'] = { value: await kvs.get('${ORIGIN_SECRET_KEY}') };
  } catch (e) {
    // No secret in the store: forwarded without one, refused by the API.
  }
  return request;
}`;

/** The path the API behaviour takes (everything else is the front end's bucket). */
export const API_PATH_PATTERN = '/api/*';

/** The longest URL (path and query) CloudFront takes, a quota it does not raise; a longer one is its 413. */
export const MAX_URL_BYTES = 8_192;

/** The longest request CloudFront takes, its request line and headers (the body aside), a quota it does not raise; a longer one is its 413. */
export const MAX_REQUEST_BYTES = 20_480;

/** AWS managed policies, referenced by id (they are global and never change). */
export const MANAGED_POLICY = {
  cachingOptimized: '658327ea-f89d-4fab-a63d-7e88639e58f6',
  cachingDisabled: '4135ea2d-6df8-44a3-9df3-4b5a84be39ad',
  allViewerExceptHostHeader: 'b689b0a8-53d0-40ab-baf2-68738e2966ac',
} as const;

/**
 * The encodings each managed cache policy lets CloudFront compress in (its Gzip and Brotli
 * settings), Brotli first as CloudFront prefers it: a behaviour's `compress` acts only under a
 * policy that enables one, so `/api/*`, uncached, is never compressed by the edge.
 */
export const CACHE_POLICY_ENCODINGS: Record<string, readonly ('br' | 'gzip')[]> = {
  [MANAGED_POLICY.cachingOptimized]: ['br', 'gzip'],
  [MANAGED_POLICY.cachingDisabled]: [],
};

/** What the two cache behaviours of the distribution take and do, deployed by the edge stack and executed by the local edge. */
export interface EdgeBehaviour {
  allowedMethods: readonly string[];
  cachedMethods: readonly string[];
  cachePolicyId: string;
  originRequestPolicyId?: string;
  compress: boolean;
}

/** The default behaviour: the front end's bucket, cached. OPTIONS is allowed and reaches S3, which has no CORS rule to answer it with. */
export const FRONTEND_BEHAVIOUR: EdgeBehaviour = {
  allowedMethods: ['GET', 'HEAD', 'OPTIONS'],
  cachedMethods: ['GET', 'HEAD'],
  cachePolicyId: MANAGED_POLICY.cachingOptimized,
  compress: true,
};

/** `/api/*`: every method to the API, uncached, with all viewer headers but Host. */
export const API_BEHAVIOUR: EdgeBehaviour = {
  allowedMethods: ['GET', 'HEAD', 'OPTIONS', 'PUT', 'POST', 'PATCH', 'DELETE'],
  cachedMethods: ['GET', 'HEAD'],
  cachePolicyId: MANAGED_POLICY.cachingDisabled,
  originRequestPolicyId: MANAGED_POLICY.allViewerExceptHostHeader,
  compress: true,
};

/**
 * What CloudFront compresses (its developer guide, "Serving compressed files"): an answer with one
 * of these content types, a Content-Length of 1,000 to 10,000,000 bytes and no Content-Encoding.
 */
export const COMPRESSIBLE_CONTENT_TYPES: ReadonlySet<string> = new Set([
  'application/dash+xml',
  'application/eot',
  'application/font',
  'application/font-sfnt',
  'application/javascript',
  'application/json',
  'application/opentype',
  'application/otf',
  'application/pkcs7-mime',
  'application/protobuf',
  'application/rss+xml',
  'application/truetype',
  'application/ttf',
  'application/vnd.apple.mpegurl',
  'application/vnd.ms-fontobject',
  'application/xhtml+xml',
  'application/xml',
  'application/x-font-opentype',
  'application/x-font-truetype',
  'application/x-font-ttf',
  'application/x-httpd-cgi',
  'application/x-javascript',
  'application/x-mpegurl',
  'application/x-opentype',
  'application/x-otf',
  'application/x-perl',
  'application/x-ttf',
  'font/eot',
  'font/opentype',
  'font/otf',
  'font/ttf',
  'image/svg+xml',
  'text/css',
  'text/csv',
  'text/html',
  'text/javascript',
  'text/js',
  'text/plain',
  'text/richtext',
  'text/tab-separated-values',
  'text/xml',
  'text/x-component',
  'text/x-java-source',
  'text/x-script',
  'vnd.apple.mpegurl',
]);
export const COMPRESSIBLE_BYTES = { min: 1_000, max: 10_000_000 } as const;

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  // Angular injects component styles at run time.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** The response headers policy's security headers, as the provider's `securityHeadersConfig` takes them. */
export const SECURITY_HEADERS_CONFIG = {
  strictTransportSecurity: { accessControlMaxAgeSec: 63_072_000, includeSubdomains: true, preload: true, override: true },
  contentTypeOptions: { override: true },
  frameOptions: { frameOption: 'DENY', override: true },
  referrerPolicy: { referrerPolicy: 'strict-origin-when-cross-origin', override: true },
  contentSecurityPolicy: { contentSecurityPolicy: CONTENT_SECURITY_POLICY, override: true },
} as const;

/**
 * The headers that policy writes on every answer, front end and API alike (`override`: over
 * whatever the origin sent), as CloudFront sends them.
 */
export const SECURITY_RESPONSE_HEADERS: Record<string, string> = {
  'strict-transport-security': `max-age=${SECURITY_HEADERS_CONFIG.strictTransportSecurity.accessControlMaxAgeSec}; includeSubDomains; preload`,
  'x-content-type-options': 'nosniff',
  'x-frame-options': SECURITY_HEADERS_CONFIG.frameOptions.frameOption,
  'referrer-policy': SECURITY_HEADERS_CONFIG.referrerPolicy.referrerPolicy,
  'content-security-policy': CONTENT_SECURITY_POLICY,
};

/** Hashed bundles never change under their name: cached for a year. */
export const IMMUTABLE_CACHE = 'public, max-age=31536000, immutable';
/** Everything else (`index.html` first of all) is revalidated on every load. */
export const NO_CACHE = 'no-cache';

/** Angular's esbuild builder names outputs `name-HASH8.ext` (upper-case base32); webpack used `name.hex16+.ext`. */
export const HASHED_NAME = /(?:-[A-Z0-9]{8}|\.[a-f0-9]{16,32})\.[A-Za-z0-9]+$/;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.xml': 'application/xml',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.avif': 'image/avif',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
};

/** The Content-Type a front-end file is stored and served with. */
export const contentTypeOf = (key: string): string => CONTENT_TYPES[posix.extname(key).toLowerCase()] ?? 'application/octet-stream';

/** The Cache-Control a front-end file is stored and served with. */
export const cacheControlOf = (key: string): string => (HASHED_NAME.test(key) ? IMMUTABLE_CACHE : NO_CACHE);
