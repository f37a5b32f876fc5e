/**
 * A payment's answer outlives Temporal (SPEC "What must hold"): on the dev server, with a
 * one-second window, each payment's run closes, is deleted as the namespace's retention would
 * delete it, and is then asked again. Every answer comes from the record the run left in the
 * service's database; no new run is started, and no money moves. Run for both providers:
 * the ledger, and Stripe (stripe-mock behind the recording proxy).
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { PAYMENT_WORKFLOW, type PaymentRequest, getPaymentQuery, workflowIdFor } from '../src/domain/contract';
import { ErrorCode } from '../src/domain/errors';
import { StripeProvider } from '../src/providers/stripe';
import { eventually } from './helpers/eventually';
import { refusal } from './helpers/refusal';
import { closed, forget, temporalKnows } from './helpers/retention';
import { PROMPT_DELETION, devServerEnv } from './helpers/servers';
import { type Stack, withStack } from './helpers/stack';
import { RecordingProxy, type StripeMock, cardDecline, startStripeMock } from './helpers/stripe-mock';

jest.setTimeout(120_000);

let env: TestWorkflowEnvironment;
let mock: StripeMock;
let proxy: RecordingProxy;
beforeAll(async () => {
  [env, mock] = await Promise.all([devServerEnv({ dynamicConfig: PROMPT_DELETION }), startStripeMock()]);
  proxy = await new RecordingProxy(mock.url).start();
});
afterAll(async () => {
  await proxy?.stop();
  await mock?.stop();
  await env?.teardown();
});

const WINDOW_MS = 1000;

interface Provider {
  name: string;
  accountId: string;
  stack: <T>(body: (stack: Stack) => Promise<T>) => Promise<T>;
  /** Money that moved for the payment-id, in order: 'charge' and 'refund'. */
  moves: (stack: Stack, paymentId: string) => Promise<string[]>;
  /** Makes the next charge attempt decline. */
  declineNext: (stack: Stack) => void;
}

const ledgerProvider: Provider = {
  name: 'ledger',
  accountId: 'acct-kept',
  stack: (body) => withStack(env, { expiryMs: WINDOW_MS, openingBalance: 1000 }, body),
  moves: async ({ ledger }, paymentId) => (await ledger.entriesOf(paymentId)).map((e) => e.kind),
  // More than the opening balance: insufficient funds.
  declineNext: () => undefined,
};

const stripeProvider: Provider = {
  name: 'stripe',
  accountId: 'cus_kept',
  stack: (body) =>
    withStack(
      env,
      { expiryMs: WINDOW_MS, provider: new StripeProvider({ apiKey: 'sk_test_123', apiBase: proxy.url, currency: 'usd' }) },
      body,
    ),
  moves: async (_stack, paymentId) =>
    proxy
      .about(paymentId)
      .filter((r) => r.method === 'POST' && r.status === 200 && (r.path === '/v1/payment_intents' || r.path === '/v1/refunds'))
      .map((r) => (r.path === '/v1/refunds' ? 'refund' : 'charge')),
  declineNext: () => proxy.answer('POST', '/v1/payment_intents', cardDecline('insufficient_funds', 'Your card has insufficient funds.')),
};

describe.each([ledgerProvider, stripeProvider])('after Temporal forgets it, a payment keeps its answer ($name)', (provider) => {
  const request = (amount = 250): PaymentRequest => ({ accountId: provider.accountId, amount });
  const id = (name: string) => `${provider.name}-${name}`;

  /** Closes the run, deletes it, and checks every answer comes without a new run. */
  async function forgotten(stack: Stack, paymentId: string, body: () => Promise<void>): Promise<void> {
    await closed(env, paymentId);
    await forget(env, paymentId);
    await body();
    expect(await temporalKnows(env, paymentId)).toBe(false);
  }

  test('cancelled before the charge: makePayment 409 payment_cancelled, the cancel answers as before, nothing moves', () =>
    provider.stack(async (stack) => {
      const { payments } = stack;
      const paymentId = id('cancelled-first');
      expect(await payments.cancelPayment(paymentId)).toEqual({ paymentId, status: 'CANCELLED', refunded: false });
      await forgotten(stack, paymentId, async () => {
        expect(await refusal(payments.makePayment(paymentId, request()))).toBe(ErrorCode.PaymentCancelled);
        expect(await payments.cancelPayment(paymentId)).toEqual({ paymentId, status: 'CANCELLED', refunded: false });
        expect(await payments.getPayment(paymentId)).toMatchObject({ paymentId, status: 'CANCELLED', refunded: false, expired: true });
      });
      expect(await provider.moves(stack, paymentId)).toEqual([]);
    }));

  test('cancelled after the charge: makePayment 409 payment_cancelled, the cancel answers refunded, nothing more moves', () =>
    provider.stack(async (stack) => {
      const { payments } = stack;
      const paymentId = id('refunded');
      await payments.makePayment(paymentId, request());
      expect(await payments.cancelPayment(paymentId)).toEqual({ paymentId, status: 'CANCELLED', refunded: true });
      await forgotten(stack, paymentId, async () => {
        expect(await refusal(payments.makePayment(paymentId, request()))).toBe(ErrorCode.PaymentCancelled);
        expect(await payments.cancelPayment(paymentId)).toEqual({ paymentId, status: 'CANCELLED', refunded: true });
      });
      expect(await provider.moves(stack, paymentId)).toEqual(['charge', 'refund']);
    }));

  test('declined, then the window ended: makePayment and cancelPayment 409 payment_expired, never charged', () =>
    provider.stack(async (stack) => {
      const { payments } = stack;
      const paymentId = id('declined');
      provider.declineNext(stack);
      expect(await refusal(payments.makePayment(paymentId, request(5000)))).toBe(ErrorCode.InsufficientFunds);
      await forgotten(stack, paymentId, async () => {
        expect(await refusal(payments.makePayment(paymentId, request(5000)))).toBe(ErrorCode.PaymentExpired);
        expect(await refusal(payments.makePayment(paymentId, request(1)))).toBe(ErrorCode.PaymentExpired);
        expect(await refusal(payments.cancelPayment(paymentId))).toBe(ErrorCode.PaymentExpired);
        expect(await payments.getPayment(paymentId)).toMatchObject({ status: 'DECLINED', expired: true });
      });
      expect(await provider.moves(stack, paymentId)).toEqual([]);
    }));

  test('charged: a replay answers 200 replayed, other parameters 422, a cancel 409 payment_expired; the charge stands', () =>
    provider.stack(async (stack) => {
      const { payments } = stack;
      const paymentId = id('charged');
      await payments.makePayment(paymentId, request());
      await forgotten(stack, paymentId, async () => {
        expect(await payments.makePayment(paymentId, request())).toEqual({ paymentId, status: 'COMPLETED', ...request(), replayed: true });
        expect(await refusal(payments.makePayment(paymentId, request(251)))).toBe(ErrorCode.IdempotencyMismatch);
        expect(await refusal(payments.cancelPayment(paymentId))).toBe(ErrorCode.PaymentExpired);
        expect(await payments.getPayment(paymentId)).toMatchObject({ status: 'COMPLETED', ...request(), refunded: false, expired: true });
      });
      expect(await provider.moves(stack, paymentId)).toEqual(['charge']);
    }));

  const ruleWhereMoneyMoves =
    'the rule holds where money moves: a run started around the gateway (as the temporal CLI does) ' +
    'charges and refunds nothing against the record';
  test(ruleWhereMoneyMoves, () =>
    provider.stack(async (stack) => {
      const { payments, taskQueue } = stack;
      const cancelledId = id('cli-cancelled');
      const chargedId = id('cli-charged');
      await payments.cancelPayment(cancelledId);
      await payments.makePayment(chargedId, request());
      for (const paymentId of [cancelledId, chargedId]) {
        await closed(env, paymentId);
        await forget(env, paymentId);
      }
      const start = (paymentId: string) =>
        env.client.workflow.start(PAYMENT_WORKFLOW, {
          workflowId: workflowIdFor(paymentId),
          taskQueue,
          args: [{ ...request(), expiry: '1h' }],
        });

      const cancelledRun = await start(cancelledId);
      await waitForStatus(cancelledRun, 'CANCELLED', 'PROCESSING');
      const chargedRun = await start(chargedId);
      await waitForStatus(chargedRun, 'COMPLETED', 'PROCESSING');
      await chargedRun.signal('cancelPayment');
      await eventually('the refund refused by the record', async () =>
        (await chargedRun.query(getPaymentQuery)).expired ? true : undefined,
      );

      expect(await provider.moves(stack, cancelledId)).toEqual([]);
      expect((await provider.moves(stack, chargedId)).filter((move) => move === 'refund')).toEqual([]);
      await cancelledRun.terminate('test over');
      await chargedRun.terminate('test over');
    }),
  );
});

describe('a Stripe payment whose run was terminated after its charge (so it left no record), then forgotten', () => {
  test('a makePayment starts a new run, which looks the charge up (the attempt was noted) and replays it: charged once', () =>
    stripeProvider.stack(async (stack) => {
      const { payments, ledger } = stack;
      const paymentId = 'stripe-terminated';
      const request: PaymentRequest = { accountId: stripeProvider.accountId, amount: 250 };
      await payments.makePayment(paymentId, request);
      await env.client.workflow.getHandle(workflowIdFor(paymentId)).terminate('an operator ended it');
      await forget(env, paymentId);
      expect(await ledger.recordOf(paymentId)).toBeUndefined();

      // Stripe's search finds the PaymentIntent the terminated run made (stripe-mock keeps nothing, so the proxy answers it).
      const [made] = proxy.about(paymentId).filter((r) => r.path === '/v1/payment_intents');
      const intent = {
        ...made!.answer,
        amount: 250,
        currency: 'usd',
        customer: request.accountId,
        status: 'succeeded',
        latest_charge: { id: 'ch_t', object: 'charge', refunded: false },
      };
      proxy.answer('GET', '/v1/payment_intents/search', {
        status: 200,
        body: {
          object: 'search_result',
          has_more: false,
          data: [{ ...intent, metadata: { paymentId, attempt: '1', runId: made!.form.get('metadata[runId]') } }],
        },
      });
      const searchesBefore = proxy.to('GET', '/v1/payment_intents/search').length;
      expect(await payments.makePayment(paymentId, request)).toEqual({ paymentId, status: 'COMPLETED', ...request, replayed: true });
      expect(proxy.to('GET', '/v1/payment_intents/search').length).toBe(searchesBefore + 1);
      expect(await stripeProvider.moves(stack, paymentId)).toEqual(['charge']);
    }));
});

type Handle = Awaited<ReturnType<TestWorkflowEnvironment['client']['workflow']['start']>>;

async function waitForStatus(handle: Handle, status: string, ...passing: string[]): Promise<void> {
  const view = await eventually(`${handle.workflowId} past ${['NEW', ...passing].join(', ')}`, async () => {
    const current = (await handle.query('getPayment')) as { status: string };
    return ['NEW', ...passing].includes(current.status) ? undefined : current;
  });
  expect(view.status).toBe(status);
}
