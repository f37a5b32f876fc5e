/**
 * The Stripe provider through the payment workflow (time-skipping server), against
 * stripe-mock, Stripe's own mock server, behind a recording proxy: what reaches Stripe, with
 * which idempotency key, and what the payment does with declines, rate limits, 5xx, network
 * errors and an invalid key. Success paths are stripe-mock's answers; the proxy makes up only
 * the failures stripe-mock cannot give. Each test also counts the requests its payment costs
 * at Stripe (docs/stripe-budget.md): one per charge and one per refund on the happy path.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { PaymentRequest } from '../src/domain/contract';
import { ErrorCode } from '../src/domain/errors';
import { ProviderRefusal } from '../src/providers/provider';
import { StripeProvider } from '../src/providers/stripe';
import { type Gateway, cancel, call, pay, startGateway } from './helpers/gateway';
import { refusal } from './helpers/refusal';
import { timeSkippingEnv } from './helpers/servers';
import { HOUR, type Stack, withStack } from './helpers/stack';
import {
  type Canned,
  RecordingProxy,
  type StripeMock,
  cardDecline,
  dropped,
  hung,
  lost,
  rateLimited,
  rateLimitedFor,
  serverError,
  startStripeMock,
} from './helpers/stripe-mock';

const CUSTOMER = 'cus_test1';
const request: PaymentRequest = { accountId: CUSTOMER, amount: 250 };

let env: TestWorkflowEnvironment;
let mock: StripeMock;
let proxy: RecordingProxy;
beforeAll(async () => {
  [env, mock] = await Promise.all([timeSkippingEnv(), startStripeMock()]);
  proxy = await new RecordingProxy(mock.url).start();
});
afterAll(async () => {
  await proxy?.stop();
  await mock?.stop();
  await env?.teardown();
});

/**
 * Checked after every test, over the requests that test made: each one that could move money
 * (creating a PaymentIntent or a Refund; cancelling a PaymentIntent moves none) carried its
 * payment's idempotency key.
 */
let firstRequestOfTest = 0;
beforeEach(() => {
  firstRequestOfTest = proxy.requests.length;
});
afterEach(() => {
  const posts = proxy.requests
    .slice(firstRequestOfTest)
    .filter((r) => r.method === 'POST' && (r.path === '/v1/payment_intents' || r.path === '/v1/refunds'));
  for (const post of posts) {
    const kind = post.path === '/v1/refunds' ? 'refund' : 'charge(:\\d+)?';
    expect(post.idempotencyKey).toMatch(new RegExp(`^payment:${post.form.get('metadata[paymentId]')}:${kind}$`));
  }
});

/** A worker whose provider is Stripe (through the proxy), and the gateway over it. */
function inStripeStack(body: (stack: Stack & { gateway: Gateway }) => Promise<void>, apiKey = 'sk_test_123') {
  const provider = new StripeProvider({ apiKey, apiBase: proxy.url, currency: 'usd' });
  return withStack(env, { provider }, async (stack) => {
    const gateway = await startGateway({
      client: env.client,
      ledger: undefined,
      records: stack.ledger,
      taskQueue: stack.taskQueue,
      expiryMs: HOUR,
    });
    try {
      await body({ ...stack, gateway });
    } finally {
      await gateway.app.close();
    }
  });
}

const intents = (paymentId: string) => proxy.about(paymentId).filter((r) => r.path === '/v1/payment_intents');
const refunds = (paymentId: string) => proxy.about(paymentId).filter((r) => r.path === '/v1/refunds');
const keysAndStatuses = (requests: { idempotencyKey?: string; status: number }[]) => requests.map((r) => [r.idempotencyKey, r.status]);

/** Every request that reached Stripe while `body` ran, as [method, path, status]. */
async function madeDuring(body: () => Promise<unknown>): Promise<[string, string, number][]> {
  const before = proxy.requests.length;
  await body();
  return proxy.requests.slice(before).map((r) => [r.method, r.path, r.status]);
}

const CREATE: [string, string, number] = ['POST', '/v1/payment_intents', 200];
const READ_CUSTOMER: [string, string, number] = ['GET', `/v1/customers/${CUSTOMER}`, 200];
const SEARCH: [string, string, number] = ['GET', '/v1/payment_intents/search', 200];

test('a payment is one confirmed PaymentIntent keyed payment:<id>:charge, one request to Stripe; a duplicate makes none', () =>
  inStripeStack(async ({ payments, ledger }) => {
    // The worker's first charge of a customer reads its default payment method; the next ones within a minute do not.
    expect(
      await madeDuring(async () =>
        expect(await payments.makePayment('s1', request)).toEqual({ paymentId: 's1', status: 'COMPLETED', ...request, replayed: false }),
      ),
    ).toEqual([READ_CUSTOMER, CREATE]);
    expect(await madeDuring(() => payments.makePayment('s1b', request))).toEqual([CREATE]);
    expect(
      await madeDuring(async () =>
        expect(await payments.makePayment('s1', request)).toMatchObject({ status: 'COMPLETED', replayed: true }),
      ),
    ).toEqual([]);

    expect(keysAndStatuses(intents('s1'))).toEqual([['payment:s1:charge', 200]]);
    const [intent] = intents('s1');
    expect(Object.fromEntries(intent!.form)).toMatchObject({
      amount: '250',
      currency: 'usd',
      customer: CUSTOMER,
      payment_method: 'pm_card_visa', // the customer's default, read from Stripe first
      confirm: 'true',
      off_session: 'true',
      'metadata[attempt]': '1',
    });
    expect(intents('s1b')[0]!.form.get('payment_method')).toBe('pm_card_visa');
    expect(intent!.answer).toMatchObject({ object: 'payment_intent', status: 'succeeded' });
    expect(await payments.getPayment('s1')).toMatchObject({ status: 'COMPLETED', refunded: false });
    expect(ledger.charges).toBe(0); // the ledger is not the provider here
  }));

test("the customer's payment method is read again once a minute has passed", async () => {
  let now = 1_000_000;
  const provider = new StripeProvider({ apiKey: 'sk_test_123', apiBase: proxy.url, currency: 'usd', now: () => now });
  const charge = (paymentId: string) =>
    provider.charge({
      paymentId,
      ...request,
      attempt: 1,
      runId: 'run-ttl',
      retry: false,
      triedBefore: async () => false,
      deadline: Date.now() + 10_000,
      signal: new AbortController().signal,
    });
  expect(await madeDuring(() => charge('ttl-1'))).toEqual([READ_CUSTOMER, CREATE]);
  now += 59_999;
  expect(await madeDuring(() => charge('ttl-2'))).toEqual([CREATE]);
  now += 1;
  expect(await madeDuring(() => charge('ttl-3'))).toEqual([READ_CUSTOMER, CREATE]);
});

test('cancel after the charge: one Refund of that PaymentIntent keyed payment:<id>:refund, one request, however often repeated', () =>
  inStripeStack(async ({ payments }) => {
    await payments.makePayment('s2', request);
    expect(
      await madeDuring(async () =>
        expect(await payments.cancelPayment('s2')).toEqual({ paymentId: 's2', status: 'CANCELLED', refunded: true }),
      ),
    ).toEqual([['POST', '/v1/refunds', 200]]);
    for (let i = 0; i < 2; i++) expect(await madeDuring(() => payments.cancelPayment('s2'))).toEqual([]);

    expect(keysAndStatuses(refunds('s2'))).toEqual([['payment:s2:refund', 200]]);
    expect(refunds('s2')[0]!.form.get('payment_intent')).toBe(intents('s2')[0]!.answer.id);
    expect(await payments.getPayment('s2')).toMatchObject({ status: 'CANCELLED', refunded: true });
  }));

test('insufficient funds: 402, DECLINED, and the next makePayment is a new attempt with its own key', () =>
  inStripeStack(async ({ payments, gateway }) => {
    proxy.answer('POST', '/v1/payment_intents', cardDecline('insufficient_funds', 'Your card has insufficient funds.'));
    const declined = await pay(gateway.url, 's3', request);
    expect(declined.status).toBe(402);
    expect(declined.body.error).toEqual({
      code: ErrorCode.InsufficientFunds,
      message: 'Stripe declined the card: Your card has insufficient funds.',
    });
    expect(await payments.getPayment('s3')).toMatchObject({ status: 'DECLINED', amount: 250 });

    // Stripe keeps the decline under the first key; a new attempt needs a new one to be tried at all.
    // It looks up no earlier charge (this run's only attempt was declined), and reads the customer's
    // payment method again, since the decline may be the old card's.
    expect(
      await madeDuring(async () =>
        expect(await pay(gateway.url, 's3', request)).toMatchObject({ status: 200, body: { status: 'COMPLETED', replayed: false } }),
      ),
    ).toEqual([READ_CUSTOMER, CREATE]);
    expect(keysAndStatuses(intents('s3'))).toEqual([
      ['payment:s3:charge', 402],
      ['payment:s3:charge:2', 200],
    ]);
  }));

test('another decline is card_declined: 402, DECLINED; a cancel then refunds nothing', () =>
  inStripeStack(async ({ payments, gateway }) => {
    proxy.answer('POST', '/v1/payment_intents', cardDecline('do_not_honor', 'Your card was declined.'));
    expect(await pay(gateway.url, 's4', request)).toMatchObject({ status: 402, body: { error: { code: ErrorCode.CardDeclined } } });
    expect(await payments.getPayment('s4')).toMatchObject({ status: 'DECLINED' });
    expect(await cancel(gateway.url, 's4')).toMatchObject({ status: 200, body: { status: 'CANCELLED', refunded: false } });
    expect(refunds('s4')).toEqual([]);
    expect(keysAndStatuses(intents('s4'))).toEqual([['payment:s4:charge', 402]]);
  }));

test('a PaymentIntent left needing action is a decline, and is cancelled so it can never complete later', () =>
  inStripeStack(async ({ payments }) => {
    const pending = {
      id: 'pi_needs_action',
      object: 'payment_intent',
      status: 'requires_action',
      amount: request.amount,
      currency: 'usd',
      created: 1_700_000_000,
      metadata: {},
    };
    proxy.answer('POST', '/v1/payment_intents', { status: 200, body: pending });
    expect(await refusal(payments.makePayment('s10', request))).toBe(ErrorCode.CardDeclined);
    expect(proxy.to('POST', '/v1/payment_intents/pi_needs_action/cancel')).toHaveLength(1);
    expect(await payments.getPayment('s10')).toMatchObject({ status: 'DECLINED' });
  }));

test('a dropped connection, a 5xx and a 429 are retried with the same key until Stripe answers', () =>
  inStripeStack(async ({ payments }) => {
    proxy.answer('POST', '/v1/payment_intents', dropped, serverError, rateLimited);
    proxy.answer('POST', '/v1/refunds', serverError, dropped);
    expect(await payments.makePayment('s5', request)).toMatchObject({ status: 'COMPLETED', replayed: false });
    expect(keysAndStatuses(intents('s5'))).toEqual([
      ['payment:s5:charge', 0],
      ['payment:s5:charge', 500],
      ['payment:s5:charge', 429],
      ['payment:s5:charge', 200],
    ]);
    expect(await payments.cancelPayment('s5')).toMatchObject({ refunded: true });
    expect(keysAndStatuses(refunds('s5'))).toEqual([
      ['payment:s5:refund', 500],
      ['payment:s5:refund', 0],
      ['payment:s5:refund', 200],
    ]);
  }));

test('a retried attempt after a lost answer looks the charge up, finds it, and makes no second PaymentIntent', () =>
  inStripeStack(async ({ payments }) => {
    // The try and the SDK's own retry of the closed connection both reach Stripe, and both answers are lost.
    proxy.answer('POST', '/v1/payment_intents', lost, lost);
    // The activity's next try searches first; Stripe's search has caught up with the charge.
    proxy.answer('GET', '/v1/payment_intents/search', {
      status: 200,
      body: () => {
        const made = intents('s11')[0]!;
        const intent = {
          ...made.answer,
          amount: request.amount,
          currency: 'usd',
          customer: CUSTOMER,
          status: 'succeeded',
          latest_charge: { id: 'ch_s11', object: 'charge', refunded: false },
        };
        return {
          object: 'search_result',
          has_more: false,
          data: [{ ...intent, metadata: { paymentId: 's11', attempt: '1', runId: made.form.get('metadata[runId]') } }],
        };
      },
    });
    expect(
      await madeDuring(async () =>
        expect(await payments.makePayment('s11', request)).toEqual({ paymentId: 's11', status: 'COMPLETED', ...request, replayed: false }),
      ),
    ).toEqual([READ_CUSTOMER, ['POST', '/v1/payment_intents', 0], ['POST', '/v1/payment_intents', 0], SEARCH]);
    expect(keysAndStatuses(intents('s11'))).toEqual([
      ['payment:s11:charge', 0],
      ['payment:s11:charge', 0],
    ]);
    expect(await payments.cancelPayment('s11')).toMatchObject({ refunded: true });
    expect(refunds('s11').map((r) => r.form.get('payment_intent'))).toEqual([intents('s11')[0]!.answer.id]);
  }));

test('a 429 with Retry-After: 2 is retried no sooner than 2 s later, with the same key, and charges once', () =>
  inStripeStack(async ({ payments }) => {
    proxy.answer('POST', '/v1/payment_intents', rateLimitedFor(2));
    expect(await payments.makePayment('s12', request)).toMatchObject({ status: 'COMPLETED', replayed: false });
    const tries = intents('s12');
    expect(keysAndStatuses(tries)).toEqual([
      ['payment:s12:charge', 429],
      ['payment:s12:charge', 200],
    ]);
    expect(tries[1]!.at - tries[0]!.at).toBeGreaterThanOrEqual(2000);
  }));

test('after a try whose answer was lost, Stripe refusing the retry is not final: retried until Stripe answers', () =>
  inStripeStack(async ({ payments }) => {
    // Say the lost try charged, and the customer's default card changed (or the key was rotated) before the retry.
    const idempotencyError: Canned = {
      status: 400,
      body: {
        error: {
          type: 'idempotency_error',
          message: 'Keys for idempotent requests can only be used with the same parameters they were first used with.',
        },
      },
    };
    const unauthorized: Canned = { status: 401, body: { error: { type: 'invalid_request_error', message: 'Invalid API Key provided.' } } };
    proxy.answer('POST', '/v1/payment_intents', dropped, idempotencyError);
    // Two drops: the SDK retries a closed connection once by itself, so the activity's next try meets the 401.
    proxy.answer('POST', '/v1/refunds', dropped, dropped, unauthorized);
    expect(await payments.makePayment('s9', request)).toMatchObject({ status: 'COMPLETED', replayed: false });
    expect(keysAndStatuses(intents('s9'))).toEqual([
      ['payment:s9:charge', 0],
      ['payment:s9:charge', 400],
      ['payment:s9:charge', 200],
    ]);
    expect(await payments.cancelPayment('s9')).toEqual({ paymentId: 's9', status: 'CANCELLED', refunded: true });
    expect(keysAndStatuses(refunds('s9'))).toEqual([
      ['payment:s9:refund', 0],
      ['payment:s9:refund', 0],
      ['payment:s9:refund', 401],
      ['payment:s9:refund', 200],
    ]);
  }));

test("a tenant's accounts are the Stripe customers whose metadata names it; another's answers as no such customer", () =>
  inStripeStack(async ({ payments }) => {
    const acme = payments.forCaller({ tenant: 'acme', keyId: null });
    // stripe-mock's customer names no tenant: it belongs to the tenant default, not to acme.
    let refused: unknown;
    expect(await madeDuring(() => acme.makePayment('s-t1', request).catch((err: unknown) => (refused = err)))).toEqual([READ_CUSTOMER]);
    expect(refused).toMatchObject({
      code: ErrorCode.ProviderError,
      message: `Stripe refused the charge (StripeInvalidRequestError 404): No such customer: '${CUSTOMER}'`,
    });
    expect(await acme.getPayment('s-t1')).toMatchObject({ paymentId: 's-t1', status: 'DECLINED' });
    // The tenant default's s-t1 is another payment, and its customer is its own.
    expect(await payments.makePayment('s-t1', request)).toMatchObject({ status: 'COMPLETED', replayed: false });
    expect(keysAndStatuses(intents('s-t1'))).toEqual([['payment:s-t1:charge', 200]]);

    proxy.answer('GET', `/v1/customers/${CUSTOMER}`, {
      status: 200,
      body: {
        id: CUSTOMER,
        object: 'customer',
        metadata: { tenant: 'acme' },
        invoice_settings: { default_payment_method: 'pm_card_visa' },
      },
    });
    expect(await acme.makePayment('s-t2', request)).toEqual({ paymentId: 's-t2', status: 'COMPLETED', ...request, replayed: false });
    // Stripe sees the customer's own id, and the payment's service-wide name in its key and metadata.
    expect(keysAndStatuses(intents('acme/s-t2'))).toEqual([['payment:acme/s-t2:charge', 200]]);
    expect(intents('acme/s-t2')[0]!.form.get('customer')).toBe(CUSTOMER);
    expect(intents('s-t2')).toEqual([]);
  }));

test('an invalid key: 502 provider_error at once, DECLINED, no PaymentIntent made', () =>
  inStripeStack(async ({ payments, gateway }) => {
    const before = proxy.requests.length;
    const answer = await pay(gateway.url, 's6', request);
    expect(answer.status).toBe(502);
    expect(answer.body.error.code).toBe(ErrorCode.ProviderError);
    expect(answer.body.error.message).toBe('Stripe refused the charge (401): the API key was not accepted');
    expect(await payments.getPayment('s6')).toMatchObject({ status: 'DECLINED' });
    // One call (the read of the customer's payment method: no look-up on a first attempt),
    // answered 401 by stripe-mock itself, and not retried.
    expect(proxy.requests.slice(before).map((r) => [r.method, r.path, r.status])).toEqual([['GET', `/v1/customers/${CUSTOMER}`, 401]]);
    expect(await refusal(payments.makePayment('s6', request))).toBe(ErrorCode.ProviderError);
  }, 'sk_live_123'));

test('a refund Stripe refuses: cancel answers 502, the payment stays charged, and a later cancel refunds it', () =>
  inStripeStack(async ({ payments, gateway }) => {
    await payments.makePayment('s7', request);
    proxy.answer('POST', '/v1/refunds', {
      status: 400,
      body: { error: { type: 'invalid_request_error', code: 'resource_missing', message: 'No such payment_intent' } },
    });
    expect(await cancel(gateway.url, 's7')).toMatchObject({ status: 502, body: { error: { code: ErrorCode.ProviderError } } });
    expect(await payments.getPayment('s7')).toMatchObject({ status: 'COMPLETED', refunded: false });
    expect(await payments.makePayment('s7', request)).toMatchObject({ status: 'COMPLETED', replayed: true });

    expect(await cancel(gateway.url, 's7')).toMatchObject({ status: 200, body: { status: 'CANCELLED', refunded: true } });
    expect(keysAndStatuses(refunds('s7'))).toEqual([
      ['payment:s7:refund', 400],
      ['payment:s7:refund', 200],
    ]);
  }));

test('the account endpoint says balances are at Stripe; readiness does not wait for a ledger', () =>
  inStripeStack(async ({ gateway }) => {
    const answer = await call(gateway.url, 'GET', `/accounts/${CUSTOMER}`);
    expect(answer.status).toBe(501);
    expect(answer.body.error.code).toBe(ErrorCode.AccountAtProvider);
    expect(answer.body.error.message).toContain(`${CUSTOMER} is a Stripe customer`);
    expect(await call(gateway.url, 'GET', '/readyz')).toMatchObject({ status: 200, body: { status: 'ok', temporal: true } });
  }));

const answeredFromEarlierIntent =
  'a payment-id whose earlier run the service noted, and Temporal has forgotten (retention), is answered from its earlier PaymentIntent';
describe(answeredFromEarlierIntent, () => {
  /** Stripe's search answer holding the PaymentIntent an earlier, forgotten run made. */
  const earlier = (paymentId: string, overrides: { amount?: number; refunded?: boolean } = {}): Canned => ({
    status: 200,
    body: {
      object: 'search_result',
      has_more: false,
      data: [
        {
          id: `pi_earlier_${paymentId}`,
          object: 'payment_intent',
          amount: overrides.amount ?? request.amount,
          currency: 'usd',
          customer: CUSTOMER,
          status: 'succeeded',
          created: 1_700_000_000,
          metadata: { paymentId, attempt: '1', runId: 'a-run-temporal-forgot' },
          latest_charge: { id: `ch_${paymentId}`, object: 'charge', refunded: overrides.refunded ?? false },
        },
      ],
    },
  });
  const searches = (paymentId: string) =>
    proxy.to('GET', '/v1/payment_intents/search').filter((r) => r.query.get('query') === `metadata['paymentId']:'${paymentId}'`);
  /** What the forgotten run left in the service's database: the note of its charge attempt (it closed without a record, say terminated). */
  const notedEarlier = (stack: Stack, paymentId: string) => stack.ledger.noteChargeAttempt(paymentId, 'a-run-temporal-forgot', 1);

  test('charged before: a replay, no new PaymentIntent; a cancel refunds that one', () =>
    inStripeStack(async (stack) => {
      const { payments } = stack;
      await notedEarlier(stack, 's-old1');
      proxy.answer('GET', '/v1/payment_intents/search', earlier('s-old1'));
      expect(await payments.makePayment('s-old1', request)).toEqual({
        paymentId: 's-old1',
        status: 'COMPLETED',
        ...request,
        replayed: true,
      });
      expect(searches('s-old1')).toHaveLength(1);
      expect(intents('s-old1')).toEqual([]);
      expect(await payments.cancelPayment('s-old1')).toEqual({ paymentId: 's-old1', status: 'CANCELLED', refunded: true });
      expect(refunds('s-old1').map((r) => r.form.get('payment_intent'))).toEqual(['pi_earlier_s-old1']);
    }));

  test('charged and refunded before: refused as cancelled, nothing charged', () =>
    inStripeStack(async (stack) => {
      const { payments } = stack;
      await notedEarlier(stack, 's-old2');
      proxy.answer('GET', '/v1/payment_intents/search', earlier('s-old2', { refunded: true }));
      expect(await refusal(payments.makePayment('s-old2', request))).toBe(ErrorCode.PaymentCancelled);
      expect(intents('s-old2')).toEqual([]);
    }));

  test('charged before with another amount: idempotency_mismatch, nothing charged', () =>
    inStripeStack(async (stack) => {
      const { payments } = stack;
      await notedEarlier(stack, 's-old3');
      proxy.answer('GET', '/v1/payment_intents/search', earlier('s-old3', { amount: 999 }));
      expect(await refusal(payments.makePayment('s-old3', request))).toBe(ErrorCode.IdempotencyMismatch);
      expect(intents('s-old3')).toEqual([]);
    }));

  test('noted before, never charged: the search finds nothing of it, and the charge is made', () =>
    inStripeStack(async (stack) => {
      const { payments } = stack;
      await notedEarlier(stack, 's-new');
      // stripe-mock's own search answer: its fixture PaymentIntent, which names no such payment.
      expect(await payments.makePayment('s-new', request)).toMatchObject({ status: 'COMPLETED', replayed: false });
      expect(searches('s-new')).toHaveLength(1);
      expect(keysAndStatuses(intents('s-new'))).toEqual([['payment:s-new:charge', 200]]);
    }));
});

describe('no Stripe request outlives its activity attempt, so none runs beside the retry', () => {
  const provider = () => new StripeProvider({ apiKey: 'sk_test_123', apiBase: proxy.url, currency: 'usd' });
  const attempt = (deadline: number, signal = new AbortController().signal) => ({
    paymentId: 'limits-1',
    ...request,
    attempt: 1,
    runId: 'run-1',
    retry: false,
    deadline,
    signal,
  });

  test("a request Stripe does not answer is given up at the attempt's end, as a fault to retry", async () => {
    proxy.answer('GET', '/v1/payment_intents/search', hung);
    const started = Date.now();
    const failure = await provider()
      .charge(attempt(Date.now() + 500))
      .catch((err: Error) => err);
    expect(Date.now() - started).toBeLessThan(3000);
    expect(failure).toBeInstanceOf(Error);
    expect(failure).not.toBeInstanceOf(ProviderRefusal);
  });

  test('an attempt cancelled or out of time makes no request', async () => {
    const before = proxy.requests.length;
    const cancelled = new AbortController();
    cancelled.abort();
    await expect(provider().charge(attempt(Date.now() + 10_000, cancelled.signal))).rejects.toThrow(/attempt ended/);
    await expect(provider().charge(attempt(Date.now() - 1))).rejects.toThrow(/attempt ended/);
    expect(proxy.requests.length).toBe(before);
  });
});
