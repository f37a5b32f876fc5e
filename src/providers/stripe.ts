/**
 * Stripe as the payment provider. An account-id is a Stripe customer id: a charge is a
 * PaymentIntent confirmed off-session on the customer's default payment method, a refund is
 * a Refund of that PaymentIntent. Every call that moves money carries an idempotency key
 * derived from the payment-id and the operation, so an activity retried after a crash or a
 * lost answer gets Stripe's first answer back instead of moving money again.
 *
 * The SDK's own retries are off: Temporal's retry policy retries the whole activity with
 * backoff, and the idempotency key makes that safe.
 *
 * A charge costs one call on the happy path (docs/stripe-budget.md): the look-up of an
 * earlier charge runs only where one can exist, and the customer's default payment method is
 * read once per PAYMENT_METHOD_TTL_MS.
 */
import Stripe from 'stripe';
import { ErrorCode } from '../domain/errors';
import { DEFAULT_TENANT, unscopedId } from '../domain/tenancy';
import {
  type AttemptLimits,
  type ChargeRequest,
  type Charged,
  NO_CHARGE,
  type PaymentProvider,
  ProviderRateLimited,
  ProviderRefusal,
  type RefundRequest,
} from './provider';

export interface StripeProviderOptions {
  apiKey: string;
  /** Another base address than Stripe's, such as a local stripe-mock. */
  apiBase?: string;
  /** ISO code, lower case: amounts are in its minor unit. */
  currency: string;
  /** How long a customer's default payment method is used without reading it again; default PAYMENT_METHOD_TTL_MS (a minute). */
  paymentMethodTtlMs?: number;
  /** The clock of that cache (ms since the epoch). */
  now?: () => number;
}

/**
 * A customer's default payment method is read from Stripe at most once a minute per worker
 * process: a default changed at Stripe is used by this worker's charges within a minute. A
 * decline, or Stripe refusing the charge, forgets it at once, so the next attempt reads it again.
 */
export const PAYMENT_METHOD_TTL_MS = 60_000;

/** Customers whose payment method one worker process keeps; the oldest is dropped beyond. */
const PAYMENT_METHODS_KEPT = 10_000;

/** One request's longest wait; within an attempt, no longer than the attempt has left. */
const REQUEST_TIMEOUT_MS = 8000;

/**
 * First attempt `payment:<id>:charge`; after a decline, `payment:<id>:charge:2` and so on, since
 * Stripe keeps the decline under the first key.
 */
function chargeKey(paymentId: string, attempt: number): string {
  return `payment:${paymentId}:charge${attempt > 1 ? `:${attempt}` : ''}`;
}

function refundKey(paymentId: string): string {
  return `payment:${paymentId}:refund`;
}

/** A PaymentIntent in one of these states holds the customer's money (or will, for `processing`). */
const CHARGED_STATUSES: ReadonlySet<string> = new Set(['succeeded', 'processing']);

function stripeClient({ apiKey, apiBase }: Pick<StripeProviderOptions, 'apiKey' | 'apiBase'>): Stripe {
  const base = apiBase === undefined ? undefined : new URL(apiBase);
  return new Stripe(apiKey, {
    maxNetworkRetries: 0,
    timeout: REQUEST_TIMEOUT_MS,
    ...(base && {
      host: base.hostname,
      port: base.port || (base.protocol === 'https:' ? 443 : 80),
      protocol: base.protocol === 'https:' ? 'https' : 'http',
    }),
  });
}

/**
 * What a failed call means for the payment. Declines and Stripe's refusals of the request
 * are answers: the same call gets the same answer. Rate limits, lock conflicts on a key in
 * use, 5xx and network errors say nothing about the payment: thrown on, for a retry. So does
 * an idempotency error: Stripe holds the key from an earlier try (perhaps the SDK's own retry
 * of a closed connection), which may have moved money; only a try Stripe answers in full can
 * tell, so the call is retried until one does (the key lapses after 24 h, and then the look-up
 * of an earlier charge decides).
 */
function refusalOf(err: unknown, operation: string): ProviderRefusal | undefined {
  if (!(err instanceof Stripe.errors.StripeError)) return undefined;
  if (err instanceof Stripe.errors.StripeCardError) {
    const insufficient = err.decline_code === 'insufficient_funds' || err.code === 'insufficient_funds';
    return new ProviderRefusal(
      insufficient ? ErrorCode.InsufficientFunds : ErrorCode.CardDeclined,
      `Stripe declined the card: ${err.message}`,
    );
  }
  if (err instanceof Stripe.errors.StripeIdempotencyError) return undefined;
  const status = err.statusCode ?? 0;
  if (status === 409 || status === 429 || status >= 500 || err instanceof Stripe.errors.StripeConnectionError) return undefined;
  if (status === 401 || status === 403) {
    // Stripe's own text may quote the key: it reaches the API's answer, the history and the logs.
    return new ProviderRefusal(ErrorCode.ProviderError, `Stripe refused the ${operation} (${status}): the API key was not accepted`);
  }
  if (status >= 400 || err instanceof Stripe.errors.StripeAuthenticationError || err instanceof Stripe.errors.StripeInvalidRequestError) {
    return new ProviderRefusal(
      ErrorCode.ProviderError,
      `Stripe refused the ${operation} (${err.type}${status ? ` ${status}` : ''}): ${err.message}`,
    );
  }
  return undefined;
}

/**
 * A refusal as the payment should take it. On a retry, an earlier try may have reached Stripe
 * and moved money, its answer lost; Stripe refusing the request itself now (a key revoked or a
 * customer deleted since) says nothing about whether that try did. So such a refusal is not
 * final then: the call is retried until Stripe answers it. A decline is Stripe's answer to the
 * call itself, and stays final.
 */
function asTaken(refusal: ProviderRefusal, retry: boolean): Error {
  if (!retry || refusal.type !== ErrorCode.ProviderError) return refusal;
  return new Error(`${refusal.message} (on a retry, after a try whose outcome is unknown: retried, not taken as final)`);
}

/**
 * One Stripe call of an activity attempt: its request ends with the attempt (or is not made
 * once the attempt is over), and a failure is taken as the payment should take it.
 */
async function answered<T>(
  operation: string,
  { retry, deadline, signal }: Pick<ChargeRequest, 'retry' | keyof AttemptLimits>,
  call: (options: Stripe.RequestOptions) => Promise<T>,
): Promise<T> {
  const remaining = deadline - Date.now();
  if (signal.aborted || remaining <= 0) {
    throw new Error(`the activity attempt ended (cancelled or out of time) before Stripe's ${operation} call; the next attempt makes it`);
  }
  try {
    return await call({ timeout: Math.min(REQUEST_TIMEOUT_MS, remaining) });
  } catch (err) {
    const limited = rateLimitOf(err, operation);
    if (limited) throw limited;
    const refusal = err instanceof ProviderRefusal ? err : refusalOf(err, operation);
    throw refusal ? asTaken(refusal, retry) : err;
  }
}

/** A header of a Stripe error's answer (the SDK keeps them as Node received them: lower case). */
function headerOf(err: InstanceType<typeof Stripe.errors.StripeError>, name: string): string | undefined {
  const value = (err.headers as Record<string, string | string[] | undefined> | undefined)?.[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Retry-After in ms: delay-seconds or an HTTP date; undefined when absent or unreadable. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * Stripe's 429 (its rate limiters, or a lock on an object held by another request): nothing
 * happened to the payment, so it is retried; Retry-After, when Stripe sends it, sets the delay.
 */
function rateLimitOf(err: unknown, operation: string): ProviderRateLimited | undefined {
  if (!(err instanceof Stripe.errors.StripeError) || err.statusCode !== 429) return undefined;
  const reason = headerOf(err, 'stripe-rate-limited-reason') ?? err.code ?? 'rate_limit';
  const delay = retryAfterMs(headerOf(err, 'retry-after'));
  return new ProviderRateLimited(
    `Stripe rate-limited the ${operation} (${reason}): ${err.message}${delay === undefined ? '' : `; Retry-After ${delay / 1000} s`}`,
    delay,
    reason,
  );
}

const isoTime = (unixSeconds: number) => new Date(unixSeconds * 1000).toISOString();

/** What a PaymentIntent found by earlierCharge means for this run's charge. */
function chargedBefore(
  intent: Stripe.PaymentIntent,
  currency: string,
  { paymentId, customer, amount, runId }: Pick<ChargeRequest, 'paymentId' | 'amount' | 'runId'> & { customer: string },
): Charged {
  const charged = typeof intent.customer === 'string' ? intent.customer : intent.customer?.id;
  if (intent.amount !== amount || charged !== customer || intent.currency !== currency) {
    throw new ProviderRefusal(
      ErrorCode.IdempotencyMismatch,
      `payment ${unscopedId(paymentId).id} was charged ${intent.amount} ${intent.currency} to customer ${charged} before ` +
        `(PaymentIntent ${intent.id})`,
    );
  }
  const charge = intent.latest_charge;
  return {
    reference: intent.id,
    // Or this run's own charge, found by a retry once Stripe's search has caught up with it.
    fromEarlierRun: intent.metadata.runId !== runId,
    refunded: typeof charge === 'object' && charge !== null && charge.refunded,
    at: isoTime(intent.created),
  };
}

export class StripeProvider implements PaymentProvider {
  private readonly stripe: Stripe;
  /** Customer id -> its default payment method, and until when it is used without asking Stripe again. */
  private readonly paymentMethods = new Map<string, { method: string | undefined; until: number }>();
  private readonly paymentMethodTtlMs: number;
  private readonly now: () => number;

  constructor(private readonly options: StripeProviderOptions) {
    this.stripe = stripeClient(options);
    this.paymentMethodTtlMs = options.paymentMethodTtlMs ?? PAYMENT_METHOD_TTL_MS;
    this.now = options.now ?? Date.now;
  }

  /**
   * One call on the happy path: the create-and-confirm under the attempt's idempotency key.
   * The look-up of an earlier charge runs first only where it can find one (docs/stripe-budget.md):
   * - on a retry of this attempt (an earlier try may have charged, and Stripe's key lapses after
   *   24 h of Stripe being unreachable), counted by Temporal or found in the service's database;
   * - where the database notes another run of this payment-id (one Temporal may have forgotten,
   *   whose key has lapsed). Each attempt is noted before its first call to Stripe, so every try
   *   that may have charged is noted.
   * An attempt after a decline needs none: this run's earlier attempts were declined.
   */
  async charge(request: ChargeRequest): Promise<Charged> {
    const { paymentId, accountId, amount, attempt, runId, retry } = request;
    const customer = unscopedId(accountId).id;
    const triedBefore = request.triedBefore ? await request.triedBefore() : true;
    if (retry || triedBefore) {
      const earlier = await answered('charge', request, (options) => this.earlierCharge(paymentId, options));
      if (earlier) return chargedBefore(earlier, this.options.currency, { paymentId, customer, amount, runId });
    }
    const paymentMethod = await this.paymentMethodOf(accountId, request);
    let intent: Stripe.PaymentIntent;
    try {
      intent = await answered('charge', request, (options) =>
        this.stripe.paymentIntents.create(
          {
            amount,
            currency: this.options.currency,
            customer,
            ...(paymentMethod && { payment_method: paymentMethod }),
            confirm: true,
            off_session: true,
            metadata: { paymentId, attempt: String(attempt), runId, ...(request.keyId && { keyId: request.keyId }) },
          },
          { ...options, idempotencyKey: chargeKey(paymentId, attempt) },
        ),
      );
    } catch (err) {
      // A decline, or Stripe refusing the charge (a payment method detached since it was read):
      // the answer stands, and the next attempt reads the customer's payment method again.
      if (err instanceof ProviderRefusal) this.paymentMethods.delete(accountId);
      throw err;
    }
    if (!CHARGED_STATUSES.has(intent.status)) {
      this.paymentMethods.delete(accountId);
      // Off-session, Stripe answers a failed confirmation with an error; any other state (such as
      // requires_action) still means no money moved, and the next attempt gets a new key. Cancelled,
      // so that nobody can complete it later beside a charge the next attempt makes.
      if (intent.status !== 'canceled')
        await answered('charge', request, (options) => this.stripe.paymentIntents.cancel(intent.id, {}, options));
      throw new ProviderRefusal(ErrorCode.CardDeclined, `Stripe left PaymentIntent ${intent.id} in status ${intent.status}`);
    }
    return { reference: intent.id, fromEarlierRun: false, refunded: false, at: isoTime(intent.created) };
  }

  /** The account's default payment method, read from Stripe once per paymentMethodTtlMs. */
  private async paymentMethodOf(accountId: string, request: ChargeRequest): Promise<string | undefined> {
    const kept = this.paymentMethods.get(accountId);
    if (kept && kept.until > this.now()) return kept.method;
    const method = await answered('charge', request, (options) => this.defaultPaymentMethod(accountId, options));
    this.paymentMethods.delete(accountId);
    this.paymentMethods.set(accountId, { method, until: this.now() + this.paymentMethodTtlMs });
    if (this.paymentMethods.size > PAYMENT_METHODS_KEPT) this.paymentMethods.delete(this.paymentMethods.keys().next().value!);
    return method;
  }

  async refund(request: RefundRequest): Promise<{ at: string }> {
    const { paymentId, reference } = request;
    if (!reference) throw new ProviderRefusal(NO_CHARGE, `payment ${paymentId} has no PaymentIntent to refund`);
    const refund = await answered('refund', request, async (options) => {
      try {
        return await this.stripe.refunds.create(
          { payment_intent: reference, metadata: { paymentId, ...(request.keyId && { keyId: request.keyId }) } },
          { ...options, idempotencyKey: refundKey(paymentId) },
        );
      } catch (err) {
        // Refunded already, say from the Stripe dashboard: the money is back, which is what was asked.
        if (err instanceof Stripe.errors.StripeInvalidRequestError && err.code === 'charge_already_refunded') return undefined;
        throw err;
      }
    });
    if (!refund) return { at: new Date().toISOString() };
    if (refund.status === 'failed' || refund.status === 'canceled') {
      throw new ProviderRefusal(ErrorCode.ProviderError, `Stripe's refund ${refund.id} of ${reference} is ${refund.status}`);
    }
    return { at: isoTime(refund.created) };
  }

  /**
   * The payment-id's charge at Stripe from any run or attempt, found by the metadata every charge
   * carries. Needed where Stripe has forgotten the idempotency key (after 24 h): a run Temporal
   * no longer knows (retention), or an attempt retried after a day of Stripe being unreachable.
   * Stripe's search index lags writes by up to a minute: a charge made just before is found by
   * its idempotency key instead, which another run's create cannot reuse (its metadata differ,
   * so Stripe answers an idempotency error, retried until the search finds the charge).
   */
  private async earlierCharge(paymentId: string, options: Stripe.RequestOptions): Promise<Stripe.PaymentIntent | undefined> {
    const found = await this.stripe.paymentIntents.search(
      {
        query: `metadata['paymentId']:'${paymentId}'`,
        expand: ['data.latest_charge'],
        limit: 100,
      },
      options,
    );
    return found.data.find((intent) => intent.metadata?.paymentId === paymentId && CHARGED_STATUSES.has(intent.status));
  }

  /**
   * The account's default payment method; undefined lets Stripe fall back to a legacy default
   * source. A tenant's accounts are the Stripe customers whose metadata `tenant` names it (in the
   * tenant default, those that name none): another tenant's customer is answered as Stripe
   * answers one that does not exist, so that nobody learns of it.
   */
  private async defaultPaymentMethod(accountId: string, options: Stripe.RequestOptions): Promise<string | undefined> {
    const { tenant, id: customerId } = unscopedId(accountId);
    const customer = await this.stripe.customers.retrieve(customerId, {}, options);
    // Before the deleted check, so that another tenant's deleted customer is not shown to exist (a deleted one names no tenant).
    if (((!customer.deleted && customer.metadata?.tenant) || DEFAULT_TENANT) !== tenant) {
      throw new ProviderRefusal(
        ErrorCode.ProviderError,
        `Stripe refused the charge (StripeInvalidRequestError 404): No such customer: '${customerId}'`,
      );
    }
    if (customer.deleted) throw new ProviderRefusal(ErrorCode.ProviderError, `Stripe customer ${customerId} is deleted`);
    const method = customer.invoice_settings?.default_payment_method;
    return typeof method === 'string' ? method : method?.id;
  }
}
