/**
 * The payment state machine as pure functions: the transitions, and the answers callers get
 * from a state. Handlers only feed it events; the workflow's single driver loop runs the one
 * activity a phase asks for. Because no transition awaits anything, interleaved handlers
 * cannot both start a charge or a refund.
 */
import type { Answer, Refusal } from '../domain/answers';
import {
  type CancelResult,
  type PaymentRequest,
  type PaymentResult,
  type PaymentSnapshot,
  type PaymentStatus,
  type PaymentView,
} from '../domain/contract';
import { ErrorCode, isDecline } from '../domain/errors';

export type Phase =
  | 'new' // seen, nothing asked yet
  | 'charging' // charge activity to run or running
  | 'charged'
  | 'declined' // last charge attempt declined (or refused by the provider); makePayment may try again
  | 'refunding' // refund activity to run or running
  | 'cancelled';

export interface PaymentState {
  phase: Phase;
  request?: PaymentRequest;
  /** A cancel that arrived while the charge was in flight: refund once it lands. */
  cancelRequested: boolean;
  refunded: boolean;
  expired: boolean;
  /** Charge attempts started; the current or last one's number. */
  attempts: number;
  /** Why the last attempt charged nothing: a decline, or a charge with other parameters by an earlier run. */
  chargeRefusal?: Refusal;
  /** When the last attempt was declined (the workflow's clock, ISO): requests that arrived before it share its answer. */
  declinedAt?: string;
  /** Why the provider refused the last refund: the charge stands, and a later cancel tries again. */
  refundRefusal?: Refusal;
  refundRefusals: number;
  /** The provider's name for the charge, which the refund names. */
  chargeReference?: string;
  /** The charge the provider holds came from a run Temporal has forgotten: every answer is a replay. */
  chargedByEarlierRun: boolean;
  /** The API key whose makePayment started the current charge attempt, when it had one. */
  chargeAskedBy?: string;
  /** The API key whose cancelPayment asked for the refund, when it had one. */
  refundAskedBy?: string;
}

export type PaymentEvent =
  /** `by`: the API key of the request, when it carried one. */
  | { type: 'pay'; request: PaymentRequest; by?: string }
  | { type: 'cancel'; by?: string }
  | { type: 'charged'; reference?: string; fromEarlierRun?: boolean }
  /** `at`: the workflow's time of the decline. */
  | { type: 'declined'; refusal?: Refusal; at?: string }
  /** The ledger holds a refund for this payment-id from a run Temporal has forgotten. */
  | { type: 'alreadyRefunded'; reference?: string }
  /** The ledger holds a charge with other parameters from such a run: nothing was charged now. */
  | { type: 'mismatched'; refusal?: Refusal }
  /** The record of a closed earlier run of this payment-id forbids the charge: it was cancelled, or its window ended. */
  | { type: 'closedBefore'; refusal: Refusal }
  | { type: 'refunded' }
  /** The provider refused the refund (an invalid key or request), or the charge's window ended with an earlier run. */
  | { type: 'refundRefused'; refusal?: Refusal }
  | { type: 'expire' };

export const initialState: PaymentState = {
  phase: 'new',
  cancelRequested: false,
  refunded: false,
  expired: false,
  attempts: 0,
  refundRefusals: 0,
  chargedByEarlierRun: false,
};

export function nextState(state: PaymentState, event: PaymentEvent): PaymentState {
  switch (event.type) {
    case 'pay':
      if (state.expired || state.cancelRequested) return state;
      if (state.phase === 'new' || state.phase === 'declined') {
        return {
          ...state,
          phase: 'charging',
          request: state.request ?? event.request,
          attempts: state.attempts + 1,
          chargeAskedBy: event.by,
        };
      }
      return state;
    case 'cancel':
      if (state.expired) return state;
      switch (state.phase) {
        case 'new':
        case 'declined':
          return { ...state, phase: 'cancelled', cancelRequested: true };
        case 'charging':
          // The first cancel asks for the refund; later ones wait for it.
          return state.cancelRequested ? state : { ...state, cancelRequested: true, refundAskedBy: event.by };
        case 'charged':
          return { ...state, phase: 'refunding', cancelRequested: true, refundAskedBy: event.by };
        default:
          return state;
      }
    case 'charged':
      if (state.phase !== 'charging') return state;
      return {
        ...state,
        phase: state.cancelRequested ? 'refunding' : 'charged',
        chargeReference: event.reference,
        chargedByEarlierRun: event.fromEarlierRun ?? false,
      };
    case 'declined':
      if (state.phase !== 'charging') return state;
      return { ...state, phase: state.cancelRequested ? 'cancelled' : 'declined', chargeRefusal: event.refusal, declinedAt: event.at };
    case 'alreadyRefunded':
      if (state.phase !== 'charging') return state;
      return {
        ...state,
        phase: 'cancelled',
        cancelRequested: true,
        refunded: true,
        chargeReference: event.reference,
        chargedByEarlierRun: true,
      };
    case 'mismatched':
      if (state.phase !== 'charging') return state;
      return { ...state, phase: state.cancelRequested ? 'cancelled' : 'new', request: undefined, chargeRefusal: event.refusal };
    case 'closedBefore':
      if (state.phase !== 'charging') return state;
      if (event.refusal.code === ErrorCode.PaymentCancelled) return { ...state, phase: 'cancelled', cancelRequested: true };
      return { ...state, phase: state.cancelRequested ? 'cancelled' : 'new', expired: true, chargeRefusal: event.refusal };
    case 'refunded':
      if (state.phase !== 'refunding') return state;
      return { ...state, phase: 'cancelled', refunded: true };
    case 'refundRefused':
      if (state.phase !== 'refunding') return state;
      return {
        ...state,
        phase: 'charged',
        cancelRequested: false,
        refundRefusal: event.refusal,
        refundRefusals: state.refundRefusals + 1,
        expired: state.expired || event.refusal?.code === ErrorCode.PaymentExpired,
      };
    case 'expire':
      return { ...state, expired: true };
  }
}

/** The event a charge refusal of this type feeds the state machine at time `at`; undefined for a failure that is no answer. */
export function chargeRefused(refusal: { code: unknown; message: string }, at?: string): PaymentEvent | undefined {
  const { code, message } = refusal;
  if (isDecline(code)) return { type: 'declined', refusal: { code, message }, at };
  if (code === ErrorCode.IdempotencyMismatch) return { type: 'mismatched', refusal: { code, message } };
  if (code === ErrorCode.PaymentCancelled || code === ErrorCode.PaymentExpired) return { type: 'closedBefore', refusal: { code, message } };
  return undefined;
}

/** Likewise for a refund refusal. */
export function refundRefused(refusal: { code: unknown; message: string }): PaymentEvent | undefined {
  const { code, message } = refusal;
  if (code === ErrorCode.ProviderError || code === ErrorCode.PaymentExpired) return { type: 'refundRefused', refusal: { code, message } };
  return undefined;
}

/** The activity a phase asks the driver to run. */
export function pendingWork(state: PaymentState): 'charge' | 'refund' | undefined {
  if (state.phase === 'charging') return 'charge';
  if (state.phase === 'refunding') return 'refund';
  return undefined;
}

export function statusOf(state: PaymentState): PaymentStatus {
  switch (state.phase) {
    case 'new':
      return 'NEW';
    case 'charging':
    case 'refunding':
      return 'PROCESSING';
    case 'charged':
      return 'COMPLETED';
    case 'declined':
      return 'DECLINED';
    case 'cancelled':
      return 'CANCELLED';
  }
}

/** What the answers name besides the state. */
export interface PaymentContext {
  paymentId: string;
  expiresAt: string;
}

export function viewOf(state: PaymentState, { paymentId, expiresAt }: PaymentContext): PaymentView {
  return {
    paymentId,
    status: statusOf(state),
    accountId: state.request?.accountId ?? null,
    amount: state.request?.amount ?? null,
    refunded: state.refunded,
    expiresAt,
    expired: state.expired,
  };
}

export function snapshotOf(state: PaymentState, context: PaymentContext): PaymentSnapshot {
  const { attempts, cancelRequested, refundRefusals, chargedByEarlierRun, chargeRefusal, declinedAt } = state;
  const decline = state.phase === 'declined' && chargeRefusal && declinedAt ? { decline: { ...chargeRefusal, at: declinedAt } } : {};
  return { ...viewOf(state, context), attempts, cancelRequested, refundRefusals, chargedByEarlierRun, ...decline };
}

const expiredRefusal = ({ paymentId, expiresAt }: PaymentContext): Refusal => ({
  code: ErrorCode.PaymentExpired,
  message: `payment ${paymentId} expired at ${expiresAt}`,
});

/** makePayment's answer once nothing is in flight; `replayed` when this request did not start the attempt. */
export function makePaymentAnswer(
  state: PaymentState,
  context: PaymentContext,
  request: PaymentRequest,
  replayed: boolean,
): Answer<PaymentResult> {
  const { paymentId } = context;
  switch (state.phase) {
    case 'charged':
      return { result: { paymentId, status: 'COMPLETED', ...request, replayed: replayed || state.chargedByEarlierRun } };
    case 'declined':
    case 'new':
      // Declined, or refused as a mismatch with an earlier run's charge or by a closed run's record.
      return { refusal: state.chargeRefusal ?? { code: ErrorCode.InsufficientFunds, message: '' } };
    default:
      return { refusal: { code: ErrorCode.PaymentCancelled, message: `payment ${paymentId} was cancelled` } };
  }
}

/** cancelPayment's answer once nothing is in flight. */
export function cancellationAnswer(state: PaymentState, context: PaymentContext): Answer<CancelResult> {
  if (state.cancelRequested) return { result: { paymentId: context.paymentId, status: 'CANCELLED', refunded: state.refunded } };
  if (state.expired)
    return { refusal: state.refundRefusal?.code === ErrorCode.PaymentExpired ? state.refundRefusal : expiredRefusal(context) };
  // The provider refused the refund (perhaps before this caller asked): the charge stands, and a later cancel tries again.
  if (state.refundRefusal) return { refusal: state.refundRefusal };
  return { refusal: { code: ErrorCode.InvalidRequest, message: `payment ${context.paymentId} is not cancelled` } };
}
