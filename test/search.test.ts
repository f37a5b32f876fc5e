/**
 * Finding payments, on the dev server's real visibility: every payment workflow carries search
 * attributes of its view and tenant, kept up to date as it changes; GET /payments pages through
 * the caller's own payments by status and account; and a worker whose namespace lacks the
 * attributes says so and waits rather than failing payments.
 */
import { newKey } from '../src/access/keys';
import { execFileSync } from 'node:child_process';
import { PAYMENT_WORKFLOW, getPaymentQuery, workflowIdFor } from '../src/domain/contract';
import { SEARCH_ATTRIBUTES } from '../src/domain/search-attributes';
import { registerSearchAttributes } from '../src/search-attributes';
import { eventually } from './helpers/eventually';
import { type Answer, call, startGateway } from './helpers/gateway';
import { startEntry } from './helpers/processes';
import { devServerEnv, devServerPerFile, tempDir } from './helpers/servers';
import { HOUR, withStack } from './helpers/stack';
import { TEMPORAL_CLI } from '../tools/paths';

jest.setTimeout(120_000);

const server = devServerPerFile();

test("each payment's search attributes follow its status; GET /payments pages through the caller's own", () => {
  const { env } = server;
  return withStack(env, { openingBalance: 1000 }, async ({ ledger, taskQueue }) => {
    const gateway = await startGateway({
      client: env.client,
      ledger,
      taskQueue,
      expiryMs: HOUR,
      access: { mode: 'keys', keys: ledger, allowedOrigins: [] },
    });
    try {
      const keyOf = async (tenant: string) => {
        const made = newKey();
        await ledger.createKey({ id: made.id, tenant, scope: 'write', name: null, secretHash: made.secretHash });
        return { authorization: `Bearer ${made.key}` };
      };
      const acme = await keyOf('acme');
      const globex = await keyOf('globex');
      const pay = (headers: Record<string, string>, id: string, accountId: string, amount: number) =>
        call(gateway.url, 'POST', `/payments/${id}/makePayment`, {
          headers,
          body: JSON.stringify({ accountId, amount }),
          contentType: 'application/json',
        });
      const list = (headers: Record<string, string>, query = ''): Promise<Answer> =>
        call(gateway.url, 'GET', `/payments${query}`, { headers });

      expect((await pay(acme, 'p1', 'abc', 100)).status).toBe(200);
      expect((await pay(acme, 'p2', 'abc', 200)).status).toBe(200);
      expect((await pay(acme, 'p3', 'xyz', 300)).status).toBe(200);
      expect((await call(gateway.url, 'POST', '/payments/p2/cancelPayment', { headers: acme })).status).toBe(200);
      expect((await pay(acme, 'p4', 'abc', 5000)).status).toBe(402);
      expect((await pay(globex, 'p1', 'abc', 100)).status).toBe(200);
      // NEW: started with no payment, as `temporal workflow start` may; PROCESSING: its charge held in the ledger.
      await env.client.workflow.start(PAYMENT_WORKFLOW, { workflowId: workflowIdFor('p5', 'acme'), taskQueue, args: [{}] });
      ledger.hold();
      const held = pay(acme, 'p6', 'xyz', 50);
      await ledger.chargeArrived;

      // The attributes as the workflow last set them: refunded after the charge is CANCELLED.
      const attributes = async (id: string, tenant: string) => {
        const { typedSearchAttributes } = await env.client.workflow.getHandle(workflowIdFor(id, tenant)).describe();
        return Object.fromEntries(Object.entries(SEARCH_ATTRIBUTES).map(([field, key]) => [field, typedSearchAttributes.get(key)]));
      };
      const window = { expiresAt: expect.any(Date) };
      expect(await attributes('p2', 'acme')).toEqual({
        tenant: 'acme',
        status: 'CANCELLED',
        accountId: 'abc',
        amount: 200,
        refunded: true,
        ...window,
      });
      expect(await attributes('p4', 'acme')).toEqual({
        tenant: 'acme',
        status: 'DECLINED',
        accountId: 'abc',
        amount: 5000,
        refunded: false,
        ...window,
      });
      // The window counts from when the gateway first saw the payment-id, just before Temporal started
      // its run, and the attribute is the window the workflow keeps.
      const p2 = env.client.workflow.getHandle(workflowIdFor('p2', 'acme'));
      const { startTime } = await p2.describe();
      const expiresAt = (await attributes('p2', 'acme')).expiresAt as Date;
      expect(startTime.getTime() + HOUR - expiresAt.getTime()).toBeGreaterThanOrEqual(0);
      expect(startTime.getTime() + HOUR - expiresAt.getTime()).toBeLessThan(5000);
      expect((await p2.query(getPaymentQuery)).expiresAt).toBe(expiresAt.toISOString());

      // Visibility lags the workflow by about a second.
      const ids = async (headers: Record<string, string>, query: string) => {
        const answer = await list(headers, query);
        expect(answer.status).toBe(200);
        return (answer.body.payments as { paymentId: string }[]).map((p) => p.paymentId).sort();
      };
      const shows = (headers: Record<string, string>, query: string, expected: string[]) =>
        eventually(`GET /payments${query} shows ${expected.join(' ')}`, async () =>
          JSON.stringify(await ids(headers, query)) === JSON.stringify(expected) ? true : undefined,
        );
      await shows(acme, '?status=NEW', ['p5']);
      await shows(acme, '?status=PROCESSING', ['p6']);
      ledger.release();
      expect((await held).status).toBe(200);
      await shows(acme, '', ['p1', 'p2', 'p3', 'p4', 'p5', 'p6']);
      await shows(acme, '?status=COMPLETED', ['p1', 'p3', 'p6']);
      await shows(acme, '?status=COMPLETED&accountId=abc', ['p1']);
      await shows(acme, '?status=DECLINED', ['p4']);
      await shows(globex, '', ['p1']);
      const page = await list(acme, '?accountId=xyz&status=COMPLETED');
      expect(page.body.nextCursor).toBeNull();
      // Each item is the payment's view, as GET /payments/:id shows it.
      const views = page.body.payments.sort((a: { amount: number }, b: { amount: number }) => a.amount - b.amount);
      expect(views).toEqual([
        {
          paymentId: 'p6',
          status: 'COMPLETED',
          accountId: 'xyz',
          amount: 50,
          refunded: false,
          expiresAt: expect.any(String),
          expired: false,
        },
        {
          paymentId: 'p3',
          status: 'COMPLETED',
          accountId: 'xyz',
          amount: 300,
          refunded: false,
          expiresAt: expect.any(String),
          expired: false,
        },
      ]);
      for (const view of views)
        expect((await call(gateway.url, 'GET', `/payments/${view.paymentId}`, { headers: acme })).body).toEqual(view);
      await shows(acme, '?status=CANCELLED', ['p2']);
      expect((await list(acme, '?status=CANCELLED')).body.payments[0]).toMatchObject({ paymentId: 'p2', refunded: true });

      // The temporal CLI finds the same payments with the same attributes.
      const listed = execFileSync(TEMPORAL_CLI, [
        'workflow',
        'list',
        '--address',
        env.address,
        '--query',
        "PaymentTenant = 'acme' AND PaymentStatus = 'COMPLETED' AND AccountId = 'xyz'",
        '--output',
        'json',
      ]).toString();
      expect((JSON.parse(listed) as { execution: { workflowId: string } }[]).map((w) => w.execution.workflowId).sort()).toEqual([
        'payment:acme/p3',
        'payment:acme/p6',
      ]);

      // One at a time, the cursor walks every payment once.
      const walked: string[] = [];
      let cursor: string | null = null;
      do {
        const answer: Answer = await list(acme, `?limit=1${cursor ? `&cursor=${cursor}` : ''}`);
        expect(answer.status).toBe(200);
        walked.push(...answer.body.payments.map((p: { paymentId: string }) => p.paymentId));
        cursor = answer.body.nextCursor;
      } while (cursor);
      expect(walked.sort()).toEqual(['p1', 'p2', 'p3', 'p4', 'p5', 'p6']);

      // Bad input names the problem and never reaches Temporal, query syntax included.
      const injection = `?accountId=${encodeURIComponent("abc' OR PaymentTenant = 'globex")}`;
      for (const query of ['?status=LOST', '?limit=0', '?limit=1001', "?accountId=a'b", '?accountId=a%20b', injection, '?sort=amount']) {
        expect({ query, answer: (await list(acme, query)).status }).toEqual({ query, answer: 400 });
      }
      // A forged cursor, or one of another search, is refused, not passed on.
      const firstPage = await list(acme, '?limit=1');
      for (const [what, headers, query] of [
        ['forged', acme, `?cursor=${Buffer.from('not a page token').toString('base64url')}`],
        ['another filter', acme, `?status=COMPLETED&limit=1&cursor=${firstPage.body.nextCursor}`],
        ["another tenant's", globex, `?limit=1&cursor=${firstPage.body.nextCursor}`],
      ] as const) {
        expect({ what, answer: await list(headers, query) }).toMatchObject({
          what,
          answer: { status: 400, body: { error: { code: 'invalid_request', message: expect.stringContaining('cursor') } } },
        });
      }
    } finally {
      await gateway.app.close();
    }
  });
});

test('a worker whose namespace lacks the search attributes says so, waits, and polls once they exist', async () => {
  const bare = await devServerEnv({ searchAttributes: false });
  const worker = startEntry('src/worker.ts', {
    ...process.env,
    TEMPORAL_ADDRESS: bare.address,
    DATA_DIR: tempDir('search-worker'),
    TASK_QUEUE: 'search-worker',
    LOG_LEVEL: 'info',
  } as Record<string, string>);
  try {
    await eventually('the worker says what is missing', async () =>
      /worker waits before polling/.test(worker.output()) ? true : undefined,
    );
    expect(worker.output()).toContain(
      "lacks the payments' search attributes PaymentStatus, AccountId, PaymentAmount, PaymentTenant, PaymentRefunded, PaymentExpiresAt",
    );
    expect(worker.output()).toContain('temporal operator search-attribute create --namespace default --name PaymentStatus --type Keyword');
    expect(worker.output()).toContain('--name PaymentExpiresAt --type Datetime');
    expect(worker.output()).not.toContain('worker polling');
    // Meanwhile a search says why it cannot answer, as a 503 to retry, not a 500.
    await withStack(bare, {}, async ({ payments }) => {
      await expect(payments.listPayments({ limit: 10 })).rejects.toMatchObject({
        code: 'temporal_unavailable',
        message: expect.stringContaining("lacks the payments' search attributes"),
      });
    });
    expect(await registerSearchAttributes(bare.connection.operatorService, 'default')).toEqual([
      'PaymentStatus',
      'AccountId',
      'PaymentAmount',
      'PaymentTenant',
      'PaymentRefunded',
      'PaymentExpiresAt',
    ]);
    await eventually('the worker polls', async () => (/worker polling/.test(worker.output()) ? true : undefined));
    expect(await registerSearchAttributes(bare.connection.operatorService, 'default')).toEqual([]);
  } finally {
    worker.kill();
    await worker.exited;
    await bare.teardown();
  }
});
