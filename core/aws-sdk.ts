/**
 * The AWS SDK v3 clients, required on first use rather than at import: the Lambda runtime ships
 * them outside the bundle, and loading the S3 and SQS clients costs tens of milliseconds of
 * init that a service which never sends a message or reads a file should not pay.
 */
export const sqsSdk = (): typeof import('@aws-sdk/client-sqs') => require('@aws-sdk/client-sqs');
export const s3Sdk = (): typeof import('@aws-sdk/client-s3') => require('@aws-sdk/client-s3');
export const presignerSdk = (): typeof import('@aws-sdk/s3-request-presigner') => require('@aws-sdk/s3-request-presigner');
/** The default credentials chain, for what signs its own requests (the cache's IAM tokens, core/cache-auth.ts). */
export const credentialsSdk = (): typeof import('@aws-sdk/credential-provider-node') => require('@aws-sdk/credential-provider-node');

/** The bounds of one HTTP attempt of an AWS SDK client: the SDK's own default is no bound at all. */
export interface HttpTimeouts {
  /** TCP (and TLS) connect. */
  connectMs: number;
  /** From sending the request to the answer's headers; also the longest silence while a body streams. */
  requestMs: number;
}

/**
 * The SDK v3 `requestHandler` options for these bounds (NodeHttpHandler). `throwOnRequestTimeout`
 * is what makes `requestTimeout` fail the attempt: without it the SDK only logs a warning.
 */
export const requestHandlerOptions = (t: HttpTimeouts) => ({
  connectionTimeout: t.connectMs,
  requestTimeout: t.requestMs,
  socketTimeout: t.requestMs,
  throwOnRequestTimeout: true,
});
