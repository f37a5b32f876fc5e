/**
 * The PostgreSQL ledger going away under a running gateway: account reads answer 503
 * ledger_unavailable with Retry-After and readiness fails, naming what is down (why, with no
 * password, is in the log), then both recover when the server is back, with no restart of the gateway.
 */
import { loadConfig } from '../src/config';
import { ForwardingLedger } from '../src/ledger/forwarding';
import { TransientLedgerError } from '../src/ledger/ledger';
import { PostgresLedger } from '../src/ledger/postgres';
import { freePort } from '../src/net';
import { createClient } from '../src/temporal';
import { testDataConverter } from './helpers/servers';
import { ThrowawayPostgres } from '../tools/postgres';
import { type Gateway, call, startGateway } from './helpers/gateway';
import { HOUR } from './helpers/stack';

jest.setTimeout(120_000);

// The throwaway server trusts every local connection, so the password is only carried, as in production.
const PASSWORD = 'hunter2-secret';
let server: ThrowawayPostgres;
let ledger: PostgresLedger;
let gateway: Gateway;
/** What the gateway logged at warn and above, one JSON line each. */
const logged: string[] = [];
const logger = { level: 'warn', stream: { write: (line: string) => logged.push(line) } };
beforeAll(async () => {
  server = await ThrowawayPostgres.create();
  const url = new URL(await server.createDatabase('outage'));
  url.password = PASSWORD;
  ledger = await PostgresLedger.open({ url: url.toString(), openingBalance: 500 });
  // Temporal plays no part in account reads; the client points nowhere.
  const client = createClient(loadConfig({ TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}` }), testDataConverter());
  gateway = await startGateway({ client, ledger, taskQueue: 'outage', expiryMs: HOUR, logger });
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
  const notReady = await call(gateway.url, 'GET', '/readyz');
  // Both dependencies named, and nothing of where they are; the log says why.
  expect(notReady).toMatchObject({
    status: 503,
    body: { status: 'unavailable', temporal: false, ledger: false, problems: ['temporal: unreachable', 'ledger: unreachable'] },
  });
  expect(JSON.stringify(notReady.body)).not.toMatch(/127\.0\.0\.1|localhost|ECONNREFUSED|:\d{2,5}\b/);
  const warning = logged.map((line) => JSON.parse(line)).find((entry) => entry.msg === 'not ready' && entry.problems.length === 2);
  expect(warning).toMatchObject({
    level: 40,
    problems: [
      expect.stringMatching(/^temporal: \d+ (UNAVAILABLE|DEADLINE_EXCEEDED): ./),
      expect.stringMatching(/^ledger: ledger database unreachable: .*ECONNREFUSED/),
    ],
  });
  expect(logged.join('') + JSON.stringify(notReady.body)).not.toContain(PASSWORD);

  await server.start();
  expect(await call(gateway.url, 'GET', '/accounts/acct-1')).toMatchObject({ status: 200, body: { balance: 500 } });
  // Still 503 (Temporal plays no part here and is absent), but the ledger is back.
  expect(await call(gateway.url, 'GET', '/readyz')).toMatchObject({
    status: 503,
    body: { ledger: true, problems: ['temporal: unreachable'] },
  });
});

/** A ledger whose error names its database URL, password and all, as a driver might. */
class Unreachable extends ForwardingLedger {
  override async ping(): Promise<void> {
    throw new TransientLedgerError(
      `ledger database unreachable: no answer from postgres://payments:${PASSWORD}@db.internal:5432/ledger?sslpassword=${PASSWORD}`,
    );
  }
}

test('a reason that holds a URL is logged without its passwords, and the body names neither the URL nor the host', async () => {
  logged.length = 0;
  const client = createClient(loadConfig({ TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}` }), testDataConverter());
  const unreachable = await startGateway({ client, ledger: new Unreachable(ledger), taskQueue: 'outage', expiryMs: HOUR, logger });
  try {
    const answer = await call(unreachable.url, 'GET', '/readyz');
    expect(answer.status).toBe(503);
    expect(answer.body.problems).toEqual(['temporal: unreachable', 'ledger: unreachable']);
    const warnings = logged.filter((line) => line.includes('not ready')).map((line) => JSON.parse(line));
    expect(warnings).toHaveLength(1);
    expect(warnings[0].problems).toEqual([
      expect.stringMatching(/^temporal: /),
      'ledger: ledger database unreachable: no answer from postgres://payments:***@db.internal:5432/ledger?sslpassword=***',
    ]);
    expect(logged.join('')).not.toContain(PASSWORD);
  } finally {
    await unreachable.app.close();
    await client.connection.close();
  }
});
