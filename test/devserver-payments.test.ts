/** Main payment paths end to end on the real dev server, with the SQLite ledger. */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { ErrorCode } from '../src/domain/payment';
import { devServerEnv } from './helpers/servers';
import { OPENING_BALANCE, entryKinds, withStack } from './helpers/stack';
import { refusal } from './helpers/refusal';

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
