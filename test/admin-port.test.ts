/**
 * ADMIN_PORT on the gateway process (`npm run api`, AUTH=keys) over the dev server: /metrics and
 * /docs move to a listener of their own on HOST, whose metrics count the public port's requests;
 * the public port answers 404 `not_found` for them, with a key or without, and keeps the probes
 * and the API. The start log names both addresses, SIGTERM ends the process cleanly, and closing
 * the gateway frees both ports.
 */
import { newKey } from '../src/access/keys';
import { createGateway } from '../src/api';
import { loadConfig } from '../src/config';
import { openLedger } from '../src/ledger/open';
import { freePort, portIsFree } from '../src/net';
import { eventually } from './helpers/eventually';
import { call } from './helpers/gateway';
import { type Proc, startEntry } from './helpers/processes';
import { devServerPerFile, tempDir } from './helpers/servers';

jest.setTimeout(120_000);

const devServer = devServerPerFile();

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
  const made = newKey();
  await keys.createKey({ id: made.id, tenant: 'default', scope: 'write', name: null, secretHash: made.secretHash });
  await keys.close();
  const caller = { authorization: `Bearer ${made.key}` };

  let gateway: Proc | undefined;
  try {
    gateway = startEntry('src/api.ts', { ...settings, PORT: String(port), ADMIN_PORT: String(adminPort), LOG_LEVEL: 'info' });
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
    // and nothing else: no payments, no probes.
    expect(await call(adminUrl, 'GET', '/healthz')).toMatchObject(notFound('GET', '/healthz'));
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
