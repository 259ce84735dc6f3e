import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { objectRequests, type Exchange, type Fetched, type ObjectRequests, type Stored } from '../../migrations/storage-move/object-requests';
import { credentialsFor, s3Client } from '../../migrations/storage-move/storage';
import { uploadObject } from '../../migrations/storage-move/upload';
import { startLocalEmulator, type LocalEmulator } from '../../scripts/local/emulator';
import { content, getObject } from '../support/storage-move-harness';

const md5 = (b: Buffer) => createHash('md5').update(b).digest();
const sha = (b: Buffer) => createHash('sha256').update(b).digest();

interface Sent {
  method: string;
  hostname: string;
  port?: number;
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
}

/** A client with fixed credentials, and an exchange that records each request and answers 200 (AWS's addresses are not reachable here). */
function recordingClient(endpoint: string | undefined, credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }, bodies: Buffer[][] = []) {
  const client = s3Client({ endpoint, region: 'eu-west-3', credentials });
  const sent: Sent[] = [];
  const exchange: Exchange = async (request) => {
    const [path, qs = ''] = request.path.split('?');
    sent.push({ ...request, path, query: Object.fromEntries(new URLSearchParams(qs)) });
    return { statusCode: 200, headers: { etag: '"e"' }, body: Readable.from(bodies.shift() ?? []) };
  };
  return { client, credentials: credentialsFor('eu-west-3', credentials), sent, exchange };
}

describe('storage:move object requests', () => {
  it.each([
    ['a custom endpoint, path-style', 'http://127.0.0.1:9000', undefined],
    ['AWS, virtual-hosted, with a session token', undefined, 'token/with+odd=chars'],
  ])('sign exactly as the SDK signer does: %s', async (_name, endpoint, sessionToken) => {
    const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken };
    const { client, credentials: keys, sent, exchange } = recordingClient(endpoint, credentials);
    const body = content(1, 3000);
    const requests = objectRequests(keys, { endpoint, region: 'eu-west-3' }, exchange);
    const chunks = [body.subarray(0, 1000), body.subarray(1000)];
    await requests.put('bucket-1', 'docs/été 2024/rapport (final)*.pdf', { chunks, size: body.length, md5: md5(body), sha256: sha(body) }, { 'content-type': 'application/pdf', 'content-disposition': ' attachment;  filename="a\tb  c.pdf" ', 'x-amz-meta-note': 'kept  as\t\tgiven' }, { partNumber: '3', uploadId: 'a/b+c=' });
    await requests.get('bucket-1', 'logo.svg');

    const signer = await (client.config as unknown as { signer(): Promise<{ sign(r: unknown, o: unknown): Promise<{ headers: Record<string, string> }> }> }).signer();
    for (const r of sent) {
      const { authorization, 'content-length': _length, ...headers } = r.headers;
      const d = headers['x-amz-date'];
      const signingDate = new Date(`${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6, 8)}T${d.slice(9, 11)}:${d.slice(11, 13)}:${d.slice(13, 15)}Z`);
      const theirs = await signer.sign({ ...r, protocol: endpoint ? 'http:' : 'https:', headers, body: undefined }, { signingDate, signingRegion: 'eu-west-3', signingService: 's3' });
      expect(authorization).toBe(theirs.headers.authorization);
    }
    expect(sent[0].path).toBe(`${endpoint ? '/bucket-1' : ''}/docs/%C3%A9t%C3%A9%202024/rapport%20%28final%29%2A.pdf`);
    expect(sent[0].hostname).toBe(endpoint ? '127.0.0.1' : 'bucket-1.s3.eu-west-3.amazonaws.com');
    // The payload is signed with its SHA-256 (never UNSIGNED-PAYLOAD), and S3 checks both digests.
    expect(sent[0].headers['x-amz-content-sha256']).toBe(sha(body).toString('hex'));
    expect(sent[0].headers['content-md5']).toBe(md5(body).toString('base64'));
    expect(sent[0].headers['x-amz-checksum-sha256']).toBe(sha(body).toString('base64'));
  });

  it('list pages through ListObjectsV2: entities and UTF-8 split across chunks decoded, continuation token followed', async () => {
    const page1 = Buffer.from(
      '<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>t&amp;2</NextContinuationToken>' +
        '<Contents><Key>old/a &amp; b &lt;1&gt; &#233;t&#xE9;.pdf</Key><Size>12</Size></Contents><Contents><Key>old/日本.docx</Key><Size>0</Size></Contents></ListBucketResult>',
    );
    const cut = page1.indexOf(Buffer.from('日')) + 1;
    const page2 = [Buffer.from('<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>old/z</Key><Size>3</Size></Contents></ListBucketResult>')];
    const { credentials, sent, exchange } = recordingClient('http://127.0.0.1:9000', { accessKeyId: 'a', secretAccessKey: 'b' }, [[page1.subarray(0, cut), page1.subarray(cut)], page2]);
    const got = [];
    for await (const o of objectRequests(credentials, { endpoint: 'http://127.0.0.1:9000', region: 'eu-west-3' }, exchange).list('src', 'old/')) got.push(o);
    expect(got).toEqual([
      { key: 'old/a & b <1> été.pdf', size: 12 },
      { key: 'old/日本.docx', size: 0 },
      { key: 'old/z', size: 3 },
    ]);
    expect(sent.map((r) => [r.path, r.query])).toEqual([
      ['/src', { 'list-type': '2', prefix: 'old/' }],
      ['/src', { 'list-type': '2', prefix: 'old/', 'continuation-token': 't&2' }],
    ]);
  });

  it('a truncated listing page without a continuation token goes on after its last key, where it ended the listing', async () => {
    const pages = [
      [Buffer.from('<ListBucketResult><IsTruncated>true</IsTruncated><Contents><Key>old/a</Key><Size>1</Size></Contents><Contents><Key>old/b</Key><Size>2</Size></Contents></ListBucketResult>')],
      [Buffer.from('<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>old/c</Key><Size>3</Size></Contents></ListBucketResult>')],
    ];
    const { credentials, sent, exchange } = recordingClient('http://127.0.0.1:9000', { accessKeyId: 'a', secretAccessKey: 'b' }, pages);
    const got = [];
    for await (const o of objectRequests(credentials, { endpoint: 'http://127.0.0.1:9000', region: 'eu-west-3' }, exchange).list('src', 'old/')) got.push(o.key);
    expect(got).toEqual(['old/a', 'old/b', 'old/c']);
    expect(sent.map((r) => r.query)).toEqual([
      { 'list-type': '2', prefix: 'old/' },
      { 'list-type': '2', prefix: 'old/', 'start-after': 'old/b' },
    ]);
    // Truncated with nothing listed and nothing to go on from: an error, not the end of the listing.
    const empty = recordingClient('http://127.0.0.1:9000', { accessKeyId: 'a', secretAccessKey: 'b' }, [[Buffer.from('<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>')]]);
    const listing = objectRequests(empty.credentials, { endpoint: 'http://127.0.0.1:9000', region: 'eu-west-3' }, empty.exchange).list('src', 'old/');
    await expect(listing.next()).rejects.toThrow('ListObjectsV2 src/old/: a truncated page without a continuation token or a key');
  });
});

/**
 * A target that answers each PUT with `answer(body)` and completes multipart uploads with
 * `completed`; `streamed` counts the bodies piped from the source (no SHA-256 of ours).
 */
function fakeTarget(answer: (body: Buffer) => Stored, completed: (parts: Buffer[]) => Stored = () => ({}), reopen: () => Promise<Fetched> = () => Promise.reject(new Error('not reopened'))) {
  const bodies: Buffer[] = [];
  const md5s: (Buffer | undefined)[] = [];
  const calls: string[] = [];
  let streamed = 0;
  const requests: ObjectRequests = {
    async *list() {},
    get: async () => {
      throw new Error('not used');
    },
    put: async (_b, _k, body) => {
      let b: Buffer;
      if ('open' in body) {
        streamed++;
        const chunks: Buffer[] = [];
        for await (const c of await body.open(1)) chunks.push(c as Buffer);
        b = Buffer.concat(chunks);
      } else b = Buffer.concat(body.chunks);
      expect(b.length).toBe(body.size);
      bodies.push(b);
      md5s.push(body.md5);
      return answer(b);
    },
    close() {},
  };
  const client = {
    send: async (cmd: object) => {
      calls.push(cmd.constructor.name);
      if (cmd.constructor.name === 'CreateMultipartUploadCommand') return { UploadId: 'u1' };
      if (cmd.constructor.name === 'CompleteMultipartUploadCommand') return completed(bodies);
      return {};
    },
  };
  return { t: { client: () => client as never, requests, bucket: 'b', key: 'k', contentType: 'application/pdf', reopen }, bodies, md5s, calls, streamed: () => streamed };
}

const md5Etag = (b: Buffer) => ({ ETag: `"${md5(b).toString('hex')}"` });
const compositeEtag = (parts: Buffer[]) => ({ ETag: `"${createHash('md5').update(Buffer.concat(parts.map(md5))).digest('hex')}-${parts.length}"` });
const stream = (b: Buffer, etag?: string, size?: number): Fetched => ({ body: Readable.from([b.subarray(0, 1000), b.subarray(1000)]), etag, size });
const PART = 5 * 1024 * 1024;

describe('storage:move upload proofs', () => {
  const small = content(2, 4000);
  const big = content(3, 2 * PART + 123);

  it('one PUT: proved by the MD5 the target computed, or by the SHA-256 it checked; anything else is no proof', async () => {
    expect((await uploadObject(fakeTarget(md5Etag).t, stream(small), small.length, PART, 2)).proof).toBe('md5');
    expect((await uploadObject(fakeTarget(() => ({ ETag: '"0123"' })).t, stream(small), small.length, PART, 2)).proof).toBeNull();
    expect((await uploadObject(fakeTarget(() => ({ ChecksumSHA256: sha(small).toString('base64'), ETag: 'kms' })).t, stream(small), small.length, PART, 2)).proof).toBe('checksum');
    // A checksum answered that is not ours outweighs a matching ETag.
    expect((await uploadObject(fakeTarget((b) => ({ ...md5Etag(b), ChecksumSHA256: 'AAAA' })).t, stream(small), small.length, PART, 2)).proof).toBeNull();
    const done = await uploadObject(fakeTarget(md5Etag).t, stream(small), small.length, PART, 2);
    expect(done).toEqual({ size: small.length, sha256: sha(small).toString('base64'), proof: 'md5', parts: 1 });
    // From 1 MiB the SHA-256 is computed on the thread pool: the same digest.
    const mid = content(4, 2 * 1024 * 1024 + 7);
    expect(await uploadObject(fakeTarget(md5Etag).t, stream(mid), mid.length, PART, 2)).toEqual({ size: mid.length, sha256: sha(mid).toString('base64'), proof: 'md5', parts: 1 });
  });

  it("an S3 source's single-part MD5 ETag: the body is piped into the PUT unhashed, proved by the target's ETag equal to it", async () => {
    const etag = `"${md5(small).toString('hex')}"`;
    const f = fakeTarget(md5Etag);
    expect(await uploadObject(f.t, stream(small, etag, small.length), small.length, PART, 2)).toEqual({ size: small.length, md5: md5(small).toString('hex'), proof: 'md5', parts: 1 });
    expect(f.streamed()).toBe(1);
    // Sent as Content-MD5, which the target checks the body against.
    expect(f.md5s).toEqual([md5(small)]);
    expect(f.bodies[0].equals(small)).toBe(true);
    // A target ETag that is not the source's (SSE-KMS, another version, a changed body): no proof.
    expect((await uploadObject(fakeTarget(() => ({ ETag: `"${'ab'.repeat(16)}"` })).t, stream(small, etag, small.length), small.length, PART, 2)).proof).toBeNull();
    const kms = await uploadObject(fakeTarget(() => ({ ETag: '"abc-2"' })).t, stream(small, etag, small.length), small.length, PART, 2);
    expect(kms.proof).toBeNull();
    expect(kms.sha256).toBeUndefined();
    // A source ETag that is no MD5 of these bytes: the target's MD5 ETag does not match it either.
    expect((await uploadObject(fakeTarget(md5Etag).t, stream(small, `"${'ab'.repeat(16)}"`, small.length), small.length, PART, 2)).proof).toBeNull();
    // The GET of another version than the listed one: nothing is written.
    const moved = fakeTarget(md5Etag);
    expect(await uploadObject(moved.t, stream(small, etag, small.length + 9), small.length, PART, 2)).toMatchObject({ size: small.length + 9, proof: null });
    expect(moved.bodies).toHaveLength(0);
  });

  it('a retried streamed PUT reads the source again, and stops when the source changed meanwhile', async () => {
    const etag = `"${md5(small).toString('hex')}"`;
    const retried = (again: Fetched) => {
      const sent: Buffer[] = [];
      const requests: ObjectRequests = {
        async *list() {},
        get: () => Promise.reject(new Error('not used')),
        put: async (_b, _k, body) => {
          if (!('open' in body)) throw new Error('not streamed');
          // The first attempt's body is spent (a dropped connection); the second is read in full.
          (await body.open(1)).destroy();
          const chunks: Buffer[] = [];
          for await (const c of await body.open(2)) chunks.push(c as Buffer);
          sent.push(Buffer.concat(chunks));
          return md5Etag(sent[0]);
        },
        close() {},
      };
      return { t: { client: () => ({}) as never, requests, bucket: 'b', key: 'k', contentType: 'application/pdf', reopen: async () => again }, sent };
    };
    const same = retried(stream(small, etag, small.length));
    expect((await uploadObject(same.t, stream(small, etag, small.length), small.length, PART, 2)).proof).toBe('md5');
    expect(same.sent[0].equals(small)).toBe(true);
    const changed = retried(stream(content(5, 4000), `"${'cd'.repeat(16)}"`, 4000));
    await expect(uploadObject(changed.t, stream(small, etag, small.length), small.length, PART, 2)).rejects.toThrow('the source object changed while it was copied');
    expect(changed.sent).toHaveLength(0);
  });

  it('a multipart source ETag, or none, is no MD5: we hash the body (SHA-256 and our MD5) and hold it', async () => {
    for (const etag of ['"abc-2"', `"${md5(small).toString('hex')}-1"`, undefined]) {
      const f = fakeTarget(md5Etag);
      expect(await uploadObject(f.t, stream(small, etag, small.length), small.length, PART, 2)).toEqual({ size: small.length, sha256: sha(small).toString('base64'), proof: 'md5', parts: 1 });
      expect(f.streamed()).toBe(0);
      expect(f.md5s).toEqual([md5(small)]);
    }
  });

  it("an SSE-KMS or SSE-C source's 32-hex ETag is no MD5: we hash the body and send our MD5, never the ETag", async () => {
    const notMd5 = `"${'ab'.repeat(16)}"`;
    const f = fakeTarget(md5Etag);
    expect(await uploadObject(f.t, { ...stream(small, notMd5, small.length), encrypted: true }, small.length, PART, 2)).toEqual({ size: small.length, sha256: sha(small).toString('base64'), proof: 'md5', parts: 1 });
    expect(f.streamed()).toBe(0);
    expect(f.md5s).toEqual([md5(small)]);
  });

  it('a body that is not the listed size is not written', async () => {
    const f = fakeTarget(md5Etag);
    const r = await uploadObject(f.t, stream(small), small.length + 1, PART, 2);
    expect(r.size).toBe(small.length);
    expect(r.proof).toBeNull();
    expect(f.bodies).toHaveLength(0);
  });

  it('multipart: every part proved and the completed ETag the one of our parts in order, else no proof', async () => {
    const ok = fakeTarget(md5Etag, compositeEtag);
    const r = await uploadObject(ok.t, stream(big), big.length, PART, 2);
    expect(r).toEqual({ size: big.length, sha256: sha(big).toString('base64'), proof: 'md5', parts: 3 });
    expect(Buffer.concat(ok.bodies).equals(big)).toBe(true);
    expect(ok.bodies.map((b) => b.length)).toEqual([PART, PART, 123]);

    const badPart = fakeTarget((b) => (b.length === 123 ? { ETag: '"x"' } : md5Etag(b)), compositeEtag);
    expect((await uploadObject(badPart.t, stream(big), big.length, PART, 2)).proof).toBeNull();
    const reordered = fakeTarget(md5Etag, (parts) => compositeEtag([parts[1], parts[0], parts[2]]));
    expect((await uploadObject(reordered.t, stream(big), big.length, PART, 2)).proof).toBeNull();

    const short = fakeTarget(md5Etag, compositeEtag);
    expect((await uploadObject(short.t, stream(big), big.length + 5, PART, 2)).proof).toBeNull();
    expect(short.calls).toEqual(['CreateMultipartUploadCommand', 'AbortMultipartUploadCommand']);
  });
});

describe('storage:move streamed PUT against the emulator', () => {
  let em: LocalEmulator;
  beforeAll(async () => {
    em = await startLocalEmulator({ buckets: ['streamed'] });
  }, 60_000);
  afterAll(() => em?.stop());

  it("pipes the source's body into one PUT, proved by the target's ETag equal to the source's MD5; other bytes are not proved", async () => {
    const keys = { accessKeyId: 'test', secretAccessKey: 'test' };
    const client = s3Client({ endpoint: em.endpoint, region: 'eu-west-3', credentials: keys });
    const requests = objectRequests(credentialsFor('eu-west-3', keys), { endpoint: em.endpoint, region: 'eu-west-3' });
    const target = (key: string) => ({ client: () => client, requests, bucket: 'streamed', key, contentType: 'application/octet-stream', reopen: () => Promise.reject(new Error('not reopened')) });
    try {
      const body = content(9, 300_000);
      const etag = `"${md5(body).toString('hex')}"`;
      const ok = await uploadObject(target('a b/été.bin'), stream(body, etag, body.length), body.length, PART, 2);
      expect(ok).toEqual({ size: body.length, md5: md5(body).toString('hex'), proof: 'md5', parts: 1 });
      expect((await getObject(client, 'streamed', 'a b/été.bin'))!.equals(body)).toBe(true);

      // Bytes that are not the ones the source's MD5 covers (a bit flipped on the way): the
      // emulator keeps them (fauxqs 1.9 does not check Content-MD5; S3 refuses them), its ETag is
      // their MD5, not the source's: no proof, the caller reads both back.
      const other = Buffer.from(body);
      other[5] ^= 1;
      expect((await uploadObject(target('bad.bin'), stream(other, etag, body.length), body.length, PART, 2)).proof).toBeNull();
    } finally {
      requests.close();
      client.destroy();
    }
  }, 30_000);
});
