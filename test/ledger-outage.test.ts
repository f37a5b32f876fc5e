/**
 * The PostgreSQL ledger going away under a running gateway: account reads answer 503
 * ledger_unavailable with Retry-After and readiness fails, then both recover when the
 * server is back, with no restart of the gateway.
 */
import { loadConfig } from '../src/config';
import { PostgresLedger } from '../src/ledger/postgres';
import { freePort } from '../src/net';
import { createClient } from '../src/temporal';
import { ThrowawayPostgres } from '../tools/postgres';
import { type Gateway, call, startGateway } from './helpers/gateway';
import { HOUR } from './helpers/stack';

jest.setTimeout(120_000);

let server: ThrowawayPostgres;
let ledger: PostgresLedger;
let gateway: Gateway;
beforeAll(async () => {
  server = await ThrowawayPostgres.create();
  ledger = await PostgresLedger.open({ url: await server.createDatabase('outage'), openingBalance: 500 });
  // Temporal plays no part in account reads; the client points nowhere.
  const client = createClient(loadConfig({ TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}` }));
  gateway = await startGateway({ client, ledger, taskQueue: 'outage', expiryMs: HOUR });
});
afterAll(async () => {
  await gateway?.app.close();
  await ledger?.close();
  await server?.destroy();
});

test('account reads answer 503 ledger_unavailable while PostgreSQL is down, and recover after', async () => {
  expect(await call(gateway.url, 'GET', '/accounts/acct-1')).toMatchObject({ status: 200, body: { balance: 500 } });
  expect(await call(gateway.url, 'GET', '/readyz')).toMatchObject({ body: { ledger: true } });

  await server.stop();
  const down = await call(gateway.url, 'GET', '/accounts/acct-1');
  expect(down.status).toBe(503);
  expect(down.body.error.code).toBe('ledger_unavailable');
  expect(down.headers.get('retry-after')).toBe('1');
  expect(await call(gateway.url, 'GET', '/readyz')).toMatchObject({ status: 503, body: { ledger: false } });

  await server.start();
  expect(await call(gateway.url, 'GET', '/accounts/acct-1')).toMatchObject({ status: 200, body: { balance: 500 } });
  // Still 503 (Temporal plays no part here and is absent), but the ledger is back.
  expect(await call(gateway.url, 'GET', '/readyz')).toMatchObject({ status: 503, body: { ledger: true } });
});
