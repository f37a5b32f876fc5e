/**
 * Expiry on the time-skipping server: an hour passes in milliseconds. Skipping time moves
 * the clock of every workflow on a server, so each test gets a server of its own.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { PAYMENT_WORKFLOW, workflowIdFor } from '../src/domain/contract';
import { ErrorCode } from '../src/domain/errors';
import { refusal } from './helpers/refusal';
import { timeSkippingEnv } from './helpers/servers';
import { HOUR, type Stack, entryKinds, withStack } from './helpers/stack';

let env: TestWorkflowEnvironment;
beforeEach(async () => {
  env = await timeSkippingEnv();
});
afterEach(async () => {
  await env?.teardown();
});

const request = { accountId: 'acct-1', amount: 250 };
const inStack = (body: (stack: Stack) => Promise<void>) => withStack(env, {}, body);

test('an hour after first seen: the payment expires, its state stays readable, its charge still replays, Temporal refuses a new run', () =>
  inStack(async ({ env, payments, taskQueue, ledger }) => {
    await payments.makePayment('e1', request);
    expect(await refusal(payments.makePayment('e1-unpaid', { ...request, amount: 1_000_000 }))).toBe(ErrorCode.InsufficientFunds);
    await env.sleep(HOUR - 60_000);
    expect(await payments.getPayment('e1')).toMatchObject({ status: 'COMPLETED', expired: false });
    await env.sleep(61_000);
    expect(await payments.getPayment('e1')).toMatchObject({ status: 'COMPLETED', expired: true });
    expect(await payments.makePayment('e1', request)).toMatchObject({ status: 'COMPLETED', replayed: true });
    expect(await refusal(payments.cancelPayment('e1'))).toBe(ErrorCode.PaymentExpired);
    expect(await refusal(payments.makePayment('e1-unpaid', request))).toBe(ErrorCode.PaymentExpired);
    expect(await refusal(payments.cancelPayment('e1-unpaid'))).toBe(ErrorCode.PaymentExpired);
    expect(await entryKinds(ledger, 'e1')).toEqual(['charge']);
    expect(await entryKinds(ledger, 'e1-unpaid')).toEqual([]);
    await expect(
      env.client.workflow.start(PAYMENT_WORKFLOW, {
        workflowId: workflowIdFor('e1'),
        taskQueue,
        args: [request],
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
      }),
    ).rejects.toBeInstanceOf(WorkflowExecutionAlreadyStartedError);
  }));

test('a cancel after expiry is refused and the charge stands', () =>
  inStack(async ({ env, payments, ledger }) => {
    await payments.makePayment('e2', request);
    await env.sleep(HOUR + 1000);
    expect(await refusal(payments.cancelPayment('e2'))).toBe(ErrorCode.PaymentExpired);
    expect(await entryKinds(ledger, 'e2')).toEqual(['charge']);
  }));

test('expiry waits for a charge in flight to finish', () =>
  withStack(env, { expiryMs: 1000 }, async ({ env, payments, ledger }) => {
    ledger.hold();
    const paying = payments.makePayment('e3', request);
    await ledger.chargeArrived;
    // The test server does not skip time while an activity runs, so this window passes in real time.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    ledger.release();
    expect(await paying).toMatchObject({ status: 'COMPLETED', replayed: false });
    const handle = env.client.workflow.getHandle(workflowIdFor('e3'));
    expect(await handle.result()).toMatchObject({ status: 'COMPLETED', expired: true });
    expect(await entryKinds(ledger, 'e3')).toEqual(['charge']);
  }));
