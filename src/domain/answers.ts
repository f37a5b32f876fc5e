/**
 * What a payment answers without running anything.
 *
 * Once closed (the retention rule): the workflow writes its final view to the service's own
 * database as it closes; Temporal forgets the run after the namespace's retention, the record
 * does not. The gateway answers from the record without starting a run, and charge and refund
 * refuse what it forbids, so a run started some other way (the temporal CLI) cannot move money
 * against it either.
 *
 * While open: from the workflow's snapshot (a query), so that duplicates and settled payments
 * are answered without an update, and never reach Temporal's per-workflow update limits. The
 * workflow's own validator applies the same rule.
 */
import { ErrorCode } from './errors';
import {
  type CancelResult,
  type PaymentRequest,
  type PaymentResult,
  type PaymentSnapshot,
  type PaymentView,
  requestProblem,
  sameRequest,
} from './contract';

export interface Refusal {
  code: ErrorCode;
  message: string;
}

export type Answer<T> = { result: T; refusal?: undefined } | { refusal: Refusal; result?: undefined };

const refuse = (code: ErrorCode, message: string): { refusal: Refusal } => ({ refusal: { code, message } });

/** makePayment for a closed payment: a charge stands and replays; anything else is final. */
export function makePaymentAfterClose(record: PaymentView, request: PaymentRequest): Answer<PaymentResult> {
  const { paymentId } = record;
  if (record.status === 'CANCELLED') return refuse(ErrorCode.PaymentCancelled, `payment ${paymentId} was cancelled`);
  if (record.status !== 'COMPLETED') {
    return refuse(ErrorCode.PaymentExpired, `payment ${paymentId} expired at ${record.expiresAt} without being charged`);
  }
  const charged = { accountId: record.accountId!, amount: record.amount! };
  if (!sameRequest(charged, request)) {
    return refuse(
      ErrorCode.IdempotencyMismatch,
      `payment ${paymentId} was requested for ${charged.amount} from account ${charged.accountId}`,
    );
  }
  return { result: { paymentId, status: 'COMPLETED', ...charged, replayed: true } };
}

/** cancelPayment for a closed payment: a cancellation answers as before; a charge stands after its window. */
export function cancelAfterClose(record: PaymentView): Answer<CancelResult> {
  const { paymentId } = record;
  if (record.status === 'CANCELLED') return { result: { paymentId, status: 'CANCELLED', refunded: record.refunded } };
  const stands = record.status === 'COMPLETED' ? '; its charge stands' : '';
  return refuse(ErrorCode.PaymentExpired, `payment ${paymentId} expired at ${record.expiresAt}${stands}`);
}

/** Why a makePayment is refused, from what the payment shows; undefined when it may go on. */
export function makePaymentRefusal(snapshot: PaymentSnapshot, request: PaymentRequest): Refusal | undefined {
  const { paymentId } = snapshot;
  const problem = requestProblem(request);
  if (problem) return { code: ErrorCode.InvalidRequest, message: problem };
  // A charge outlives its window: a replay still answers it, as it will from the record.
  if (snapshot.expired && snapshot.status !== 'COMPLETED') {
    return { code: ErrorCode.PaymentExpired, message: `payment ${paymentId} expired at ${snapshot.expiresAt}` };
  }
  if (
    snapshot.accountId !== null &&
    snapshot.amount !== null &&
    !sameRequest({ accountId: snapshot.accountId, amount: snapshot.amount }, request)
  ) {
    return {
      code: ErrorCode.IdempotencyMismatch,
      message: `payment ${paymentId} was requested for ${snapshot.amount} from account ${snapshot.accountId}`,
    };
  }
  // Runs of an earlier release do not say cancelRequested; CANCELLED always implies it.
  if (snapshot.cancelRequested || snapshot.status === 'CANCELLED')
    return { code: ErrorCode.PaymentCancelled, message: `payment ${paymentId} was cancelled` };
  return undefined;
}

/**
 * makePayment answered from an open payment's snapshot; undefined when only the workflow can
 * answer (a charge to make or wait for). A request that arrived (`arrivedAt`, ms) before the last
 * attempt's decline shares that attempt's answer rather than starting the next one: identical
 * requests sent together are one try, however late each reads the snapshot.
 */
export function makePaymentFromSnapshot(
  snapshot: PaymentSnapshot,
  request: PaymentRequest,
  arrivedAt?: number,
): Answer<PaymentResult> | undefined {
  const refusal = makePaymentRefusal(snapshot, request);
  if (refusal) return { refusal };
  const { decline } = snapshot;
  if (snapshot.status === 'DECLINED' && decline && arrivedAt !== undefined && arrivedAt <= Date.parse(decline.at)) {
    return refuse(decline.code, decline.message);
  }
  if (snapshot.status !== 'COMPLETED') return undefined;
  return {
    result: { paymentId: snapshot.paymentId, status: 'COMPLETED', accountId: request.accountId, amount: request.amount, replayed: true },
  };
}

/** cancelPayment answered from an open payment's snapshot; undefined when the workflow must take the cancel. */
export function cancelFromSnapshot(snapshot: PaymentSnapshot): Answer<CancelResult> | undefined {
  if (snapshot.status === 'CANCELLED')
    return { result: { paymentId: snapshot.paymentId, status: 'CANCELLED', refunded: snapshot.refunded } };
  // A cancel after the window changes nothing (one in flight still lands: the workflow answers that).
  if (snapshot.expired && !snapshot.cancelRequested) {
    const stands = snapshot.status === 'COMPLETED' ? '; its charge stands' : '';
    return refuse(ErrorCode.PaymentExpired, `payment ${snapshot.paymentId} expired at ${snapshot.expiresAt}${stands}`);
  }
  return undefined;
}
