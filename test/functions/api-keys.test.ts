import { MAX_WORKING_KEYS, OLD_KEY_OVERLAP_DEFAULT_MS } from '../../core/domain/api-keys';
import { http, startTestPlatform, TestPlatform } from '../support/functions-platform';

/**
 * A B2B client's API keys through the client service and gateway-b2b, on the real PostgreSQL: a
 * client has several keys; any that is neither revoked nor expired authenticates; rotating leaves
 * the old keys working until their expiry (7 days by default, or the partner's choice); revoking
 * is effective from the very next request; bad input is a 400 naming the field.
 */
let p: TestPlatform;
let b2b: string;

beforeAll(async () => {
  p = await startTestPlatform('fn_api_keys');
  b2b = p.urls['gateway-b2b'];
});
afterAll(() => p?.teardown());

const newClient = async (name: string) => {
  const res = await http(p.urls.client, '/clients', { method: 'POST', json: { name, email: `${name}@example.test` } });
  expect(res.status).toBe(201);
  return res.json as { client: { id: string }; apiKey: string };
};
const prefixOf = (apiKey: string) => apiKey.split('_')[1];
/** A read with the key: 200 when it authenticates, 401 when not (the gateway asks the client service on every request). */
const statusWith = async (apiKey: string) => (await http(b2b, '/b2b/keys', { headers: { 'x-api-key': apiKey } })).status;
const rotate = (apiKey: string, json: unknown) => http(b2b, '/b2b/keys', { method: 'POST', headers: { 'x-api-key': apiKey }, json });

test('rotation: the new key and the old one both work; the old one expires 7 days on by default and then is refused', async () => {
  const { client, apiKey: first } = await newClient('rotor');
  const before = Date.now();
  const rotated = await rotate(first, {});
  expect(rotated.status).toBe(201);
  expect(rotated.headers.get('cache-control')).toBe('no-store');
  const second: string = rotated.json.apiKey;
  expect(second).toMatch(/^dpk_[a-f0-9]{12}_/);
  expect(rotated.json.key).toMatchObject({ prefix: prefixOf(second), state: 'active', expiresAt: null, revokedAt: null });
  expect(rotated.json.oldKeys).toEqual([expect.objectContaining({ prefix: prefixOf(first), state: 'expiring' })]);
  const expiresAt = Date.parse(rotated.json.oldKeys[0].expiresAt);
  expect(expiresAt).toBeGreaterThanOrEqual(before + OLD_KEY_OVERLAP_DEFAULT_MS - 60_000);
  expect(expiresAt).toBeLessThanOrEqual(Date.now() + OLD_KEY_OVERLAP_DEFAULT_MS + 60_000);

  expect(await statusWith(first)).toBe(200);
  expect(await statusWith(second)).toBe(200);
  const listed = await http(b2b, '/b2b/keys', { headers: { authorization: `Bearer ${second}` } });
  expect(listed.json.keys.map((k: { prefix: string; state: string }) => [k.prefix, k.state])).toEqual([
    [prefixOf(second), 'active'],
    [prefixOf(first), 'expiring'],
  ]);
  // Each use is recorded (at most every few minutes), so ops can tell whether the old key is still in use.
  expect(listed.json.keys.every((k: { lastUsedAt: string | null }) => k.lastUsedAt !== null)).toBe(true);

  // The overlap ends: the database's clock is the one compared.
  await p.db('api_keys').where({ prefix: prefixOf(first) }).update({ expires_at: p.db.raw(`now() - interval '1 second'`) });
  expect(await statusWith(first)).toBe(401);
  expect(await statusWith(second)).toBe(200);
  const after = await http(b2b, '/b2b/keys', { headers: { 'x-api-key': second } });
  expect(after.json.keys.map((k: { state: string }) => k.state)).toEqual(['active', 'expired']);
  expect(JSON.stringify(await p.db('api_keys').where({ client_id: client.id }))).not.toMatch(new RegExp(`${first}|${second}`));
});

test('a POST with no body at all rotates with the defaults; a body that is not JSON is still refused', async () => {
  const { apiKey: first } = await newClient('barepost');
  const bare = await http(b2b, '/b2b/keys', { method: 'POST', headers: { 'x-api-key': first } });
  expect(bare.status).toBe(201);
  expect(Date.parse(bare.json.oldKeys[0].expiresAt) - Date.now()).toBeGreaterThan(OLD_KEY_OVERLAP_DEFAULT_MS - 60_000);
  const text = await http(b2b, '/b2b/keys', { method: 'POST', headers: { 'x-api-key': bare.json.apiKey, 'content-type': 'text/plain' }, body: 'rotate' });
  expect(text.status).toBe(415);
});

test('a partner chooses the overlap; 0 ends the old keys at once; an earlier expiry is kept', async () => {
  const { apiKey: first } = await newClient('chooser');
  const second = (await rotate(first, { oldKeysExpireInSeconds: 3600 })).json;
  expect(Date.parse(second.oldKeys[0].expiresAt) - Date.now()).toBeLessThanOrEqual(3600_000);
  // A longer overlap asked later does not extend the first key's.
  const third = (await rotate(second.apiKey, { oldKeysExpireInSeconds: 86_400 })).json;
  const firstAfter = third.oldKeys.find((k: { prefix: string }) => k.prefix === prefixOf(first));
  expect(firstAfter.expiresAt).toBe(second.oldKeys[0].expiresAt);

  const fourth = await rotate(third.apiKey, { oldKeysExpireInSeconds: 0 });
  expect(fourth.status).toBe(201);
  for (const old of [first, second.apiKey, third.apiKey]) expect(await statusWith(old)).toBe(401);
  expect(await statusWith(fourth.json.apiKey)).toBe(200);
});

test('revocation is effective from the next request, the key the request is made with included; once more answers it again', async () => {
  const { apiKey: first } = await newClient('revoker');
  const second: string = (await rotate(first, {})).json.apiKey;
  const revoked = await http(b2b, `/b2b/keys/${prefixOf(first)}/revoke`, { method: 'POST', headers: { 'x-api-key': second } });
  expect(revoked.status).toBe(200);
  expect(revoked.json).toMatchObject({ alreadyRevoked: false, key: { prefix: prefixOf(first), state: 'revoked', revokedAt: expect.any(String) } });
  expect(await statusWith(first)).toBe(401);
  const again = await http(b2b, `/b2b/keys/${prefixOf(first)}/revoke`, { method: 'POST', headers: { 'x-api-key': second } });
  expect(again.json).toMatchObject({ alreadyRevoked: true, key: { revokedAt: revoked.json.key.revokedAt } });

  const self = await http(b2b, `/b2b/keys/${prefixOf(second)}/revoke`, { method: 'POST', headers: { 'x-api-key': second } });
  expect(self.status).toBe(200);
  expect(await statusWith(second)).toBe(401);
});

test('a revocation of the newest key while the client rotates waits for the rotation; neither fails on a deadlock', async () => {
  const { client, apiKey: first } = await newClient('racer');
  const newest: string = (await rotate(first, {})).json.apiKey;
  const sessionsWaiting = async () =>
    (await p.db.raw(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)).rows[0].n as number;
  const untilWaiting = async (n: number) => {
    for (let i = 0; i < 100 && (await sessionsWaiting()) < n; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await sessionsWaiting()).toBe(n);
  };
  // Holding the client's row lines both requests up behind it: the rotation first, then the revocation.
  const holder = await p.db.transaction();
  try {
    await holder('clients').where({ id: client.id }).forUpdate();
    const rotation = http(p.urls.client, `/clients/${client.id}/keys`, { method: 'POST', json: {} });
    await untilWaiting(1);
    const revocation = http(p.urls.client, `/clients/${client.id}/keys/${prefixOf(newest)}/revoke`, { method: 'POST' });
    await untilWaiting(2);
    await holder.commit();
    const [rotated, revoked] = await Promise.all([rotation, revocation]);
    expect([rotated.status, revoked.status]).toEqual([201, 200]);
    expect(await statusWith(newest)).toBe(401);
    expect(await statusWith(rotated.json.apiKey)).toBe(200);
  } finally {
    if (!holder.isCompleted()) await holder.rollback();
  }
});

test("a client cannot see, revoke or outlive another's keys; working keys are bounded", async () => {
  const mine = await newClient('mine');
  const theirs = await newClient('theirs');
  const notMine = await http(b2b, `/b2b/keys/${prefixOf(theirs.apiKey)}/revoke`, { method: 'POST', headers: { 'x-api-key': mine.apiKey } });
  expect(notMine.status).toBe(404);
  expect(await statusWith(theirs.apiKey)).toBe(200);
  expect((await http(b2b, '/b2b/keys', { headers: { 'x-api-key': mine.apiKey } })).json.keys).toHaveLength(1);

  let key = mine.apiKey;
  for (let i = 1; i < MAX_WORKING_KEYS; i++) key = (await rotate(key, {})).json.apiKey;
  const refused = await rotate(key, {});
  expect(refused.status).toBe(409);
  expect(refused.json.error.message).toMatch(new RegExp(`${MAX_WORKING_KEYS} working keys`));
  expect(await p.db('api_keys').where({ client_id: mine.client.id }).count<{ n: string }[]>('* as n')).toEqual([{ n: String(MAX_WORKING_KEYS) }]);
});

test('bad input is a 400 naming the field, never a 500', async () => {
  const { apiKey } = await newClient('badinput');
  const field = async (res: Promise<{ status: number; json: any }>) => {
    const r = await res;
    return [r.status, r.json.error.fields?.map((f: { field: string }) => f.field)];
  };
  for (const value of [-1, 1.5, 'soon', 31 * 86_400]) {
    expect(await field(rotate(apiKey, { oldKeysExpireInSeconds: value }))).toEqual([400, ['body.oldKeysExpireInSeconds']]);
  }
  expect(await field(rotate(apiKey, { expiresIn: 5 }))).toEqual([400, ['body.expiresIn']]);
  expect(await field(http(b2b, '/b2b/keys/NOT-A-PREFIX/revoke', { method: 'POST', headers: { 'x-api-key': apiKey } }))).toEqual([400, ['path.prefix']]);
  expect((await http(b2b, '/b2b/keys', { method: 'POST', headers: { 'x-api-key': apiKey, 'content-type': 'text/plain' }, body: 'x' })).status).toBe(415);
  expect(await statusWith(apiKey)).toBe(200);
});
