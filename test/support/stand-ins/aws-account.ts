import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { AddressInfo } from 'node:net';

/**
 * A local stand-in for the read-only account APIs `npm run preflight` calls, one HTTP server for
 * all of them, spoken to by the real AWS SDK clients through an endpoint override. Each request is
 * routed by the service of its SigV4 credential scope (`…/<region>/<service>/aws4_request`), then
 * answered in that service's own protocol:
 *
 * | service | protocol | operations |
 * |---|---|---|
 * | sts | query, XML | GetCallerIdentity |
 * | iam | query, XML | ListOpenIDConnectProviders, GetOpenIDConnectProvider |
 * | s3 | REST, XML (path style) | HeadBucket (301 + x-amz-bucket-region from the wrong region), GetBucketVersioning, GetBucketTagging |
 * | lambda | REST, JSON | GetAccountSettings, GetFunctionConcurrency |
 * | servicequotas | JSON 1.1 | GetServiceQuota, GetAWSDefaultServiceQuota |
 * | ec2 | EC2 query, XML | DescribeAddresses |
 * | acm | JSON 1.1 | ListCertificates (keyTypes filter defaulting to RSA as AWS does), DescribeCertificate |
 * | ce | JSON 1.1 | ListCostAllocationTags |
 * | secretsmanager | JSON 1.1 | DescribeSecret |
 *
 * Shapes follow the API references; pages are small so paging is exercised. The account is a
 * plain object the test edits between runs (`denied` refuses operations as IAM would);
 * `requests` records `service region operation`.
 */

export interface Bucket {
  /** `other`: owned by another account (HeadBucket 403). */
  owner: 'us' | 'other';
  region: string;
  versioning?: 'Enabled' | 'Suspended';
  tags?: Record<string, string>;
}

export interface Certificate {
  arn: string;
  domainName: string;
  /** Every name, the domain name included, as ACM lists them. */
  subjectAlternativeNames: string[];
  status: 'ISSUED' | 'PENDING_VALIDATION' | 'EXPIRED' | 'FAILED' | 'INACTIVE' | 'REVOKED' | 'VALIDATION_TIMED_OUT';
  keyAlgorithm: string;
}

export interface Secret {
  versions: Array<{ id: string; stages: string[] }>;
  /** Set: scheduled for deletion. */
  deletedDate?: Date;
}

export interface Account {
  accountId: string;
  callerArn: string;
  /** Every request is refused with this STS error code (e.g. ExpiredToken). */
  credentialsError?: string;
  oidcProviders: Array<{ url: string; clientIds: string[]; tags: Record<string, string> }>;
  buckets: Record<string, Bucket>;
  lambda: {
    concurrentExecutions: number;
    unreservedConcurrentExecutions: number;
    /** Reserved concurrency of existing functions, by name; `null`: exists without a reservation. */
    functions: Record<string, number | null>;
  };
  /** Applied quota values by `service/code`; absent → GetServiceQuota answers NoSuchResourceException. */
  quotas: Record<string, number>;
  /** AWS default values by `service/code`. */
  defaultQuotas: Record<string, number>;
  addresses: Array<{ allocationId: string; publicIp: string; associationId?: string; tags?: Record<string, string> }>;
  /** us-east-1 certificates (the only region CloudFront takes them from). */
  certificates: Certificate[];
  costAllocationTags: Array<{ key: string; type: 'UserDefined' | 'AWSGenerated'; status: 'Active' | 'Inactive' }>;
  /** ListCostAllocationTags refused (a member account of an AWS Organization). */
  costExplorerDenied?: boolean;
  secrets: Record<string, Secret>;
  /** Operations refused with AccessDenied, in their service's protocol: the action, or `METHOD path` for the REST APIs (as in `requests`). */
  denied?: string[];
}

export interface AwsAccountStandIn {
  endpoint: string;
  account: Account;
  /** `service region operation`, in arrival order. */
  requests: string[];
  close(): Promise<void>;
}

const PAGE = 2;
const ID = 'standin-request';

const xmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function send(res: ServerResponse, status: number, contentType: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': contentType, 'x-amzn-requestid': ID, 'x-amz-request-id': ID, ...headers }).end(body);
}

const xml = (res: ServerResponse, body: string, status = 200) => send(res, status, 'text/xml', `<?xml version="1.0" encoding="UTF-8"?>\n${body}`);

const queryResult = (action: string, namespace: string, inner: string) =>
  `<${action}Response xmlns="${namespace}"><${action}Result>${inner}</${action}Result><ResponseMetadata><RequestId>${ID}</RequestId></ResponseMetadata></${action}Response>`;

const queryError = (res: ServerResponse, status: number, code: string, message: string) =>
  xml(res, `<ErrorResponse><Error><Type>Sender</Type><Code>${code}</Code><Message>${xmlEscape(message)}</Message></Error><RequestId>${ID}</RequestId></ErrorResponse>`, status);

const json = (res: ServerResponse, body: unknown, contentType = 'application/x-amz-json-1.1') => send(res, 200, contentType, JSON.stringify(body));

const jsonError = (res: ServerResponse, status: number, type: string, message: string, contentType = 'application/x-amz-json-1.1') =>
  send(res, status, contentType, JSON.stringify({ __type: type, message }), { 'x-amzn-errortype': type });

async function readBody(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req) text += chunk;
  return text;
}

/** `Credential=AKID/20261201/eu-west-3/sts/aws4_request` → region and service. */
function scope(req: IncomingMessage): { region: string; service: string } {
  const match = /Credential=[^/]+\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request/.exec(String(req.headers.authorization ?? ''));
  return match ? { region: match[1], service: match[2] } : { region: '?', service: '?' };
}

/** A page of `items` from the token `start` (an index), and the next token. */
function page<T>(items: T[], token: string | undefined, size = PAGE): { items: T[]; next?: string } {
  const start = Number(token ?? 0);
  const next = start + size < items.length ? String(start + size) : undefined;
  return { items: items.slice(start, start + size), next };
}

export async function startAwsAccountStandIn(account: Account): Promise<AwsAccountStandIn> {
  const requests: string[] = [];
  const state = { account };

  const sts = (res: ServerResponse, params: URLSearchParams) => {
    if (params.get('Action') !== 'GetCallerIdentity') return queryError(res, 400, 'InvalidAction', `stand-in does not serve ${params.get('Action')}`);
    const a = state.account;
    xml(res, queryResult('GetCallerIdentity', 'https://sts.amazonaws.com/doc/2011-06-15/', `<Arn>${a.callerArn}</Arn><UserId>AIDASTANDIN</UserId><Account>${a.accountId}</Account>`));
  };

  const iam = (res: ServerResponse, params: URLSearchParams) => {
    const ns = 'https://iam.amazonaws.com/doc/2010-05-08/';
    const a = state.account;
    const arn = (url: string) => `arn:aws:iam::${a.accountId}:oidc-provider/${url}`;
    switch (params.get('Action')) {
      case 'ListOpenIDConnectProviders': {
        const members = a.oidcProviders.map((p) => `<member><Arn>${arn(p.url)}</Arn></member>`).join('');
        return xml(res, queryResult('ListOpenIDConnectProviders', ns, `<OpenIDConnectProviderList>${members}</OpenIDConnectProviderList>`));
      }
      case 'GetOpenIDConnectProvider': {
        const provider = a.oidcProviders.find((p) => arn(p.url) === params.get('OpenIDConnectProviderArn'));
        if (!provider) return queryError(res, 404, 'NoSuchEntity', `OpenIDConnect Provider not found for arn ${params.get('OpenIDConnectProviderArn')}`);
        const members = (values: string[]) => values.map((v) => `<member>${xmlEscape(v)}</member>`).join('');
        const tags = Object.entries(provider.tags).map(([k, v]) => `<member><Key>${k}</Key><Value>${xmlEscape(v)}</Value></member>`).join('');
        return xml(
          res,
          queryResult(
            'GetOpenIDConnectProvider',
            ns,
            `<ThumbprintList></ThumbprintList><CreateDate>2024-01-01T00:00:00Z</CreateDate><ClientIDList>${members(provider.clientIds)}</ClientIDList><Url>${provider.url}</Url><Tags>${tags}</Tags>`,
          ),
        );
      }
      default:
        return queryError(res, 400, 'InvalidAction', `stand-in does not serve ${params.get('Action')}`);
    }
  };

  const s3 = (req: IncomingMessage, res: ServerResponse, url: URL, region: string) => {
    const s3Error = (status: number, code: string, message: string) =>
      req.method === 'HEAD'
        ? res.writeHead(status, { 'x-amz-request-id': ID }).end()
        : xml(res, `<Error><Code>${code}</Code><Message>${message}</Message><RequestId>${ID}</RequestId></Error>`, status);
    const name = decodeURIComponent(url.pathname.split('/')[1] ?? '');
    const bucket = state.account.buckets[name];
    if (!bucket) return s3Error(404, 'NoSuchBucket', 'The specified bucket does not exist');
    if (bucket.owner === 'other') return s3Error(403, 'AccessDenied', 'Access Denied');
    if (bucket.region !== region) {
      // What S3 answers a request signed for another region than the bucket's.
      res.writeHead(301, { 'x-amz-bucket-region': bucket.region, 'x-amz-request-id': ID, 'content-type': 'application/xml' });
      return res.end(req.method === 'HEAD' ? undefined : `<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed using the specified endpoint.</Message></Error>`);
    }
    if (req.method === 'HEAD') return res.writeHead(200, { 'x-amz-bucket-region': bucket.region, 'x-amz-request-id': ID }).end();
    if (url.searchParams.has('versioning')) {
      const status = bucket.versioning ? `<Status>${bucket.versioning}</Status>` : '';
      return xml(res, `<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${status}</VersioningConfiguration>`);
    }
    if (url.searchParams.has('tagging')) {
      if (!bucket.tags || Object.keys(bucket.tags).length === 0) return s3Error(404, 'NoSuchTagSet', 'The TagSet does not exist');
      const tags = Object.entries(bucket.tags).map(([k, v]) => `<Tag><Key>${k}</Key><Value>${xmlEscape(v)}</Value></Tag>`).join('');
      return xml(res, `<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>${tags}</TagSet></Tagging>`);
    }
    return s3Error(400, 'NotImplemented', `stand-in does not serve ${req.method} ${url.pathname}${url.search}`);
  };

  const lambda = (req: IncomingMessage, res: ServerResponse, path: string) => {
    const restJson = 'application/json';
    const a = state.account.lambda;
    if (req.method === 'GET' && /^\/2016-08-19\/account-settings\/?$/.test(path)) {
      return json(
        res,
        {
          AccountLimit: {
            TotalCodeSize: 80530636800,
            CodeSizeUnzipped: 262144000,
            CodeSizeZipped: 52428800,
            ConcurrentExecutions: a.concurrentExecutions,
            UnreservedConcurrentExecutions: a.unreservedConcurrentExecutions,
          },
          AccountUsage: { TotalCodeSize: 0, FunctionCount: Object.keys(a.functions).length },
        },
        restJson,
      );
    }
    const concurrency = /^\/2019-09-30\/functions\/([^/]+)\/concurrency$/.exec(path);
    if (req.method === 'GET' && concurrency) {
      const name = concurrency[1];
      if (!(name in a.functions)) return jsonError(res, 404, 'ResourceNotFoundException', `Function not found: arn:aws:lambda:eu-west-3:${state.account.accountId}:function:${name}`, restJson);
      const reserved = a.functions[name];
      return json(res, reserved === null ? {} : { ReservedConcurrentExecutions: reserved }, restJson);
    }
    return jsonError(res, 400, 'InvalidRequestContentException', `stand-in does not serve ${req.method} ${path}`, restJson);
  };

  const serviceQuotas = (res: ServerResponse, operation: string, body: any) => {
    const key = `${body.ServiceCode}/${body.QuotaCode}`;
    const table = operation === 'GetAWSDefaultServiceQuota' ? state.account.defaultQuotas : state.account.quotas;
    if (operation !== 'GetServiceQuota' && operation !== 'GetAWSDefaultServiceQuota') return jsonError(res, 400, 'UnknownOperationException', operation);
    if (!(key in table)) return jsonError(res, 400, 'NoSuchResourceException', `The request failed because the specified service quota ${key} does not exist.`);
    return json(res, {
      Quota: { ServiceCode: body.ServiceCode, QuotaCode: body.QuotaCode, QuotaName: key, Value: table[key], Unit: 'None', Adjustable: true, GlobalQuota: false },
    });
  };

  const ec2 = (res: ServerResponse, params: URLSearchParams) => {
    if (params.get('Action') !== 'DescribeAddresses') {
      return xml(res, `<Response><Errors><Error><Code>InvalidAction</Code><Message>stand-in does not serve ${params.get('Action')}</Message></Error></Errors><RequestID>${ID}</RequestID></Response>`, 400);
    }
    const items = state.account.addresses
      .map((a) => `<item><publicIp>${a.publicIp}</publicIp><allocationId>${a.allocationId}</allocationId><domain>vpc</domain>${a.associationId ? `<associationId>${a.associationId}</associationId>` : ''}<publicIpv4Pool>amazon</publicIpv4Pool>${a.tags ? `<tagSet>${Object.entries(a.tags).map(([k, v]) => `<item><key>${k}</key><value>${v}</value></item>`).join('')}</tagSet>` : ''}</item>`)
      .join('');
    xml(res, `<DescribeAddressesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>${ID}</requestId><addressesSet>${items}</addressesSet></DescribeAddressesResponse>`);
  };

  const acm = (res: ServerResponse, operation: string, body: any, region: string) => {
    const certificates = region === 'us-east-1' ? state.account.certificates : [];
    if (operation === 'ListCertificates') {
      const statuses: string[] | undefined = body.CertificateStatuses;
      const keyTypes: string[] = body.Includes?.keyTypes ?? ['RSA_1024', 'RSA_2048'];
      const matching = certificates.filter((c) => (!statuses || statuses.includes(c.status)) && keyTypes.includes(c.keyAlgorithm));
      const { items, next } = page(matching, body.NextToken);
      return json(res, {
        CertificateSummaryList: items.map((c) => ({
          CertificateArn: c.arn,
          DomainName: c.domainName,
          // ACM lists at most a few names in the summary and flags the rest.
          SubjectAlternativeNameSummaries: c.subjectAlternativeNames.slice(0, 2),
          HasAdditionalSubjectAlternativeNames: c.subjectAlternativeNames.length > 2,
          Status: c.status,
          Type: 'AMAZON_ISSUED',
          KeyAlgorithm: c.keyAlgorithm,
          InUse: false,
        })),
        NextToken: next,
      });
    }
    if (operation === 'DescribeCertificate') {
      const c = certificates.find((x) => x.arn === body.CertificateArn);
      if (!c) return jsonError(res, 400, 'ResourceNotFoundException', `Could not find certificate ${body.CertificateArn}.`);
      return json(res, { Certificate: { CertificateArn: c.arn, DomainName: c.domainName, SubjectAlternativeNames: c.subjectAlternativeNames, Status: c.status, KeyAlgorithm: c.keyAlgorithm, Type: 'AMAZON_ISSUED' } });
    }
    return jsonError(res, 400, 'UnknownOperationException', operation);
  };

  const costExplorer = (res: ServerResponse, operation: string, body: any) => {
    if (operation !== 'ListCostAllocationTags') return jsonError(res, 400, 'UnknownOperationException', operation);
    if (state.account.costExplorerDenied) {
      return jsonError(res, 400, 'AccessDeniedException', `User: ${state.account.callerArn} is not authorized to perform: ce:ListCostAllocationTags`);
    }
    const keys: string[] | undefined = body.TagKeys;
    const matching = state.account.costAllocationTags.filter((t) => (!keys || keys.includes(t.key)) && (!body.Type || body.Type === t.type) && (!body.Status || body.Status === t.status));
    const { items, next } = page(matching, body.NextToken);
    return json(res, { CostAllocationTags: items.map((t) => ({ TagKey: t.key, Type: t.type, Status: t.status })), NextToken: next });
  };

  const secretsManager = (res: ServerResponse, operation: string, body: any, region: string) => {
    // A secret is named by its name or its ARN (name + `-` + 6 random characters).
    const id = String(body.SecretId ?? '');
    const fromArn = /^arn:aws:secretsmanager:[^:]+:\d+:secret:(.+)-[A-Za-z0-9]{6}$/.exec(id);
    const name = fromArn ? fromArn[1] : id;
    const secret = state.account.secrets[name];
    const arn = `arn:aws:secretsmanager:${region}:${state.account.accountId}:secret:${name}-AbCdEf`;
    if (!secret) return jsonError(res, 400, 'ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    if (operation === 'DescribeSecret') {
      return json(res, {
        ARN: arn,
        Name: name,
        DeletedDate: secret.deletedDate ? secret.deletedDate.getTime() / 1000 : undefined,
        VersionIdsToStages: Object.fromEntries(secret.versions.map((v) => [v.id, v.stages])),
      });
    }
    return jsonError(res, 400, 'UnknownOperationException', operation);
  };

  const server: Server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://standin');
    const { region, service } = scope(req);
    const text = await readBody(req);
    const target = String(req.headers['x-amz-target'] ?? '');
    const form = new URLSearchParams(text);
    const operation = target ? target.split('.').pop()! : form.get('Action') ?? `${req.method} ${url.pathname}${url.search}`;
    requests.push(`${service} ${region} ${operation}`);

    if (state.account.credentialsError) {
      if (service === 'sts') return queryError(res, 403, state.account.credentialsError, 'The security token included in the request is expired');
      return jsonError(res, 403, 'UnrecognizedClientException', 'The security token included in the request is invalid.');
    }
    if (state.account.denied?.includes(operation)) {
      const message = `User: ${state.account.callerArn} is not authorized to perform: ${service}:${operation}`;
      if (service === 'sts' || service === 'iam') return queryError(res, 403, 'AccessDenied', message);
      if (service === 'ec2') return xml(res, `<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>${message}</Message></Error></Errors><RequestID>${ID}</RequestID></Response>`, 403);
      return jsonError(res, service === 'lambda' ? 403 : 400, 'AccessDeniedException', message, service === 'lambda' ? 'application/json' : undefined);
    }
    const body = target ? (text ? JSON.parse(text) : {}) : undefined;
    switch (service) {
      case 'sts':
        return sts(res, form);
      case 'iam':
        return iam(res, form);
      case 's3':
        return s3(req, res, url, region);
      case 'lambda':
        return lambda(req, res, decodeURIComponent(url.pathname));
      case 'servicequotas':
        return serviceQuotas(res, operation, body);
      case 'ec2':
        return ec2(res, form);
      case 'acm':
        return acm(res, operation, body, region);
      case 'ce':
        return costExplorer(res, operation, body);
      case 'secretsmanager':
        return secretsManager(res, operation, body, region);
      default:
        return jsonError(res, 400, 'UnknownServiceException', `stand-in does not serve service "${service}"`);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    get account() {
      return state.account;
    },
    set account(value: Account) {
      state.account = value;
    },
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
