/**
 * Charge, refund and the closing record: the only places money moves or a payment's final
 * answer is written. Built by a factory over a payment provider (the ledger or Stripe) and
 * the service's records, so that tests and the worker wire them alike. A refusal is a
 * non-retryable ApplicationFailure whose type is an ErrorCode; anything else is thrown as
 * it is and retried by Temporal.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { type Answer, cancelAfterClose, makePaymentAfterClose } from '../domain/answers';
import type { PaymentRequest } from '../domain/contract';
import type { PaymentRecord, PaymentRecords } from '../ledger/ledger';
import { type AttemptLimits, type Charged, type PaymentProvider, ProviderRateLimited, ProviderRefusal } from '../providers/provider';

interface CallInput {
  /** Set on a call that goes on as a regular activity after its local tries failed: one of them may have reached the provider. */
  afterTries?: boolean;
  /** The API key whose request asked for the call; absent when none did. The ledger keeps it on the entry. */
  keyId?: string;
}

export interface ChargeInput extends PaymentRequest, CallInput {
  paymentId: string;
  /** The payment's charge attempt: 1, then one more after each decline. */
  attempt: number;
}

export type ChargeResult = Charged;

export interface RefundInput extends CallInput {
  paymentId: string;
  /** ChargeResult.reference of the charge being refunded. */
  reference?: string;
}

/**
 * The workflow run the activity works for (the ledger records it, Stripe sees it in metadata),
 * whether this is a retry, and the attempt's limits.
 */
function currentCall(afterTries = false): { runId: string; retry: boolean } & AttemptLimits {
  const { info, cancellationSignal } = Context.current();
  if (!info.workflowExecution) throw ApplicationFailure.nonRetryable('charge and refund run only for a payment workflow', 'NoWorkflow');
  return {
    runId: info.workflowExecution.runId,
    retry: afterTries || info.attempt > 1,
    // Counted from now, a little after the attempt started: the margin keeps the last request inside it.
    deadline: Date.now() + info.startToCloseTimeoutMs - ATTEMPT_MARGIN_MS,
    signal: cancellationSignal,
  };
}

const ATTEMPT_MARGIN_MS = 500;

/** The failure type of a call the provider rate-limited: retried, after the provider's Retry-After when it gave one. */
export const RATE_LIMITED = 'ProviderRateLimited';

/** The worker's counter of provider rate limits (Prometheus, on WORKER_METRICS_ADDRESS), by operation and the provider's reason. */
export const RATE_LIMITED_METRIC = 'payments_provider_rate_limited';

/**
 * A rate limit: logged with the provider's reason, counted, and retried no sooner than the
 * provider asked (nextRetryDelay replaces the retry policy's backoff for this one retry).
 */
function rateLimited(err: ProviderRateLimited, operation: string): ApplicationFailure {
  const context = Context.current();
  context.log.warn(err.message, { operation, reason: err.reason, retryAfterMs: err.retryAfterMs, attempt: context.info.attempt });
  context.metricMeter
    .createCounter(RATE_LIMITED_METRIC, '1', 'Calls the payment provider answered with a rate limit (429), retried')
    .withTags({ operation, reason: err.reason })
    .add(1);
  return ApplicationFailure.create({
    message: err.message,
    type: RATE_LIMITED,
    nonRetryable: false,
    ...(err.retryAfterMs !== undefined && { nextRetryDelay: err.retryAfterMs }),
  });
}

/** Runs a provider call: its refusals become non-retryable failures, its rate limits paced retries, anything else stays retryable. */
async function refusalsAsFailures<T>(operation: string, call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    if (err instanceof ProviderRefusal) throw ApplicationFailure.nonRetryable(err.message, err.type);
    if (err instanceof ProviderRateLimited) throw rateLimited(err, operation);
    throw err;
  }
}

/**
 * Beats while a provider call runs past half the heartbeat timeout, so that the call of a worker
 * that died is handed to another within that timeout, not the attempt's; quick calls send none.
 */
async function heartbeating<T>(call: () => Promise<T>): Promise<T> {
  const context = Context.current();
  const timeoutMs = context.info.heartbeatTimeoutMs;
  if (!timeoutMs) return call();
  const beat = setInterval(() => {
    try {
      context.heartbeat();
    } catch {
      // A beat after the attempt ended matters to nobody; it must not take the worker down.
    }
  }, timeoutMs / 2);
  try {
    return await call();
  } finally {
    clearInterval(beat);
  }
}

/** Refuses, as a provider would, what a closed payment's record forbids. */
function refuseWhatTheRecordForbids(answer: Answer<unknown> | undefined): void {
  if (answer?.refusal) throw new ProviderRefusal(answer.refusal.code, answer.refusal.message);
}

export interface ActivityDeps {
  provider: PaymentProvider;
  records: PaymentRecords;
  /** The worker's PAYMENT_EXPIRY, for payments started without one (by the temporal CLI). */
  expiryMs: number;
}

export function createActivities({ provider, records, expiryMs }: ActivityDeps) {
  return {
    charge(request: ChargeInput): Promise<ChargeResult> {
      return refusalsAsFailures(
        'charge',
        heartbeating(async () => {
          const record = await records.recordOf(request.paymentId);
          refuseWhatTheRecordForbids(record && makePaymentAfterClose(record, request));
          // Charged by a run Temporal has forgotten: the record names the charge (made before its
          // window ended), and the provider is not asked again.
          if (record?.chargeReference)
            return { reference: record.chargeReference, fromEarlierRun: true, refunded: false, at: record.expiresAt };
          const { afterTries, ...charge } = request;
          const call = currentCall(afterTries);
          // Asked by a provider whose idempotency keys lapse (Stripe), before its first call.
          const triedBefore = async () => {
            const noted = await records.noteChargeAttempt(request.paymentId, call.runId, request.attempt);
            return noted.earlierRun || noted.repeated;
          };
          return provider.charge({ ...charge, ...call, triedBefore });
        }),
      );
    },

    refund(request: RefundInput): Promise<{ at: string }> {
      return refusalsAsFailures(
        'refund',
        heartbeating(async () => {
          const record = await records.recordOf(request.paymentId);
          refuseWhatTheRecordForbids(record && cancelAfterClose(record));
          const { afterTries, ...refund } = request;
          return provider.refund({ ...refund, ...currentCall(afterTries) });
        }),
      );
    },

    /** Keeps the payment's final view in the service's database, where it outlives Temporal's retention. */
    async recordOutcome(record: PaymentRecord): Promise<void> {
      await records.recordOutcome(record, currentCall().runId);
    },

    /** The window a payment gets when its start named none. */
    async paymentExpiry(): Promise<number> {
      return expiryMs;
    },
  };
}

export type PaymentActivities = ReturnType<typeof createActivities>;
