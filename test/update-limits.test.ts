/**
 * Temporal's per-workflow update limits, made small on a dev server of this file's own, so
 * that a payment meets them in a few requests: the payment still answers every request
 * rightly and stays cancellable, continuing as new when Temporal suggests it.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { loadConfig } from '../src/config';
import { workflowIdFor } from '../src/domain/contract';
import { startSearchAttributes } from '../src/domain/search-attributes';
import { createClient } from '../src/temporal';
import { eventually } from './helpers/eventually';
import { cancel, pay, startGateway, type Gateway } from './helpers/gateway';
import { devServerEnv, testDataConverter } from './helpers/servers';
import { HOUR, OPENING_BALANCE, type Stack, startStack } from './helpers/stack';

jest.setTimeout(120_000);

let env: TestWorkflowEnvironment;
let stack: Stack & { stop: () => Promise<void> };
let gateway: Gateway;
beforeAll(async () => {
  env = await devServerEnv({
    dynamicConfig: {
      'history.maxInFlightUpdates': '1',
      'history.maxTotalUpdates': '10',
      // Suggest continue-as-new at 3 updates instead of 1,800.
      'history.maxTotalUpdates.suggestContinueAsNewThreshold': '0.3',
    },
  });
  stack = await startStack(env);
  // The gateway's own client: it retries a refused update a few times (about ten seconds), not for a minute as the test's does.
  const client = createClient(loadConfig({ TEMPORAL_ADDRESS: env.address }), testDataConverter());
  gateway = await startGateway({ client, ledger: stack.ledger, taskQueue: stack.taskQueue, expiryMs: HOUR, requestTimeoutMs: 60_000 });
});
afterAll(async () => {
  await gateway?.app.close();
  await stack?.stop();
  await env?.teardown();
});

const declinesPastTheUpdateLimit =
  'more declined attempts than a run allows updates: ' +
  'each answered 402, the payment continues as new, keeps its window and stays cancellable';
test(declinesPastTheUpdateLimit, async () => {
  const id = 'limits-1';
  const tooMuch = { accountId: 'acct-limits', amount: OPENING_BALANCE + 1 };
  const first = await pay(gateway.url, id, tooMuch);
  expect(first.body.error.code).toBe('insufficient_funds');
  const { expiresAt } = (await stack.payments.getPayment(id))!;
  for (let i = 0; i < 24; i++) {
    const again = await pay(gateway.url, id, tooMuch);
    expect([again.status, again.body.error.code]).toEqual([402, 'insufficient_funds']);
  }
  const description = await env.client.workflow.getHandle(workflowIdFor(id)).describe();
  expect(description.raw.workflowExecutionInfo!.firstRunId).not.toBe(description.runId);
  expect(await stack.payments.getPayment(id)).toMatchObject({ status: 'DECLINED', expiresAt, amount: tooMuch.amount });

  expect((await cancel(gateway.url, id)).body).toEqual({ paymentId: id, status: 'CANCELLED', refunded: false });
  expect((await pay(gateway.url, id, tooMuch)).body.error.code).toBe('payment_cancelled');
  expect(await stack.ledger.entriesOf(id)).toEqual([]);
});

const cancelWhileChargeHoldsTheUpdate =
  'a cancel while the charge holds the one update allowed in flight answers 202 (Temporal refused only the wait), and the refund follows';
test(cancelWhileChargeHoldsTheUpdate, async () => {
  const id = 'limits-2';
  const payment = { accountId: 'acct-limits-2', amount: 100 };
  stack.ledger.hold();
  const paying = pay(gateway.url, id, payment);
  await stack.ledger.chargeArrived;
  const cancelling = await cancel(gateway.url, id);
  expect(cancelling.status).toBe(202);
  expect(cancelling.headers.get('retry-after')).toBe('1');
  expect(cancelling.body).toMatchObject({ paymentId: id, status: 'PROCESSING' });
  stack.ledger.release();
  // Cancelled while charging: the charge lands, is refunded, and the makePayment answers the cancellation.
  expect((await paying).body.error.code).toBe('payment_cancelled');
  expect((await cancel(gateway.url, id)).body).toEqual({ paymentId: id, status: 'CANCELLED', refunded: true });
  expect((await stack.ledger.entriesOf(id)).map((e) => e.kind)).toEqual(['charge', 'refund']);
});

test("GET /payments lists a payment that continued as new once, and skips a workflow whose ID is not a payment's", async () => {
  // limits-1 (above) ran in several runs; the closed ones stay in visibility as ContinuedAsNew.
  const runs = await env.client.workflow.count(`WorkflowId = '${workflowIdFor('limits-1')}'`);
  expect(runs.count).toBeGreaterThan(1);
  // A payment workflow started by hand under an ID the gateway never makes, carrying the tenant's attributes.
  await env.client.workflow.start('payment', {
    workflowId: 'not-a-payment',
    taskQueue: 'nobody-polls',
    typedSearchAttributes: startSearchAttributes({
      tenant: 'default',
      status: 'PROCESSING',
      accountId: 'acct-limits',
      amount: 1,
      refunded: false,
      expiresAt: new Date().toISOString(),
    }),
  });
  await eventually('both indexed', async () =>
    (await env.client.workflow.count(`AccountId = 'acct-limits'`)).count > runs.count ? true : undefined,
  );

  const listed = await fetch(`${gateway.url}/payments?accountId=acct-limits`);
  expect(listed.status).toBe(200);
  const { payments } = (await listed.json()) as { payments: { paymentId: string }[] };
  expect(payments.map((p) => p.paymentId)).toEqual(['limits-1']);
});
