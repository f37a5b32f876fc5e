/**
 * Access control on the real gateway, over a worker and the dev server. With AUTH=keys a
 * table of hostile requests is refused with the documented status and code, and none of them
 * charges anything or starts a workflow; read, write and admin keys do what their scope allows,
 * on the payment routes and on a route that asks for admin; a revoked key is refused within KEY_CACHE_MS by a gateway that has just accepted it. A POST
 * from a web page of an origin not allowed is refused with either setting.
 */
import * as http from 'node:http';
import type { FastifyPluginAsync } from 'fastify';
import { newKey } from '../src/access/keys';
import { gatewayApp } from '../src/api';
import { KEY_CACHE_MS } from '../src/http/access';
import type { KeyScope } from '../src/ledger/ledger';
import { eventually } from './helpers/eventually';
import { type Answer, call, startGateway } from './helpers/gateway';
import { temporalKnows } from './helpers/retention';
import { devServerPerFile, testCodec } from './helpers/servers';
import { HOUR, withStack } from './helpers/stack';
import type { GatedLedger } from './helpers/gated-ledger';

jest.setTimeout(120_000);

const server = devServerPerFile();

const SHOP = 'https://shop.example.com';
const payment = JSON.stringify({ accountId: 'acct', amount: 100 });

async function keyOf(ledger: GatedLedger, scope: KeyScope, tenant = 'default'): Promise<{ id: string; key: string }> {
  const made = newKey();
  await ledger.createKey({ id: made.id, tenant, scope, name: `${scope} key`, secretHash: made.secretHash });
  return made;
}

test('hostile requests are refused with the documented answer, and none charges or starts anything', () =>
  withStack(server.env, {}, async ({ ledger, taskQueue }) => {
    const write = await keyOf(ledger, 'write');
    const read = await keyOf(ledger, 'read');
    const revoked = await keyOf(ledger, 'write');
    await ledger.revokeKey(revoked.id);
    const access = { mode: 'keys' as const, keys: ledger, allowedOrigins: [SHOP] };
    const gateway = await startGateway({ client: server.env.client, ledger, taskQueue, expiryMs: HOUR, access });
    try {
      const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
      type Case = [what: string, method: 'GET' | 'POST', path: (id: string) => string, headers: Record<string, string>, status: number];
      const pay = (id: string) => `/payments/${id}/makePayment`;
      const cancel = (id: string) => `/payments/${id}/cancelPayment`;
      const view = (id: string) => `/payments/${id}`;
      const account = () => '/accounts/acct';
      const cases: Case[] = [
        ['makePayment with no Authorization', 'POST', pay, {}, 401],
        ['cancelPayment with no Authorization', 'POST', cancel, {}, 401],
        ['GET of a payment with no Authorization', 'GET', view, {}, 401],
        ['GET of an account with no Authorization', 'GET', account, {}, 401],
        ['Basic credentials', 'POST', pay, { authorization: `Basic ${Buffer.from(`user:${write.key}`).toString('base64')}` }, 401],
        ['another scheme', 'POST', pay, { authorization: `Token ${write.key}` }, 401],
        ['Bearer with no token', 'POST', pay, { authorization: 'Bearer' }, 401],
        ['Bearer with two tokens', 'POST', pay, { authorization: `Bearer ${write.key} ${write.key}` }, 401],
        ['the key alone, no scheme', 'POST', pay, { authorization: write.key }, 401],
        ['a truncated key', 'POST', pay, bearer(write.key.slice(0, -1)), 401],
        ['a key one character longer', 'POST', pay, bearer(`${write.key}x`), 401],
        ["a key's id with another secret", 'POST', pay, bearer(`pk_${write.id}_${'A'.repeat(43)}`), 401],
        ['a well-formed key never made', 'POST', pay, bearer(newKey().key), 401],
        ['a revoked key paying', 'POST', pay, bearer(revoked.key), 401],
        ['a revoked key reading', 'GET', view, bearer(revoked.key), 401],
        ['the key in the query string', 'POST', (id) => `${pay(id)}?key=${write.key}`, {}, 401],
        ['the key as access_token', 'GET', (id) => `${view(id)}?access_token=${write.key}`, {}, 401],
        ['the key in a cookie', 'POST', pay, { cookie: `key=${write.key}` }, 401],
        ['the key in another header', 'POST', pay, { 'x-api-key': write.key }, 401],
        ['a read key paying', 'POST', pay, bearer(read.key), 403],
        ['a read key cancelling', 'POST', cancel, bearer(read.key), 403],
        ['a web page of another origin paying', 'POST', pay, { ...bearer(write.key), origin: 'https://evil.example' }, 403],
        ['a web page of another origin cancelling', 'POST', cancel, { ...bearer(write.key), origin: 'https://evil.example' }, 403],
        ['a sandboxed page (Origin: null)', 'POST', cancel, { ...bearer(write.key), origin: 'null' }, 403],
        ['an allowed origin over another scheme', 'POST', cancel, { ...bearer(write.key), origin: 'http://shop.example.com' }, 403],
        ['a huge Authorization header', 'POST', pay, { authorization: `Bearer ${'A'.repeat(20_000)}` }, 431],
      ];
      expect(cases.length).toBeGreaterThanOrEqual(25);

      const answers: [string, Answer][] = [];
      for (const [i, [what, method, path, headers]] of cases.entries()) {
        const id = `hostile-${i}`;
        answers.push([
          what,
          await call(gateway.url, method, path(id), {
            headers,
            ...(method === 'POST' && path(id).includes('makePayment') && { body: payment, contentType: 'application/json' }),
          }),
        ]);
      }
      for (const [i, [what, , , , status]] of cases.entries()) {
        const [, answer] = answers[i]!;
        expect({ what, status: answer.status }).toEqual({ what, status });
        if (status === 401) {
          expect({ what, code: answer.body.error.code, challenge: answer.headers.get('www-authenticate') }).toEqual({
            what,
            code: 'unauthorized',
            challenge: 'Bearer',
          });
        }
        if (status === 403) expect({ what, code: answer.body.error.code }).toEqual({ what, code: 'forbidden' });
        expect({ what, entries: await ledger.entriesOf(`hostile-${i}`), started: await temporalKnows(server.env, `hostile-${i}`) }).toEqual(
          {
            what,
            entries: [],
            started: false,
          },
        );
      }

      // What the keys may do.
      expect((await call(gateway.url, 'GET', '/payments/never-made', { headers: bearer(read.key) })).body.error.code).toBe(
        'payment_not_found',
      );
      const paid = await call(gateway.url, 'POST', pay('allowed-1'), {
        headers: { ...bearer(write.key), origin: SHOP },
        body: payment,
        contentType: 'application/json',
      });
      expect(paid).toMatchObject({ status: 200, body: { paymentId: 'allowed-1', status: 'COMPLETED' } });
      expect(await call(gateway.url, 'GET', view('allowed-1'), { headers: bearer(read.key) })).toMatchObject({
        status: 200,
        body: { status: 'COMPLETED' },
      });
      expect(await call(gateway.url, 'GET', '/healthz')).toMatchObject({ status: 200 });
      expect(await call(gateway.url, 'GET', '/readyz')).toMatchObject({ status: 200 });

      // Revoked while the gateway holds the key's record: refused once the record is at most KEY_CACHE_MS old.
      expect((await call(gateway.url, 'GET', view('allowed-1'), { headers: bearer(write.key) })).status).toBe(200);
      await ledger.revokeKey(write.id);
      const revokedAt = Date.now();
      await eventually(
        'the revoked key refused',
        async () => ((await call(gateway.url, 'GET', view('allowed-1'), { headers: bearer(write.key) })).status === 401 ? true : undefined),
        { timeoutMs: KEY_CACHE_MS + 2000 },
      );
      expect(Date.now() - revokedAt).toBeLessThanOrEqual(KEY_CACHE_MS + 2000);
      expect((await ledger.keyById(read.id))?.lastUsedAt).not.toBeNull();
    } finally {
      await gateway.app.close();
    }
  }));

/** A route that asks for the scope admin, as the admin port's codec will; only this file has it. */
const adminOnly: FastifyPluginAsync = async (app) => {
  for (const method of ['GET', 'POST'] as const) {
    app.route({ method, url: '/admin-only', config: { scope: 'admin' }, handler: async (request) => ({ keyId: request.caller.keyId }) });
  }
};

test('a route that asks for admin takes only an admin key, which may also do all a write key may; a key below is told what it lacks', () =>
  withStack(server.env, {}, async ({ ledger, taskQueue }) => {
    const read = await keyOf(ledger, 'read');
    const write = await keyOf(ledger, 'write');
    const admin = await keyOf(ledger, 'admin');
    const app = await gatewayApp({
      client: server.env.client,
      ledger,
      records: ledger,
      taskQueue,
      expiryMs: HOUR,
      requestTimeoutMs: 30_000,
      logger: false,
      access: { mode: 'keys', keys: ledger, allowedOrigins: [] },
      codec: { codec: testCodec(), origins: [] },
    });
    try {
      await app.register(adminOnly);
      const url = await app.listen({ host: '127.0.0.1', port: 0 });
      const bearer = (key: string) => ({ headers: { authorization: `Bearer ${key}` } });
      const refused = (id: string, scope: string, route: string, needs: string) => ({
        status: 403,
        body: { error: { code: 'forbidden', message: `key ${id} has scope ${scope}; ${route} needs scope ${needs}` } },
      });

      expect(await call(url, 'GET', '/admin-only')).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } });
      expect(await call(url, 'GET', '/admin-only', bearer(read.key))).toMatchObject(refused(read.id, 'read', 'GET /admin-only', 'admin'));
      expect(await call(url, 'POST', '/admin-only', bearer(read.key))).toMatchObject(refused(read.id, 'read', 'POST /admin-only', 'admin'));
      expect(await call(url, 'GET', '/admin-only', bearer(write.key))).toMatchObject(
        refused(write.id, 'write', 'GET /admin-only', 'admin'),
      );
      expect(await call(url, 'POST', '/admin-only', bearer(write.key))).toMatchObject(
        refused(write.id, 'write', 'POST /admin-only', 'admin'),
      );
      for (const method of ['GET', 'POST']) {
        expect(await call(url, method, '/admin-only', bearer(admin.key))).toMatchObject({ status: 200, body: { keyId: admin.id } });
      }

      // The payment routes ask for no scope of their own: write for POST, read for GET.
      const payment = JSON.stringify({ accountId: 'acct', amount: 100 });
      const pay = (key: string) =>
        call(url, 'POST', '/payments/scoped-1/makePayment', { ...bearer(key), body: payment, contentType: 'application/json' });
      expect(await pay(read.key)).toMatchObject(refused(read.id, 'read', 'POST /payments/:id/makePayment', 'write or admin'));
      expect(await call(url, 'POST', '/payments/scoped-1/cancelPayment', bearer(read.key))).toMatchObject(
        refused(read.id, 'read', 'POST /payments/:id/cancelPayment', 'write or admin'),
      );
      expect(await ledger.entriesOf('scoped-1')).toEqual([]);
      expect(await pay(admin.key)).toMatchObject({ status: 200, body: { paymentId: 'scoped-1', status: 'COMPLETED' } });
      expect(await call(url, 'GET', '/payments/scoped-1', bearer(read.key))).toMatchObject({ status: 200, body: { status: 'COMPLETED' } });
      expect(await call(url, 'POST', '/payments/scoped-1/cancelPayment', bearer(admin.key))).toMatchObject({
        status: 200,
        body: { status: 'CANCELLED', refunded: true },
      });
      expect((await ledger.entriesOf('scoped-1')).map((e) => [e.kind, e.keyId])).toEqual([
        ['charge', admin.id],
        ['refund', admin.id],
      ]);
    } finally {
      await app.close();
    }
  }));

test('with AUTH=off no key is asked for, but a web page of another origin still cannot POST', () =>
  withStack(server.env, {}, async ({ ledger, taskQueue }) => {
    const gateway = await startGateway({
      client: server.env.client,
      ledger,
      taskQueue,
      expiryMs: HOUR,
      access: { mode: 'off', allowedOrigins: [] },
    });
    try {
      const refused = await call(gateway.url, 'POST', '/payments/page-1/cancelPayment', { headers: { origin: 'https://evil.example' } });
      expect(refused).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
      expect(await temporalKnows(server.env, 'page-1')).toBe(false);
      const paid = await call(gateway.url, 'POST', '/payments/off-1/makePayment', { body: payment, contentType: 'application/json' });
      expect(paid).toMatchObject({ status: 200, body: { status: 'COMPLETED' } });
    } finally {
      await gateway.app.close();
    }
  }));

/** A request with its path exactly as given: fetch would resolve dot segments before sending. */
function rawPost(url: string, path: string): Promise<number> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host: hostname, port, path, method: 'POST', headers: { 'content-type': 'application/json' } },
      (response) => {
        response.resume();
        resolve(response.statusCode!);
      },
    );
    request.on('error', reject);
    request.end(payment);
  });
}

test('no spelling of a payment path passes as a public one: each is refused or unrouted, and nothing is charged or started', () =>
  withStack(server.env, {}, async ({ ledger, taskQueue }) => {
    const access = { mode: 'keys' as const, keys: ledger, allowedOrigins: [] };
    const gateway = await startGateway({ client: server.env.client, ledger, taskQueue, expiryMs: HOUR, access });
    try {
      const tricks = [
        '/healthz/../payments/trick/makePayment',
        '/docs/../payments/trick/makePayment',
        '/docs/..%2Fpayments%2Ftrick%2FmakePayment',
        '/docs/%2e%2e/payments/trick/makePayment',
        '//payments/trick/makePayment',
        '/payments/trick/makePayment?/healthz',
        '/payments/trick/makePayment#/healthz',
        '/PAYMENTS/trick/makePayment',
        '/readyz/payments/trick/makePayment',
      ];
      for (const path of tricks)
        expect({ path, refused: [401, 404].includes(await rawPost(gateway.url, path)) }).toEqual({ path, refused: true });
      expect(await ledger.entriesOf('trick')).toEqual([]);
      expect(await temporalKnows(server.env, 'trick')).toBe(false);
    } finally {
      await gateway.app.close();
    }
  }));
