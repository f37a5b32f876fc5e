/**
 * ADMIN_PORT on the gateway process (`npm run api`, AUTH=keys) over the dev server: /metrics and
 * /docs move to a listener of their own on HOST, whose metrics count the public port's requests,
 * and there by tenant too; the public port answers 404 `not_found` for them, with a key or
 * without, and keeps the probes and the API. The admin port asks for keys as the public one
 * does, and a route there that asks for admin takes only an admin key. The start log names both
 * addresses, SIGTERM ends the process cleanly, and closing the gateway frees both ports.
 */
import { newKey } from '../src/access/keys';
import { createGateway, gatewayApp } from '../src/api';
import { loadConfig } from '../src/config';
import { buildAdminApp } from '../src/http/admin';
import { GatewayMetrics } from '../src/http/metrics';
import type { KeyScope, Ledger } from '../src/ledger/ledger';
import { openLedger } from '../src/ledger/open';
import { freePort, portIsFree } from '../src/net';
import { eventually } from './helpers/eventually';
import { call } from './helpers/gateway';
import { type Proc, startEntry } from './helpers/processes';
import { devServerPerFile, tempDir, testCodec } from './helpers/servers';
import { HOUR } from './helpers/stack';

jest.setTimeout(120_000);

const devServer = devServerPerFile();

async function keyOf(keys: Ledger, scope: KeyScope): Promise<{ id: string; key: string }> {
  const made = newKey();
  await keys.createKey({ id: made.id, tenant: 'default', scope, name: null, secretHash: made.secretHash });
  return made;
}

/** Two ports free a moment ago, not the same one. */
async function twoPorts(): Promise<[number, number]> {
  const first = await freePort();
  let second = await freePort();
  while (second === first) second = await freePort();
  return [first, second];
}

const notFound = (method: string, route: string) => ({
  status: 404,
  body: { error: { code: 'not_found', message: `no route ${method} ${route}` } },
});

test('with ADMIN_PORT the metrics and docs are served there and not on the public port; the log names both; SIGTERM ends both', async () => {
  const [port, adminPort] = await twoPorts();
  const settings = { TEMPORAL_ADDRESS: devServer.env.address, DATA_DIR: tempDir('admin-port'), HOST: '127.0.0.1', AUTH: 'keys' };
  const keys = await openLedger(loadConfig(settings));
  const made = await keyOf(keys, 'write');
  await keys.close();
  const caller = { authorization: `Bearer ${made.key}` };

  let gateway: Proc | undefined;
  try {
    // No worker runs here: a makePayment answers 202 at REQUEST_TIMEOUT, counted as in_flight.
    gateway = startEntry('src/api.ts', {
      ...settings,
      PORT: String(port),
      ADMIN_PORT: String(adminPort),
      LOG_LEVEL: 'info',
      REQUEST_TIMEOUT: '1s',
    });
    const started = gateway;
    const publicUrl = `http://127.0.0.1:${port}`;
    const adminUrl = `http://127.0.0.1:${adminPort}`;
    await eventually('the gateway says where it listens', async () => (started.output().includes('gateway on ') ? true : undefined), {
      timeoutMs: 60_000,
    }).catch((err: Error) => {
      throw new Error(`${err.message}\n--- gateway:\n${started.output()}`);
    });
    expect(started.output()).toContain(`gateway on ${publicUrl} (metrics and docs on ${adminUrl})`);

    // The public port: the probes and the API as before; metrics and docs are not here, for anyone.
    expect(await call(publicUrl, 'GET', '/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } });
    expect(await call(publicUrl, 'GET', '/readyz')).toMatchObject({ status: 200, body: { status: 'ok', temporal: true, ledger: true } });
    expect(await call(publicUrl, 'GET', '/accounts/acct', { headers: caller })).toMatchObject({ status: 200 });
    expect(await call(publicUrl, 'GET', '/accounts/acct')).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } });
    const paying = await call(publicUrl, 'POST', '/payments/admin-0/makePayment', {
      headers: caller,
      body: JSON.stringify({ accountId: 'acct', amount: 1 }),
      contentType: 'application/json',
    });
    expect(paying.status).toBe(202);
    for (const route of ['/metrics', '/docs', '/docs/json', '/docs/static/index.html']) {
      for (const headers of [{}, caller]) {
        expect({ route, answer: await call(publicUrl, 'GET', route, { headers }) }).toMatchObject({
          route,
          answer: notFound('GET', route),
        });
      }
    }

    // The admin port: the public port's requests counted, and the public API's document.
    const metrics = await call(adminUrl, 'GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.body).toMatch(/http_requests_total\{method="GET",route="\/healthz",status="200"\} 1\b/);
    expect(metrics.body).toMatch(/http_requests_total\{method="GET",route="\/accounts\/:accountId",status="401"\} 1\b/);
    // The outcome counted, and only here by tenant.
    expect(metrics.body).toContain('payments_total{operation="makePayment",outcome="in_flight"} 1\n');
    expect(metrics.body).toContain('payments_by_tenant_total{tenant="default",operation="makePayment",outcome="in_flight"} 1\n');
    const page = await fetch(`${adminUrl}/docs`, { redirect: 'follow' });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/swagger/i);
    const doc = (await call(adminUrl, 'GET', '/docs/json')).body;
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/payments/{id}/makePayment',
        '/payments/{id}/cancelPayment',
        '/accounts/{accountId}',
        '/healthz',
        '/readyz',
      ]),
    );
    expect(Object.keys(doc.paths)).not.toContain('/metrics');
    // and nothing else: no payments, no probes; asked without a key, as on the public port, it says only that a key is needed.
    expect(await call(adminUrl, 'GET', '/healthz', { headers: caller })).toMatchObject(notFound('GET', '/healthz'));
    expect(await call(adminUrl, 'GET', '/healthz')).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } });
    expect(
      await call(adminUrl, 'POST', '/payments/admin-1/makePayment', {
        headers: caller,
        body: JSON.stringify({ accountId: 'acct', amount: 1 }),
        contentType: 'application/json',
      }),
    ).toMatchObject(notFound('POST', '/payments/admin-1/makePayment'));

    gateway.kill('SIGTERM');
    expect(await gateway.exited).toBe(0);
    expect(gateway.output()).toContain('shutting down');
    expect([await portIsFree(port), await portIsFree(adminPort)]).toEqual([true, true]);
  } finally {
    gateway?.kill('SIGKILL');
  }
});

test("closing the gateway closes the admin port's listener too", async () => {
  const [port, adminPort] = await twoPorts();
  const config = loadConfig({
    TEMPORAL_ADDRESS: devServer.env.address,
    DATA_DIR: tempDir('admin-close'),
    PORT: String(port),
    ADMIN_PORT: String(adminPort),
    LOG_LEVEL: 'silent',
  });
  const gateway = await createGateway(config);
  const { url, adminUrl } = await gateway.listen();
  expect([url, adminUrl]).toEqual([`http://127.0.0.1:${port}`, `http://127.0.0.1:${adminPort}`]);
  expect((await call(adminUrl!, 'GET', '/metrics')).status).toBe(200);
  expect([await portIsFree(port), await portIsFree(adminPort)]).toEqual([false, false]);
  await gateway.close();
  expect([await portIsFree(port), await portIsFree(adminPort)]).toEqual([true, true]);
});

test('the admin app asks for keys as the public one does: its codec endpoint takes only an admin key; metrics and docs need none', async () => {
  const ledger = await openLedger(loadConfig({ DATA_DIR: tempDir('admin-scope') }));
  const [read, write, admin] = [await keyOf(ledger, 'read'), await keyOf(ledger, 'write'), await keyOf(ledger, 'admin')];
  const metrics = new GatewayMetrics();
  const access = { mode: 'keys' as const, keys: ledger, allowedOrigins: [] };
  const publicApp = await gatewayApp({
    client: devServer.env.client,
    ledger,
    records: ledger,
    taskQueue: 'admin-scope',
    expiryMs: HOUR,
    requestTimeoutMs: 30_000,
    logger: false,
    access,
    metrics,
    adminApart: true,
    codec: { codec: testCodec(), origins: [] },
  });
  await publicApp.ready();
  const adminApp = await buildAdminApp(publicApp, { logger: false, metrics, access, codec: { codec: testCodec(), origins: [] } });
  try {
    const url = await adminApp.listen({ host: '127.0.0.1', port: 0 });
    const payloads = { payloads: [{ metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: 'e30=' }] };
    const decode = (headers: Record<string, string> = {}) =>
      call(url, 'POST', '/codec/decode', { headers, contentType: 'application/json', body: JSON.stringify(payloads) });
    const asKey = (key: string) => decode({ authorization: `Bearer ${key}` });

    expect(await decode()).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } });
    for (const [key, scope] of [
      [read, 'read'],
      [write, 'write'],
    ] as const) {
      expect(await asKey(key.key)).toMatchObject({
        status: 403,
        body: { error: { code: 'forbidden', message: `key ${key.id} has scope ${scope}; POST /codec/decode needs scope admin` } },
      });
    }
    expect(await asKey(admin.key)).toMatchObject({ status: 200, body: payloads });
    // The public port, with ADMIN_PORT set, serves no codec.
    await publicApp.listen({ host: '127.0.0.1', port: 0 });
    const publicUrl = `http://127.0.0.1:${(publicApp.server.address() as { port: number }).port}`;
    expect(
      await call(publicUrl, 'POST', '/codec/decode', {
        headers: { authorization: `Bearer ${admin.key}` },
        contentType: 'application/json',
        body: JSON.stringify(payloads),
      }),
    ).toMatchObject({ status: 404 });
    expect(await call(publicUrl, 'POST', '/codec/decode', { contentType: 'application/json', body: '{}' })).toMatchObject({
      status: 404,
      body: { error: { code: 'not_found' } },
    });
    // Open as before, to Prometheus and to a person reading the docs.
    expect((await call(url, 'GET', '/metrics')).body).toContain('# TYPE payments_by_tenant_total counter');
    expect(await call(url, 'GET', '/docs/json')).toMatchObject({ status: 200, body: { openapi: expect.stringMatching(/^3\./) } });
  } finally {
    await adminApp.close();
    await publicApp.close();
    await ledger.close();
  }
});
