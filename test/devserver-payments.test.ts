/** Main payment paths end to end on the real dev server, with the SQLite ledger. */
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { PAYMENT_WORKFLOW, PAYMENT_WORKFLOW_VERSION, workflowIdFor } from '../src/domain/contract';
import { ErrorCode, PaymentError } from '../src/domain/errors';
import { devServerEnv } from './helpers/servers';
import { OPENING_BALANCE, entryKinds, withStack } from './helpers/stack';
import { refusal } from './helpers/refusal';
import { forget as forgetRun } from './helpers/retention';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await devServerEnv();
});
afterAll(async () => {
  await env?.teardown();
});

const request = { accountId: 'acct-dev', amount: 700 };

test('pay, replay, cancel with refund, refuse a later pay', async () => {
  await withStack(env, {}, async ({ payments, ledger }) => {
    expect(await payments.makePayment('dev-1', request)).toMatchObject({ status: 'COMPLETED', replayed: false });
    expect(await payments.makePayment('dev-1', request)).toMatchObject({ status: 'COMPLETED', replayed: true });
    expect(await payments.cancelPayment('dev-1')).toEqual({ paymentId: 'dev-1', status: 'CANCELLED', refunded: true });
    expect(await payments.cancelPayment('dev-1')).toEqual({ paymentId: 'dev-1', status: 'CANCELLED', refunded: true });
    expect(await refusal(payments.makePayment('dev-1', request))).toBe(ErrorCode.PaymentCancelled);
    expect(await entryKinds(ledger, 'dev-1')).toEqual(['charge', 'refund']);
    expect((await ledger.account('acct-dev')).balance).toBe(OPENING_BALANCE);
    expect(await payments.getPayment('dev-1')).toMatchObject({ status: 'CANCELLED', refunded: true, accountId: 'acct-dev', amount: 700 });
  });
});

test('cancel before pay: nothing is ever charged', async () => {
  await withStack(env, {}, async ({ payments, ledger }) => {
    expect(await payments.cancelPayment('dev-2')).toEqual({ paymentId: 'dev-2', status: 'CANCELLED', refunded: false });
    expect(await refusal(payments.makePayment('dev-2', request))).toBe(ErrorCode.PaymentCancelled);
    expect(await entryKinds(ledger, 'dev-2')).toEqual([]);
  });
});

describe('after Temporal forgets a payment (retention), the ledger still answers', () => {
  const forget = (paymentId: string) => forgetRun(env, paymentId);

  test('a charged payment is answered as a replay and not charged again', () =>
    withStack(env, {}, async ({ payments, ledger }) => {
      await payments.makePayment('gone-1', request);
      await forget('gone-1');
      expect(await payments.getPayment('gone-1')).toBeUndefined();
      expect(await payments.makePayment('gone-1', request)).toEqual({
        paymentId: 'gone-1',
        status: 'COMPLETED',
        ...request,
        replayed: true,
      });
      expect(await entryKinds(ledger, 'gone-1')).toEqual(['charge']);
    }));

  test('a refunded payment is refused as cancelled', () =>
    withStack(env, {}, async ({ payments, ledger }) => {
      await payments.makePayment('gone-2', request);
      await payments.cancelPayment('gone-2');
      await forget('gone-2');
      expect(await refusal(payments.makePayment('gone-2', request))).toBe(ErrorCode.PaymentCancelled);
      expect(await entryKinds(ledger, 'gone-2')).toEqual(['charge', 'refund']);
    }));

  test('a cancel is refused as expired, and the charge stands', () =>
    withStack(env, {}, async ({ payments, ledger }) => {
      await payments.makePayment('gone-4', request);
      await forget('gone-4');
      expect(await refusal(payments.cancelPayment('gone-4'))).toBe(ErrorCode.PaymentExpired);
      expect(await payments.getPayment('gone-4')).toBeUndefined();
      expect(await entryKinds(ledger, 'gone-4')).toEqual(['charge']);
    }));

  test('other parameters are refused as a mismatch, and the right ones still replay', () =>
    withStack(env, {}, async ({ payments, ledger }) => {
      await payments.makePayment('gone-3', request);
      await forget('gone-3');
      expect(await refusal(payments.makePayment('gone-3', { ...request, amount: 1 }))).toBe(ErrorCode.IdempotencyMismatch);
      expect(await payments.makePayment('gone-3', request)).toMatchObject({ replayed: true });
      expect(await entryKinds(ledger, 'gone-3')).toEqual(['charge']);
    }));
});

test('a run an operator terminated takes no more requests: payment_aborted, not expired', () =>
  withStack(env, {}, async ({ payments, ledger }) => {
    expect(await refusal(payments.makePayment('dev-aborted', { ...request, amount: OPENING_BALANCE + 1 }))).toBe(
      ErrorCode.InsufficientFunds,
    );
    await env.client.workflow.getHandle(workflowIdFor('dev-aborted')).terminate('an operator');
    expect(await refusal(payments.makePayment('dev-aborted', { ...request, amount: OPENING_BALANCE + 1 }))).toBe(ErrorCode.PaymentAborted);
    expect(await refusal(payments.cancelPayment('dev-aborted'))).toBe(ErrorCode.PaymentAborted);
    expect(await payments.getPayment('dev-aborted')).toMatchObject({ status: 'DECLINED' });
    expect(await entryKinds(ledger, 'dev-aborted')).toEqual([]);
  }));

test('a storm on the dev server: at most one charge and one refund per payment-id', () =>
  withStack(env, {}, async ({ payments, ledger }) => {
    const ids = ['s1', 's2', 's3', 's4', 's5', 's6'];
    const calls = ids.flatMap((id, n) =>
      Array.from({ length: 10 }, (_, i) => (i === n ? payments.cancelPayment(id) : payments.makePayment(id, request))),
    );
    const outcomes = await Promise.allSettled(calls);
    const unexpected = outcomes.filter(
      (o) => o.status === 'rejected' && !(o.reason instanceof PaymentError && o.reason.code === ErrorCode.PaymentCancelled),
    );
    expect(unexpected).toEqual([]);
    for (const id of ids) {
      expect([[], ['charge', 'refund']]).toContainEqual(await entryKinds(ledger, id));
      expect(await payments.getPayment(id)).toMatchObject({ status: 'CANCELLED' });
    }
    expect((await ledger.account(request.accountId)).balance).toBe(OPENING_BALANCE);
  }));

test('a first workflow task that runs late (no worker for a while) does not stretch the window past the time the payment shows', async () => {
  const taskQueue = `late-${randomUUID()}`;
  const WINDOW_MS = 4000;
  const NO_WORKER_MS = 2000;
  const expiresAt = new Date(Date.now() + WINDOW_MS).toISOString();
  const handle = await env.client.workflow.start(PAYMENT_WORKFLOW, {
    workflowId: workflowIdFor('dev-late'),
    taskQueue,
    args: [{ ...request, version: PAYMENT_WORKFLOW_VERSION, expiry: `${WINDOW_MS}ms`, expiresAt }],
  });
  const { startTime } = await handle.describe();
  // No worker polls the queue until this much of the window has gone.
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, startTime.getTime() + NO_WORKER_MS - Date.now())));
  await withStack(env, { taskQueue }, async ({ payments, ledger }) => {
    expect(await handle.result()).toMatchObject({ status: 'COMPLETED', expiresAt, expired: true });
    expect(await entryKinds(ledger, 'dev-late')).toEqual(['charge']);
    expect(await payments.getPayment('dev-late')).toMatchObject({ status: 'COMPLETED', expiresAt, expired: true });
  });
  // The window's timer, set in that late first task, runs to expiresAt: what was left of the window, not all of it again.
  const events = (await handle.fetchHistory()).events!;
  const timer = events.find((e) => e.timerStartedEventAttributes)!.timerStartedEventAttributes!;
  const timerMs = Number(timer.startToFireTimeout!.seconds) * 1000 + timer.startToFireTimeout!.nanos! / 1e6;
  expect(timerMs).toBeLessThanOrEqual(WINDOW_MS - NO_WORKER_MS);
});
