/**
 * The gateway, route by route and status code by status code (SPEC "HTTP API"), on a real
 * port, with a real worker and SQLite ledger on the dev server.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { loadConfig } from '../src/config';
import { freePort } from '../src/net';
import { createClient } from '../src/temporal';
import { type Gateway, call, cancel, pay, startGateway } from './helpers/gateway';
import { devServerEnv, testDataConverter } from './helpers/servers';
import { OPENING_BALANCE, type Stack, startStack } from './helpers/stack';

jest.setTimeout(120_000);

let env: TestWorkflowEnvironment;
let stack: Stack & { stop: () => Promise<void> };
let gateway: Gateway;
let url: string;
const HOUR = 3_600_000;

beforeAll(async () => {
  env = await devServerEnv();
  stack = await startStack(env);
  gateway = await startGateway({ client: env.client, ledger: stack.ledger, taskQueue: stack.taskQueue, expiryMs: HOUR });
  url = gateway.url;
});
afterAll(async () => {
  await gateway?.app.close();
  await stack?.stop();
  await env?.teardown();
});

const payment = { accountId: 'abc', amount: 100 };
const completed = (paymentId: string, replayed: boolean, p = payment) => ({ paymentId, status: 'COMPLETED', ...p, replayed });
const errorOf = (code: string) => ({ error: { code, message: expect.any(String) } });

/** makePayment, cancelPayment and GET of the payment each answer 503 temporal_unavailable with Retry-After. */
async function expectEveryRequestRetryable(gatewayUrl: string, paymentId: string): Promise<void> {
  for (const answer of [
    await pay(gatewayUrl, paymentId, payment),
    await cancel(gatewayUrl, paymentId),
    await call(gatewayUrl, 'GET', `/payments/${paymentId}`),
  ]) {
    expect(answer.status).toBe(503);
    expect(answer.headers.get('retry-after')).toBe('1');
    expect(answer.body).toEqual(errorOf('temporal_unavailable'));
  }
}

describe('makePayment', () => {
  test('200 charged, then 200 replayed with the Idempotent-Replayed header, never a second charge', async () => {
    const first = await pay(url, 'm1', payment);
    expect(first.status).toBe(200);
    expect(first.body).toEqual(completed('m1', false));
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    const again = await pay(url, 'm1', payment);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(completed('m1', true));
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await stack.ledger.entriesOf('m1')).toHaveLength(1);
  });

  test('a duplicate that arrives while the first is charging waits and answers the same', async () => {
    stack.ledger.hold();
    const first = pay(url, 'm2', payment);
    await stack.ledger.chargeArrived;
    let answered = false;
    const second = pay(url, 'm2', payment).finally(() => (answered = true));
    // The duplicate has reached the gateway while the charge is held, and waits for it.
    await stack.ledger.requestsReached('m2', 2);
    expect(answered).toBe(false);
    stack.ledger.release();
    expect((await first).body).toEqual(completed('m2', false));
    expect((await second).body).toEqual(completed('m2', true));
    expect(await stack.ledger.entriesOf('m2')).toHaveLength(1);
  });

  test('422 idempotency_mismatch for another account or amount; nothing charged', async () => {
    await pay(url, 'm3', payment);
    for (const other of [
      { ...payment, amount: 101 },
      { ...payment, accountId: 'xyz' },
    ]) {
      const answer = await pay(url, 'm3', other);
      expect(answer.status).toBe(422);
      expect(answer.body).toEqual(errorOf('idempotency_mismatch'));
    }
    expect(await stack.ledger.entriesOf('m3')).toHaveLength(1);
  });

  test('402 insufficient_funds, status DECLINED, nothing charged; a later makePayment tries again', async () => {
    const big = { accountId: 'poor', amount: OPENING_BALANCE - 50 };
    await pay(url, 'm4-big', big);
    const declined = await pay(url, 'm4', { accountId: 'poor', amount: 100 });
    expect(declined.status).toBe(402);
    expect(declined.body).toEqual(errorOf('insufficient_funds'));
    expect((await call(url, 'GET', '/payments/m4')).body).toMatchObject({ status: 'DECLINED' });
    expect(await stack.ledger.entriesOf('m4')).toEqual([]);
    await cancel(url, 'm4-big');
    expect((await pay(url, 'm4', { accountId: 'poor', amount: 100 })).body).toEqual(
      completed('m4', false, { accountId: 'poor', amount: 100 }),
    );
  });

  test('409 payment_cancelled after a cancel; nothing charged', async () => {
    await cancel(url, 'm5');
    const answer = await pay(url, 'm5', payment);
    expect(answer.status).toBe(409);
    expect(answer.body).toEqual(errorOf('payment_cancelled'));
    expect(await stack.ledger.entriesOf('m5')).toEqual([]);
  });
});

describe('cancelPayment', () => {
  test('before any charge: refunded false, and again the same', async () => {
    for (let i = 0; i < 2; i++) {
      const answer = await cancel(url, 'c1');
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({ paymentId: 'c1', status: 'CANCELLED', refunded: false });
    }
  });

  test('after the charge: refunded once; again answers the same and does nothing', async () => {
    await pay(url, 'c2', payment);
    for (let i = 0; i < 2; i++) {
      expect((await cancel(url, 'c2')).body).toEqual({ paymentId: 'c2', status: 'CANCELLED', refunded: true });
    }
    expect((await stack.ledger.entriesOf('c2')).map((e) => e.kind)).toEqual(['charge', 'refund']);
  });
});

describe('expiry', () => {
  let shortLived: Gateway;
  beforeAll(async () => {
    shortLived = await startGateway({ client: env.client, ledger: stack.ledger, taskQueue: stack.taskQueue, expiryMs: 1000 });
  });
  afterAll(async () => {
    await shortLived.app.close();
  });

  test('after the window: a replay still answers the charge, cancelPayment answers 409 payment_expired; the charge stands', async () => {
    expect((await pay(shortLived.url, 'x1', payment)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const again = await pay(shortLived.url, 'x1', payment);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(completed('x1', true));
    expect((await pay(shortLived.url, 'x1', { ...payment, amount: 101 })).body).toEqual(errorOf('idempotency_mismatch'));
    const cancelled = await cancel(shortLived.url, 'x1');
    expect(cancelled.status).toBe(409);
    expect(cancelled.body).toEqual(errorOf('payment_expired'));
    expect((await stack.ledger.entriesOf('x1')).map((e) => e.kind)).toEqual(['charge']);
    expect((await call(shortLived.url, 'GET', '/payments/x1')).body).toMatchObject({ status: 'COMPLETED', expired: true });
  });
});

describe('reads', () => {
  test('GET /payments/:id shows the state; 404 payment_not_found for an id never seen', async () => {
    await pay(url, 'r1', payment);
    const answer = await call(url, 'GET', '/payments/r1');
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({
      paymentId: 'r1',
      status: 'COMPLETED',
      ...payment,
      refunded: false,
      expiresAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      expired: false,
    });
    const missing = await call(url, 'GET', '/payments/never-seen');
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual(errorOf('payment_not_found'));
  });

  test('GET /accounts/:accountId: balance and entries newest first, limit; an unused account shows the opening balance', async () => {
    await pay(url, 'r2', { accountId: 'reader', amount: 30 });
    await pay(url, 'r3', { accountId: 'reader', amount: 20 });
    await cancel(url, 'r2');
    const answer = await call(url, 'GET', '/accounts/reader');
    expect(answer.status).toBe(200);
    expect(answer.body.balance).toBe(OPENING_BALANCE - 20);
    expect(answer.body.entries.map((e: { paymentId: string; kind: string }) => `${e.kind}:${e.paymentId}`)).toEqual([
      'refund:r2',
      'charge:r3',
      'charge:r2',
    ]);
    expect(answer.body.entries[0]).toEqual({ paymentId: 'r2', kind: 'refund', amount: 30, keyId: null, at: expect.any(String) });
    expect((await call(url, 'GET', '/accounts/reader?limit=1')).body.entries).toHaveLength(1);
    expect((await call(url, 'GET', '/accounts/nobody')).body).toEqual({ accountId: 'nobody', balance: OPENING_BALANCE, entries: [] });
  });
});

describe('operations', () => {
  test('/healthz and /readyz', async () => {
    expect(await call(url, 'GET', '/healthz')).toMatchObject({ status: 200, body: { status: 'ok' } });
    const ready = await call(url, 'GET', '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: 'ok', temporal: true, ledger: true }); // and no problems
  });

  test('/docs serves a page and an OpenAPI 3 document of every route', async () => {
    const page = await fetch(`${url}/docs`, { redirect: 'follow' });
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/swagger/i);
    const doc = (await call(url, 'GET', '/docs/json')).body;
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/payments/{id}/makePayment',
        '/payments/{id}/cancelPayment',
        '/payments/{id}',
        '/accounts/{accountId}',
        '/healthz',
        '/readyz',
        '/metrics',
      ]),
    );
    expect(doc.paths['/payments/{id}/makePayment'].post.requestBody.content['application/json'].schema.required).toEqual([
      'accountId',
      'amount',
    ]);
  });

  test('/metrics: requests by route and status, latency histogram, payment outcomes', async () => {
    await pay(url, 'o1', payment);
    await pay(url, 'o1', payment);
    const text = (await call(url, 'GET', '/metrics')).body as string;
    expect(text).toMatch(/http_requests_total\{method="POST",route="\/payments\/:id\/makePayment",status="200"\} \d+/);
    expect(text).toMatch(/http_request_duration_seconds_bucket\{le="0.1",method="POST",route="\/payments\/:id\/makePayment"\}/);
    expect(text).toMatch(/payments_total\{operation="makePayment",outcome="completed"\} \d+/);
    expect(text).toMatch(/payments_total\{operation="makePayment",outcome="replayed"\} \d+/);
    // Served on the public port (no ADMIN_PORT): no tenant named, not even the default one.
    expect(text).not.toMatch(/tenant|payments_by_tenant/);
  });

  test('503 temporal_unavailable with Retry-After when Temporal is unreachable; /readyz says so; nothing half-done', async () => {
    const client = createClient(loadConfig({ TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}` }), testDataConverter());
    const down = await startGateway({ client, ledger: stack.ledger, taskQueue: stack.taskQueue, expiryMs: HOUR });
    try {
      await expectEveryRequestRetryable(down.url, 'u1');
      // It says what is down, and nothing of where: no host or port.
      expect(await call(down.url, 'GET', '/readyz')).toEqual(
        expect.objectContaining({
          status: 503,
          body: { status: 'unavailable', temporal: false, ledger: true, problems: ['temporal: unreachable'] },
        }),
      );
    } finally {
      await down.app.close();
    }
    expect(await stack.ledger.entriesOf('u1')).toEqual([]);
    expect((await call(url, 'GET', '/payments/u1')).status).toBe(404);
  });

  test('503 temporal_unavailable, not a 500, while Temporal does not know the namespace (a cluster before its launcher registers it)', async () => {
    const client = createClient(
      loadConfig({ TEMPORAL_ADDRESS: env.connection.options.address, TEMPORAL_NAMESPACE: 'not-registered' }),
      testDataConverter(),
    );
    const early = await startGateway({ client, ledger: stack.ledger, taskQueue: stack.taskQueue, expiryMs: HOUR });
    try {
      await expectEveryRequestRetryable(early.url, 'ns1');
    } finally {
      await early.app.close();
    }
    expect(await stack.ledger.entriesOf('ns1')).toEqual([]);
  });

  test('shutdown lets an in-flight payment finish', async () => {
    const closing = await startGateway({ client: env.client, ledger: stack.ledger, taskQueue: stack.taskQueue, expiryMs: HOUR });
    stack.ledger.hold();
    const inFlight = pay(closing.url, 'g1', payment);
    await stack.ledger.chargeArrived;
    const closed = closing.app.close();
    await new Promise((resolve) => setTimeout(resolve, 200));
    stack.ledger.release();
    const answer = await inFlight;
    await closed;
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual(completed('g1', false));
  });
});

test('the seed curl commands work verbatim', async () => {
  const port = new URL(url).port;
  const curl = async (...args: string[]) => JSON.parse((await promisify(execFile)('curl', ['-s', ...args])).stdout);
  expect(
    await curl(
      '-X',
      'POST',
      `localhost:${port}/payments/my-payment-id/makePayment`,
      '-H',
      'content-type: application/json',
      '-d',
      '{  "accountId": "abc", "amount": 100 }',
    ),
  ).toEqual(completed('my-payment-id', false));
  expect(await curl('-X', 'POST', `localhost:${port}/payments/my-payment-id/cancelPayment`)).toEqual({
    paymentId: 'my-payment-id',
    status: 'CANCELLED',
    refunded: true,
  });
});

test('a payment-id and an account-id of the full 200 characters work', async () => {
  const id = `p${'x'.repeat(199)}`;
  const account = `a${'y'.repeat(199)}`;
  expect((await pay(url, id, { accountId: account, amount: 1 })).body).toEqual(completed(id, false, { accountId: account, amount: 1 }));
  expect((await call(url, 'GET', `/accounts/${account}`)).body.balance).toBe(OPENING_BALANCE - 1);
});
