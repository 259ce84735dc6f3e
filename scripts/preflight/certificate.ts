import { ACMClient, CertificateSummary, DescribeCertificateCommand, KeyAlgorithm, ListCertificatesCommand } from '@aws-sdk/client-acm';
import { GLOBAL_REGION } from './clients';
import { Demands } from './demands';
import { describeError, error, Finding, ok } from './finding';

const CHECK = 'edge-certificate';

/**
 * Key types CloudFront serves (RSA up to 4096, ECDSA P-256). ListCertificates returns only RSA
 * 1024/2048 when not told otherwise, which would miss an ECDSA certificate.
 */
const KEY_TYPES: KeyAlgorithm[] = ['RSA_1024', 'RSA_2048', 'RSA_3072', 'RSA_4096', 'EC_prime256v1'];

/** A certificate name covers a domain exactly, or as a wildcard one label deep (`*.example.com` ↔ `www.example.com`). */
export function covers(certificateName: string, domain: string): boolean {
  const name = certificateName.toLowerCase();
  const host = domain.toLowerCase().replace(/\.$/, '');
  if (name === host) return true;
  if (!name.startsWith('*.')) return false;
  const dot = host.indexOf('.');
  return dot > 0 && host.slice(dot + 1) === name.slice(2);
}

interface Cert {
  arn: string;
  names: string[];
  status: string;
}

async function issuedCertificates(acm: ACMClient): Promise<Cert[]> {
  const summaries: CertificateSummary[] = [];
  let token: string | undefined;
  do {
    const page = await acm.send(new ListCertificatesCommand({ CertificateStatuses: ['ISSUED'], Includes: { keyTypes: KEY_TYPES }, NextToken: token }));
    summaries.push(...(page.CertificateSummaryList ?? []));
    token = page.NextToken;
  } while (token);
  return Promise.all(
    summaries.map(async (s) => {
      // The summary lists only the first names; the certificate itself has them all.
      if (s.HasAdditionalSubjectAlternativeNames) return describe(acm, s.CertificateArn!);
      return { arn: s.CertificateArn!, names: [s.DomainName ?? '', ...(s.SubjectAlternativeNameSummaries ?? [])], status: s.Status ?? 'ISSUED' };
    }),
  );
}

async function describe(acm: ACMClient, arn: string): Promise<Cert> {
  const c = (await acm.send(new DescribeCertificateCommand({ CertificateArn: arn }))).Certificate;
  return { arn, names: [c?.DomainName ?? '', ...(c?.SubjectAlternativeNames ?? [])], status: c?.Status ?? 'UNKNOWN' };
}

const uncovered = (cert: Cert, domains: string[]) => domains.filter((d) => !cert.names.some((n) => covers(n, d)));

function requestCommand(domains: string[]): string {
  const [first, ...rest] = domains;
  const sans = rest.length > 0 ? ` --subject-alternative-names ${rest.join(' ')}` : '';
  return `aws acm request-certificate --region ${GLOBAL_REGION} --domain-name ${first}${sans} --validation-method DNS`;
}

/**
 * With edge.domainNames set, CloudFront needs an ISSUED ACM certificate in us-east-1 that covers
 * every name, named by edge.certificateArn (the edge stack refuses to synthesise without it).
 */
export async function checkCertificate(acm: ACMClient, demands: Demands): Promise<Finding> {
  const domains = demands.domainNames;
  if (domains.length === 0) return ok(CHECK, 'edge.domainNames is empty: CloudFront serves its own domain and certificate');
  const list = domains.join(', ');
  const configured = demands.certificateArn;

  if (configured) {
    const region = configured.split(':')[3];
    if (region !== GLOBAL_REGION) {
      return error(CHECK, `edge.certificateArn ${configured} is in ${region}: CloudFront takes certificates from ${GLOBAL_REGION} only`, `${requestCommand(domains)}, validate it, and set edge.certificateArn to its ARN`);
    }
    let cert: Cert;
    try {
      cert = (await issuedCertificates(acm)).find((c) => c.arn === configured) ?? (await describe(acm, configured));
    } catch (e) {
      if ((e as { name?: string }).name !== 'ResourceNotFoundException') throw e;
      return error(CHECK, `edge.certificateArn ${configured} does not exist in this account (${describeError(e)})`, `${requestCommand(domains)}, validate it, and set edge.certificateArn to its ARN`);
    }
    if (cert.status !== 'ISSUED') {
      return error(
        CHECK,
        `edge.certificateArn ${configured} is ${cert.status}, not ISSUED: CloudFront refuses it`,
        cert.status === 'PENDING_VALIDATION'
          ? `create the DNS records ACM asks for: aws acm describe-certificate --region ${GLOBAL_REGION} --certificate-arn ${configured} --query Certificate.DomainValidationOptions`
          : `${requestCommand(domains)}, validate it, and set edge.certificateArn to its ARN`,
      );
    }
    const missing = uncovered(cert, domains);
    if (missing.length > 0) {
      return error(CHECK, `edge.certificateArn ${configured} (${cert.names.join(', ')}) does not cover ${missing.join(', ')}: CloudFront refuses the aliases`, `${requestCommand(domains)}, validate it, and set edge.certificateArn to its ARN`);
    }
    return ok(CHECK, `${configured} (ISSUED, ${GLOBAL_REGION}) covers ${list}`);
  }

  const covering = (await issuedCertificates(acm)).filter((c) => uncovered(c, domains).length === 0);
  if (covering.length > 0) {
    return error(
      CHECK,
      `edge.domainNames is set (${list}) but edge.certificateArn is not: the edge stack refuses to synthesise; ${covering[0].arn} (ISSUED, ${GLOBAL_REGION}) covers them`,
      `set edge.certificateArn: '${covering[0].arn}' on ${demands.env} in stacks/config.ts`,
    );
  }
  return error(
    CHECK,
    `no ISSUED certificate in ${GLOBAL_REGION} covers ${list} (edge.domainNames), and edge.certificateArn is not set: CloudFront cannot serve those names`,
    `${requestCommand(domains)}; create the DNS records it asks for (aws acm describe-certificate --region ${GLOBAL_REGION} --certificate-arn <arn> --query Certificate.DomainValidationOptions); once ISSUED, set edge.certificateArn to its ARN in stacks/config.ts`,
  );
}
