/** The payment state machine on the time-skipping server: timers pass in milliseconds. */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { ErrorCode } from '../src/domain/payment';
import { refusal } from './helpers/refusal';
import { timeSkippingEnv } from './helpers/servers';
import { HOUR, OPENING_BALANCE, withStack } from './helpers/stack';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await timeSkippingEnv();
});
afterAll(async () => {
  await env?.teardown();
});

const request = { accountId: 'acct-1', amount: 250 };


test('makePayment charges once and a duplicate is a replay', async () => {
  await withStack(env, {}, async ({ payments, ledger }) => {
    expect(await payments.makePayment('p1', request)).toEqual({ paymentId: 'p1', status: 'COMPLETED', ...request, replayed: false });
    expect(await payments.makePayment('p1', request)).toEqual({ paymentId: 'p1', status: 'COMPLETED', ...request, replayed: true });
    expect(ledger.entriesOf('p1').map((e) => e.kind)).toEqual(['charge']);
    expect(ledger.account('acct-1').balance).toBe(OPENING_BALANCE - 250);
  });
});

test('after an hour the payment expires and Temporal refuses a second run', async () => {
  await withStack(env, { expiryMs: HOUR }, async ({ payments }) => {
    await payments.makePayment('p-exp', request);
    await env.sleep(HOUR + 1000);
    const view = await payments.getPayment('p-exp');
    expect(view).toMatchObject({ status: 'COMPLETED', expired: true });
    expect(await refusal(payments.makePayment('p-exp', request))).toBe(ErrorCode.PaymentExpired);
    expect(await refusal(payments.cancelPayment('p-exp'))).toBe(ErrorCode.PaymentExpired);
  });
});
