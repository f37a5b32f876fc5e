/**
 * Where money moves: the built-in ledger or Stripe, behind one small interface. The
 * activities call a provider and turn its refusals into non-retryable ApplicationFailures;
 * any other error a provider throws is transient and retried by Temporal.
 */
import type { PaymentRequest } from '../domain/contract';

/**
 * The activity attempt a provider call runs in. No request of it may outlive the attempt:
 * Temporal retries a timed-out attempt, and the retry must not run beside it.
 */
export interface AttemptLimits {
  /** When the attempt's start-to-close timeout ends (ms since the epoch). */
  deadline: number;
  /** Aborted when Temporal cancels the attempt. */
  signal: AbortSignal;
}

/** Who asked: the API key of the request that started the charge or the refund, kept for the audit trail. */
interface AskedBy {
  keyId?: string;
}

export interface ChargeRequest extends PaymentRequest, AttemptLimits, AskedBy {
  paymentId: string;
  /**
   * Which charge attempt of the payment this is (1, then 2 after a decline...): each
   * attempt is one charge at the provider, whatever the retries of one attempt.
   */
  attempt: number;
  /** The workflow run the charge is made for. */
  runId: string;
  /** An earlier try of this same call may have reached the provider, its answer lost. */
  retry: boolean;
  /**
   * Notes this attempt in the service's database before the provider is asked, and answers
   * whether a try noted before may have charged the payment-id: another run's (one Temporal
   * may have forgotten, whose idempotency key at the provider may have lapsed), or an earlier
   * try of this attempt (a worker that crashed mid-call, whose retry Temporal does not count).
   * A provider whose keys lapse calls it before its first call; absent, it must assume so.
   */
  triedBefore?: () => Promise<boolean>;
}

export interface Charged {
  /** The provider's name for the charge (a PaymentIntent id at Stripe), which the refund names. */
  reference: string;
  /** The provider held this charge from an earlier workflow run, one Temporal no longer knows. */
  fromEarlierRun: boolean;
  /** That earlier run also refunded it. */
  refunded: boolean;
  at: string;
}

export interface RefundRequest extends AttemptLimits, AskedBy {
  paymentId: string;
  /** Charged.reference of the charge to refund; absent in histories recorded before providers. */
  reference?: string;
  runId: string;
  /** As for a charge: an earlier try may have reached the provider. */
  retry: boolean;
}

export interface PaymentProvider {
  /** Charges once per attempt, however often it is called; throws ProviderRefusal for a decline. */
  charge(request: ChargeRequest): Promise<Charged>;
  /** Refunds the payment's charge once, however often it is called. */
  refund(request: RefundRequest): Promise<{ at: string }>;
}

/** The refusal type of a refund with no charge to refund: a bug in the caller, not a business outcome. */
export const NO_CHARGE = 'NoCharge';

/**
 * The provider asks us to slow down (Stripe's 429): nothing is known of the payment, so the
 * call is retried, no sooner than `retryAfterMs` when the provider says.
 */
export class ProviderRateLimited extends Error {
  constructor(
    message: string,
    /** From the provider's Retry-After; undefined: the retry policy's own backoff. */
    readonly retryAfterMs: number | undefined,
    /** The provider's reason, for the log and the metric (Stripe's Stripe-Rate-Limited-Reason, or its error code). */
    readonly reason: string,
  ) {
    super(message);
    this.name = 'ProviderRateLimited';
  }
}

/**
 * A definite answer: the same call made again would answer the same, so it is not retried.
 * `type` is the ErrorCode the API answers with (or a name for a bug, such as NoCharge).
 */
export class ProviderRefusal extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
    this.name = 'ProviderRefusal';
  }
}
