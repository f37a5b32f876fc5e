/**
 * Duplicates are free (SPEC "What must hold"): through the real gateway on the dev server,
 * thousands of identical requests for one payment-id are answered without spending Temporal's
 * per-workflow update budget (10 in flight, 2,000 per run), and the payment stays cancellable.
 * And every request ends: with no worker running, a payment answers 202 at REQUEST_TIMEOUT and
 * goes on once a worker starts.
 */
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { workflowIdFor } from '../src/domain/contract';
import { SqliteLedger } from '../src/ledger/sqlite';
import { LedgerProvider } from '../src/providers/ledger';
import type { PaymentProvider } from '../src/providers/provider';
import { freePort } from '../src/net';
import { createPaymentWorker } from '../src/worker';
import { type Answer, type Gateway, cancel, pay, startGateway } from './helpers/gateway';
import { devServerEnv, frontendRequests, tempDir, testDataConverter, workflowBundle } from './helpers/servers';
import { eventually } from './helpers/eventually';
import { HOUR, OPENING_BALANCE, type Stack, startStack } from './helpers/stack';

jest.setTimeout(300_000);

let env: TestWorkflowEnvironment;
let metricsUrl: string;
let stack: Stack & { stop: () => Promise<void> };
let gateway: Gateway;
beforeAll(async () => {
  const metricsPort = await freePort();
  metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  env = await devServerEnv({ metricsPort });
  stack = await startStack(env);
  gateway = await startGateway({ client: env.client, ledger: stack.ledger, taskQueue: stack.taskQueue, expiryMs: HOUR });
});
afterAll(async () => {
  await gateway?.app.close();
  await stack?.stop();
  await env?.teardown();
});

const payment = { accountId: 'acct-dup', amount: 100 };

/** `count` calls, at most `width` at a time. */
async function inWaves(count: number, width: number, call: () => Promise<Answer>): Promise<Answer[]> {
  const answers: Answer[] = [];
  for (let done = 0; done < count; done += width) {
    answers.push(...(await Promise.all(Array.from({ length: Math.min(width, count - done) }, call))));
  }
  return answers;
}

/** Updates the payment's workflow has accepted (each one counts against Temporal's 2,000 per run). */
async function acceptedUpdates(paymentId: string): Promise<number> {
  const history = await env.client.workflow.getHandle(workflowIdFor(paymentId)).fetchHistory();
  return history.events!.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length;
}

const statuses = (answers: Answer[]) => [...new Set(answers.map((a) => a.status))];

test('100 concurrent and 5,000 more identical makePayments, then cancels: one charge, one refund, every answer 200', async () => {
  const id = 'dup-1';
  const first = await Promise.all(Array.from({ length: 100 }, () => pay(gateway.url, id, payment)));
  expect(statuses(first)).toEqual([200]);
  expect(first.filter((a) => !a.body.replayed)).toHaveLength(1);

  const repeats = await inWaves(5000, 25, () => pay(gateway.url, id, payment));
  expect(statuses(repeats)).toEqual([200]);
  expect(repeats.every((a) => a.body.replayed === true && a.body.status === 'COMPLETED')).toBe(true);

  const cancels = await Promise.all(Array.from({ length: 100 }, () => cancel(gateway.url, id)));
  expect(statuses(cancels)).toEqual([200]);
  expect(cancels.every((a) => a.body.refunded === true)).toBe(true);
  const later = await inWaves(500, 25, () => cancel(gateway.url, id));
  expect(statuses(later)).toEqual([200]);
  const refused = await pay(gateway.url, id, payment);
  expect(refused.status).toBe(409);
  expect(refused.body.error.code).toBe('payment_cancelled');

  expect((await stack.ledger.entriesOf(id)).map((e) => e.kind)).toEqual(['charge', 'refund']);
  expect((await stack.ledger.account(payment.accountId)).balance).toBe(OPENING_BALANCE);
  // One makePayment and one cancellation reached the workflow as updates: the budget is untouched.
  expect(await acceptedUpdates(id)).toBeLessThanOrEqual(2);
});

test('retries after a decline each try again, and a repeat of the same try shares its update', async () => {
  const id = 'dup-2';
  const tooMuch = { accountId: 'acct-dup-poor', amount: OPENING_BALANCE + 1 };
  for (let i = 0; i < 5; i++) {
    const answers = await Promise.all(Array.from({ length: 10 }, () => pay(gateway.url, id, tooMuch)));
    expect(answers.map((a) => a.body.error?.code)).toEqual(Array(10).fill('insufficient_funds'));
  }
  expect(await acceptedUpdates(id)).toBeLessThanOrEqual(5);
  expect((await cancel(gateway.url, id)).body).toEqual({ paymentId: id, status: 'CANCELLED', refunded: false });
  expect(await stack.ledger.entriesOf(id)).toEqual([]);
});

/** A worker of this file's dev server on the queue, moving money in the ledger (or with the provider given). */
function workerOn(taskQueue: string, ledger: SqliteLedger, provider: PaymentProvider = new LedgerProvider(ledger)) {
  return createPaymentWorker({
    connection: env.nativeConnection,
    namespace: 'default',
    taskQueue,
    provider,
    records: ledger,
    expiryMs: HOUR,
    workflowBundle: workflowBundle(),
    dataConverter: testDataConverter(),
  });
}

const answeredOnceAWorkerStarts =
  'with no worker running, makePayment answers 202 at REQUEST_TIMEOUT; once a worker starts, the same request answers the charge';
test(answeredOnceAWorkerStarts, async () => {
  const ledger = new SqliteLedger({ file: path.join(tempDir('no-worker'), 'ledger.db'), openingBalance: OPENING_BALANCE });
  const taskQueue = `no-worker-${randomUUID()}`;
  const impatient = await startGateway({ client: env.client, ledger, taskQueue, expiryMs: HOUR, requestTimeoutMs: 1500 });
  try {
    const started = Date.now();
    const waiting = await pay(impatient.url, 'nw-1', payment);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(waiting.status).toBe(202);
    expect(waiting.headers.get('retry-after')).toBe('1');
    expect(waiting.body).toMatchObject({ paymentId: 'nw-1', status: 'PROCESSING', ...payment, refunded: false, expired: false });
    expect((await pay(impatient.url, 'nw-1', payment)).status).toBe(202);
    expect(await ledger.entriesOf('nw-1')).toEqual([]);

    const worker = await workerOn(taskQueue, ledger);
    await worker.runUntil(async () => {
      const answered = await pay(impatient.url, 'nw-1', payment);
      expect(answered.status).toBe(200);
      expect(answered.body).toMatchObject({ paymentId: 'nw-1', status: 'COMPLETED', replayed: true });
    });
    expect((await ledger.entriesOf('nw-1')).map((e) => e.kind)).toEqual(['charge']);
  } finally {
    await impatient.app.close();
    await ledger.close();
  }
});

test('with no worker running, a duplicate of a COMPLETED payment answers 200 from its search attributes, not 202 at REQUEST_TIMEOUT; a cancel of it waits for a worker, then refunds', async () => {
  const ledger = new SqliteLedger({ file: path.join(tempDir('no-worker'), 'ledger.db'), openingBalance: OPENING_BALANCE });
  const taskQueue = `gone-worker-${randomUUID()}`;
  // Longer than the test's own timeout: a 202 cannot come in time.
  const patient = await startGateway({ client: env.client, ledger, taskQueue, expiryMs: HOUR, requestTimeoutMs: 600_000 });
  try {
    const worker = await workerOn(taskQueue, ledger);
    await worker.runUntil(async () => {
      expect((await pay(patient.url, 'gw-1', payment)).body).toMatchObject({ status: 'COMPLETED', replayed: false });
      expect((await cancel(patient.url, 'gw-2')).body).toEqual({ paymentId: 'gw-2', status: 'CANCELLED', refunded: false });
    });
    // No worker polls the queue now: a query would wait for one.
    const again = await pay(patient.url, 'gw-1', payment);
    expect([again.status, again.body]).toEqual([200, { paymentId: 'gw-1', status: 'COMPLETED', ...payment, replayed: true }]);
    const other = await pay(patient.url, 'gw-1', { ...payment, amount: payment.amount + 1 });
    expect([other.status, other.body.error.code]).toEqual([422, 'idempotency_mismatch']);
    const cancelled = await cancel(patient.url, 'gw-2');
    expect([cancelled.status, cancelled.body]).toEqual([200, { paymentId: 'gw-2', status: 'CANCELLED', refunded: false }]);
    expect((await pay(patient.url, 'gw-2', payment)).body.error.code).toBe('payment_cancelled');
    expect((await ledger.entriesOf('gw-1')).map((e) => e.kind)).toEqual(['charge']);

    // A cancel of the COMPLETED payment needs the run: it waits for a worker to answer its query (its update's ID depends on what only the query knows).
    const queries = await frontendRequests(metricsUrl, 'QueryWorkflow');
    const refunding = cancel(patient.url, 'gw-1');
    await eventually(
      'the cancel to reach Temporal',
      async () => (await frontendRequests(metricsUrl, 'QueryWorkflow')) > queries || undefined,
    );
    await (
      await workerOn(taskQueue, ledger)
    ).runUntil(async () => {
      const refunded = await refunding;
      expect([refunded.status, refunded.body]).toEqual([200, { paymentId: 'gw-1', status: 'CANCELLED', refunded: true }]);
    });
    expect((await ledger.entriesOf('gw-1')).map((e) => e.kind)).toEqual(['charge', 'refund']);
    const history = await env.client.workflow.getHandle(workflowIdFor('gw-1')).fetchHistory();
    await Worker.runReplayHistory({ workflowBundle: workflowBundle(), dataConverter: testDataConverter() }, history, workflowIdFor('gw-1'));
  } finally {
    await patient.app.close();
    await ledger.close();
  }
});

test('with no worker running, a duplicate of a COMPLETED payment whose refund is in flight waits for the run (202), not 200 from its search attributes', async () => {
  const ledger = new SqliteLedger({ file: path.join(tempDir('no-worker'), 'ledger.db'), openingBalance: OPENING_BALANCE });
  const taskQueue = `refunding-${randomUUID()}`;
  const impatient = await startGateway({ client: env.client, ledger, taskQueue, expiryMs: HOUR, requestTimeoutMs: 1500 });
  const charges = new LedgerProvider(ledger);
  // Refunds fail as a transient fault: the refund activity stays pending, retried.
  const refundsDown: PaymentProvider = {
    charge: (call) => charges.charge(call),
    refund: () => Promise.reject(new Error('provider unreachable')),
  };
  try {
    await (
      await workerOn(taskQueue, ledger, refundsDown)
    ).runUntil(async () => {
      expect((await pay(impatient.url, 'rf-1', payment)).body).toMatchObject({ status: 'COMPLETED', replayed: false });
      expect((await cancel(impatient.url, 'rf-1')).status).toBe(202);
    });
    const { pendingActivities } = (await env.client.workflow.getHandle(workflowIdFor('rf-1')).describe()).raw;
    expect(pendingActivities?.map((activity) => activity.activityType?.name)).toEqual(['refund']);
    // The attributes still say COMPLETED; the run says a refund is on its way.
    const again = await pay(impatient.url, 'rf-1', payment);
    expect([again.status, again.body.status]).toEqual([202, 'PROCESSING']);
    await (
      await workerOn(taskQueue, ledger)
    ).runUntil(async () => {
      await eventually('the refund', async () => (await cancel(impatient.url, 'rf-1')).status === 200 || undefined);
    });
    expect((await pay(impatient.url, 'rf-1', payment)).body.error.code).toBe('payment_cancelled');
    expect((await ledger.entriesOf('rf-1')).map((e) => e.kind)).toEqual(['charge', 'refund']);
  } finally {
    await impatient.app.close();
    await ledger.close();
  }
});
