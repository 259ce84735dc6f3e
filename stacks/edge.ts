import { Construct } from 'constructs';
import { Lazy, TerraformOutput, TerraformStack } from 'cdktf';
import {
  CloudfrontDistribution,
  CloudfrontDistributionOrderedCacheBehavior,
  CloudfrontDistributionOrigin,
} from '@cdktf/provider-aws/lib/cloudfront-distribution';
import { CloudfrontOriginAccessControl } from '@cdktf/provider-aws/lib/cloudfront-origin-access-control';
import { CloudfrontResponseHeadersPolicy } from '@cdktf/provider-aws/lib/cloudfront-response-headers-policy';
import { CloudfrontFunction } from '@cdktf/provider-aws/lib/cloudfront-function';
import { CloudfrontKeyValueStore } from '@cdktf/provider-aws/lib/cloudfront-key-value-store';
import { EnvironmentConfig, namePrefix } from './config';
import { useS3Backend } from './backend';
import { awsProvider } from './provider';
import { SecureBucket } from '../modules/secure-bucket';
import { API_BEHAVIOUR, API_PATH_PATTERN, API_REQUEST, EdgeBehaviour, FRONTEND_BEHAVIOUR, SECURITY_HEADERS_CONFIG, SPA_REWRITE } from '../modules/edge-behaviour';

/** A behaviour of modules/edge-behaviour.ts as the provider takes it. */
const behaviourConfig = (b: EdgeBehaviour) => ({ ...b, allowedMethods: [...b.allowedMethods], cachedMethods: [...b.cachedMethods] });

export interface ApiOrigin {
  /** Host name of the regional API (`<id>.execute-api.<region>.amazonaws.com`). */
  domainName: string;
  /** Stage name, with or without slashes. */
  stagePath: string;
}

/**
 * The Angular front end: a private bucket read only by this distribution through Origin
 * Access Control, security response headers on every response, and optionally `/api/*`
 * forwarded uncached to the API Gateway so the browser sees one origin (no CORS). The API takes
 * requests from this distribution only: they carry the origin secret from the key value store.
 */
export class EdgeStack extends TerraformStack {
  constructor(scope: Construct, id: string, config: EnvironmentConfig, api?: ApiOrigin) {
    super(scope, id);
    const layer = 'edge';
    awsProvider(this, config, layer);
    useS3Backend(this, config.env, layer);
    const prefix = namePrefix(config.env);
    const { edge } = config;
    if (edge.domainNames.length > 0 && !edge.certificateArn) {
      throw new Error('edge.certificateArn: required (an ACM certificate in us-east-1) when edge.domainNames is set');
    }
    if (edge.apiBehaviour && !api) {
      throw new Error('edge.apiBehaviour: the edge stack needs the API origin (domainName, stagePath) of the compute stack');
    }

    const oac = new CloudfrontOriginAccessControl(this, 'oac', {
      name: `${prefix}-spa`,
      description: 'CloudFront reads the SPA bucket with SigV4',
      originAccessControlOriginType: 's3',
      signingBehavior: 'always',
      signingProtocol: 'sigv4',
    });

    const headers = new CloudfrontResponseHeadersPolicy(this, 'security-headers', {
      name: `${prefix}-security-headers`,
      comment: 'HSTS, CSP, nosniff, frame DENY, referrer policy',
      securityHeadersConfig: SECURITY_HEADERS_CONFIG,
    });

    const cfFunction = (name: string, comment: string, code: string, keyValueStoreArn?: string) =>
      new CloudfrontFunction(this, name, {
        name: `${prefix}-${name}`,
        comment,
        runtime: 'cloudfront-js-2.0',
        code,
        publish: true,
        keyValueStoreAssociations: keyValueStoreArn ? [keyValueStoreArn] : undefined,
      });
    const spaRewrite = cfFunction('spa-rewrite', 'Angular routes to /index.html', SPA_REWRITE);

    const spaOriginId = 'spa-bucket';
    const apiOriginId = 'api-gateway';
    // The bucket policy names the distribution and the distribution names the bucket: the ARN
    // is filled in lazily, once the distribution exists.
    let distribution: CloudfrontDistribution | undefined;
    const distributionArn = Lazy.stringValue({ produce: () => distribution?.arn });
    const spa = new SecureBucket(this, 'spa', {
      bucketPrefix: `${prefix}-spa-`,
      // Build files are small (< 128 KB objects are never tiered) and replaced on every deploy.
      intelligentTiering: false,
      noncurrentVersionDays: 30,
      forceDestroy: config.teardown.destroyWithContents,
      extraStatements: (arn) => [
        {
          sid: 'AllowCloudFrontRead',
          principal: { Service: 'cloudfront.amazonaws.com' },
          actions: ['s3:GetObject'],
          resources: [`${arn}/*`],
          conditions: { StringEquals: { 'AWS:SourceArn': distributionArn } },
          scalar: ['actions', 'resources'],
        },
      ],
    });

    const apiBehaviour: CloudfrontDistributionOrderedCacheBehavior[] = [];
    const origins: CloudfrontDistributionOrigin[] = [
      { originId: spaOriginId, domainName: spa.bucket.bucketRegionalDomainName, originAccessControlId: oac.id },
    ];
    if (edge.apiBehaviour && api) {
      const stage = api.stagePath.replace(/^\/+|\/+$/g, '');
      origins.push({
        originId: apiOriginId,
        domainName: api.domainName,
        originPath: stage ? `/${stage}` : undefined,
        customOriginConfig: {
          httpPort: 80,
          httpsPort: 443,
          originProtocolPolicy: 'https-only',
          originSslProtocols: ['TLSv1.2'],
          originReadTimeout: 30,
        },
      });
      // Holds the origin secret only: the key is written out of band, never by Terraform.
      const store = new CloudfrontKeyValueStore(this, 'edge-store', { name: `${prefix}-edge`, comment: 'Origin secret the API requires (key origin-verify, put out of band)' });
      const stripPrefix = cfFunction('api-prefix', 'Strip /api, add the viewer address and the origin secret', API_REQUEST, store.arn);
      apiBehaviour.push({
        pathPattern: API_PATH_PATTERN,
        targetOriginId: apiOriginId,
        viewerProtocolPolicy: 'https-only',
        ...behaviourConfig(API_BEHAVIOUR),
        responseHeadersPolicyId: headers.id,
        functionAssociation: [{ eventType: 'viewer-request', functionArn: stripPrefix.arn }],
      });
    }

    distribution = new CloudfrontDistribution(this, 'distribution', {
      enabled: true,
      comment: `${prefix} front end`,
      isIpv6Enabled: true,
      httpVersion: 'http2and3',
      priceClass: edge.priceClass,
      defaultRootObject: 'index.html',
      aliases: edge.domainNames.length > 0 ? edge.domainNames : undefined,
      origin: origins,
      defaultCacheBehavior: {
        targetOriginId: spaOriginId,
        viewerProtocolPolicy: 'redirect-to-https',
        ...behaviourConfig(FRONTEND_BEHAVIOUR),
        responseHeadersPolicyId: headers.id,
        functionAssociation: [{ eventType: 'viewer-request', functionArn: spaRewrite.arn }],
      },
      orderedCacheBehavior: apiBehaviour.length > 0 ? apiBehaviour : undefined,
      restrictions: { geoRestriction: { restrictionType: 'none' } },
      viewerCertificate: edge.certificateArn
        ? { acmCertificateArn: edge.certificateArn, sslSupportMethod: 'sni-only', minimumProtocolVersion: 'TLSv1.2_2021' }
        : { cloudfrontDefaultCertificate: true },
    });

    new TerraformOutput(this, 'spa_bucket', { value: spa.bucket.bucket });
    new TerraformOutput(this, 'distribution_id', { value: distribution.id });
    new TerraformOutput(this, 'url', { value: `https://${distribution.domainName}` });
  }
}
