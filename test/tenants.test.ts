/**
 * Tenants on the real gateway, over a worker, the dev server and a real SQLite ledger: three
 * tenants use the same payment-ids and account-ids, and each sees, pays, cancels and is
 * answered only about its own, while Temporal runs their payments and after it has forgotten
 * them. Another tenant's payment answers 404 to a GET, and a POST of its id acts on the
 * caller's own payment of that id.
 */
import type { FastifyInstance } from 'fastify';
import { newKey } from '../src/access/keys';
import { buildAdminApp } from '../src/http/admin';
import { GatewayMetrics } from '../src/http/metrics';
import type { KeyScope } from '../src/ledger/ledger';
import { type Answer, type Gateway, call, startGateway } from './helpers/gateway';
import { closed, forget, temporalKnows } from './helpers/retention';
import { devServerPerFile, PROMPT_DELETION, testCodec } from './helpers/servers';
import { HOUR, OPENING_BALANCE, withStack } from './helpers/stack';
import type { GatedLedger } from './helpers/gated-ledger';

jest.setTimeout(120_000);

const server = devServerPerFile({ dynamicConfig: PROMPT_DELETION });

/** A key of the tenant, and calls made with it. */
async function tenantOf(gateway: Gateway, ledger: GatedLedger, tenant: string, scope: KeyScope = 'write') {
  const made = newKey();
  await ledger.createKey({ id: made.id, tenant, scope, name: null, secretHash: made.secretHash });
  const headers = { authorization: `Bearer ${made.key}` };
  return {
    keyId: made.id,
    pay: (id: string, accountId: string, amount: number): Promise<Answer> =>
      call(gateway.url, 'POST', `/payments/${id}/makePayment`, {
        headers,
        body: JSON.stringify({ accountId, amount }),
        contentType: 'application/json',
      }),
    cancel: (id: string): Promise<Answer> => call(gateway.url, 'POST', `/payments/${id}/cancelPayment`, { headers }),
    view: (id: string): Promise<Answer> => call(gateway.url, 'GET', `/payments/${id}`, { headers }),
    account: (id: string): Promise<Answer> => call(gateway.url, 'GET', `/accounts/${id}`, { headers }),
  };
}

/** The gateway's log, one parsed JSON line each. */
const logged: Record<string, unknown>[] = [];
const logger = { level: 'info', stream: { write: (line: string) => logged.push(JSON.parse(line)) } };

/** The admin app (ADMIN_PORT's) of a gateway: its metrics, by tenant too. */
type AdminOf = () => Promise<FastifyInstance>;

async function withKeyedGateway<T>(
  options: { expiryMs: number },
  body: (gateway: Gateway, ledger: GatedLedger, adminOf: AdminOf) => Promise<T>,
): Promise<T> {
  return withStack(server.env, { expiryMs: options.expiryMs }, async ({ ledger, taskQueue }) => {
    const metrics = new GatewayMetrics();
    const access = { mode: 'keys' as const, keys: ledger, allowedOrigins: [] };
    const gateway = await startGateway({
      client: server.env.client,
      ledger,
      taskQueue,
      expiryMs: options.expiryMs,
      access,
      metrics,
      logger,
    });
    try {
      return await body(gateway, ledger, () =>
        buildAdminApp(gateway.app, { logger: false, metrics, access, codec: { codec: testCodec(), origins: [] } }),
      );
    } finally {
      await gateway.app.close();
    }
  });
}

test('tenants with the same payment-ids and account-ids never meet', () =>
  withKeyedGateway({ expiryMs: HOUR }, async (gateway, ledger, adminOf) => {
    const home = await tenantOf(gateway, ledger, 'default');
    const acme = await tenantOf(gateway, ledger, 'acme');
    const acmeReader = await tenantOf(gateway, ledger, 'acme', 'read');
    const globex = await tenantOf(gateway, ledger, 'globex');
    const acmeCanceller = await tenantOf(gateway, ledger, 'acme');

    expect(await home.pay('order-1', 'abc', 100)).toMatchObject({ status: 200, body: { paymentId: 'order-1', replayed: false } });
    // Not a replay of default's order-1, and not refused as a different request for it.
    expect(await acme.pay('order-1', 'abc', 300)).toMatchObject({
      status: 200,
      body: { paymentId: 'order-1', status: 'COMPLETED', accountId: 'abc', amount: 300, replayed: false },
    });
    expect(await acmeReader.view('order-1')).toMatchObject({ status: 200, body: { paymentId: 'order-1', accountId: 'abc', amount: 300 } });

    // Invisible to a third tenant; its POSTs of the id act on its own payment, which it never paid.
    const unseen = await globex.view('order-1');
    expect(unseen).toMatchObject({ status: 404, body: { error: { code: 'payment_not_found', message: 'no payment order-1' } } });
    expect(await globex.cancel('order-1')).toMatchObject({ status: 200, body: { paymentId: 'order-1', refunded: false } });
    expect(await globex.pay('order-1', 'abc', 300)).toMatchObject({ status: 409, body: { error: { code: 'payment_cancelled' } } });
    expect(await acme.view('order-1')).toMatchObject({ status: 200, body: { status: 'COMPLETED', refunded: false } });

    // acme's refund returns acme's money, and nobody else's.
    expect(await acmeCanceller.cancel('order-1')).toMatchObject({ status: 200, body: { paymentId: 'order-1', refunded: true } });
    expect(await home.view('order-1')).toMatchObject({ status: 200, body: { status: 'COMPLETED', refunded: false, amount: 100 } });

    // Each tenant's account abc holds its own entries, in its own ids.
    expect(await home.account('abc')).toMatchObject({
      status: 200,
      body: { accountId: 'abc', balance: OPENING_BALANCE - 100, entries: [{ paymentId: 'order-1', kind: 'charge', amount: 100 }] },
    });
    const acmeAccount = await acmeReader.account('abc');
    expect(acmeAccount.body).toMatchObject({ accountId: 'abc', balance: OPENING_BALANCE });
    expect(acmeAccount.body.entries).toEqual([
      expect.objectContaining({ paymentId: 'order-1', kind: 'refund', amount: 300, keyId: acmeCanceller.keyId }),
      expect.objectContaining({ paymentId: 'order-1', kind: 'charge', amount: 300, keyId: acme.keyId }),
    ]);
    expect(await globex.account('abc')).toMatchObject({ status: 200, body: { balance: OPENING_BALANCE, entries: [] } });

    // A refusal names the caller's own account, never the ledger's service-wide name.
    const short = await acme.pay('order-2', 'abc', OPENING_BALANCE + 1);
    expect(short).toMatchObject({ status: 402, body: { error: { code: 'insufficient_funds' } } });
    expect(short.body.error.message).toContain('account abc has');
    expect(short.body.error.message).not.toContain('acme');

    // What the service keeps, service-wide: the workflow IDs and ledger entries carry the tenant.
    expect(await ledger.entriesOf('order-1')).toEqual([expect.objectContaining({ accountId: 'abc', amount: 100, kind: 'charge' })]);
    // ...and the key that asked for each entry (the audit trail).
    expect((await ledger.entriesOf('acme/order-1')).map((e) => [e.accountId, e.kind, e.keyId])).toEqual([
      ['acme/abc', 'charge', acme.keyId],
      ['acme/abc', 'refund', acmeCanceller.keyId],
    ]);
    expect((await ledger.entriesOf('order-1')).map((e) => e.keyId)).toEqual([home.keyId]);
    expect(await ledger.entriesOf('globex/order-1')).toEqual([]);
    for (const tenant of ['default', 'acme', 'globex']) expect(await temporalKnows(server.env, 'order-1', tenant)).toBe(true);

    // The audit trail: each request that could move money is logged with its request id, key, tenant, payment-id and outcome.
    const audit = logged.filter((line) => line.operation !== undefined);
    expect(audit.map(({ keyId, tenant, paymentId, operation, outcome }) => [keyId, tenant, paymentId, operation, outcome])).toEqual([
      [home.keyId, 'default', 'order-1', 'makePayment', 'completed'],
      [acme.keyId, 'acme', 'order-1', 'makePayment', 'completed'],
      [globex.keyId, 'globex', 'order-1', 'cancelPayment', 'cancelled'],
      [globex.keyId, 'globex', 'order-1', 'makePayment', 'payment_cancelled'],
      [acmeCanceller.keyId, 'acme', 'order-1', 'cancelPayment', 'refunded'],
      [acme.keyId, 'acme', 'order-2', 'makePayment', 'insufficient_funds'],
    ]);
    expect(audit.every((line) => typeof line.reqId === 'string')).toBe(true);

    // The public port's metrics count the outcomes and name no tenant; the admin port's count each tenant's apart.
    const metrics = (await call(gateway.url, 'GET', '/metrics')).body as string;
    expect(metrics).toContain('payments_total{operation="makePayment",outcome="completed"} 2');
    expect(metrics).toContain('payments_total{operation="cancelPayment",outcome="cancelled"} 1');
    expect(metrics).not.toMatch(/tenant|acme|globex/);
    const admin = await adminOf();
    try {
      const byTenant = (await admin.inject({ url: '/metrics' })).body;
      expect(byTenant).toContain('payments_by_tenant_total{tenant="acme",operation="makePayment",outcome="completed"} 1');
      expect(byTenant).toContain('payments_by_tenant_total{tenant="default",operation="makePayment",outcome="completed"} 1');
      expect(byTenant).toContain('payments_by_tenant_total{tenant="globex",operation="cancelPayment",outcome="cancelled"} 1');
      expect(byTenant).toContain('payments_total{operation="makePayment",outcome="completed"} 2');
    } finally {
      await admin.close();
    }
  }));

test("after Temporal forgets them, each tenant's payment is answered from its own record", () =>
  withKeyedGateway({ expiryMs: 2000 }, async (gateway, ledger) => {
    const acme = await tenantOf(gateway, ledger, 'acme');
    const globex = await tenantOf(gateway, ledger, 'globex');
    expect((await acme.pay('order-9', 'abc', 250)).status).toBe(200);
    expect((await globex.cancel('order-9')).status).toBe(200);
    for (const tenant of ['acme', 'globex']) {
      await closed(server.env, 'order-9', tenant);
      await forget(server.env, 'order-9', tenant);
    }

    expect(await acme.pay('order-9', 'abc', 250)).toMatchObject({
      status: 200,
      body: { paymentId: 'order-9', accountId: 'abc', amount: 250, replayed: true },
    });
    expect(await acme.view('order-9')).toMatchObject({
      status: 200,
      body: { paymentId: 'order-9', status: 'COMPLETED', accountId: 'abc', amount: 250, expired: true },
    });
    expect(await globex.pay('order-9', 'abc', 250)).toMatchObject({ status: 409, body: { error: { code: 'payment_cancelled' } } });
    expect(await globex.view('order-9')).toMatchObject({ status: 200, body: { paymentId: 'order-9', status: 'CANCELLED' } });
    // Neither answer started a run again.
    expect(await temporalKnows(server.env, 'order-9', 'acme')).toBe(false);
    expect(await temporalKnows(server.env, 'order-9', 'globex')).toBe(false);
    expect((await ledger.entriesOf('acme/order-9')).map((e) => e.kind)).toEqual(['charge']);
  }));
