/**
 * The payment state machine as a pure function. Handlers only feed it events; the
 * workflow's single driver loop runs the one activity a phase asks for. Because no
 * transition awaits anything, interleaved handlers cannot both start a charge or a refund.
 */
import type { PaymentRequest, PaymentStatus } from '../domain/payment';

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
}

export type PaymentEvent =
  | { type: 'pay'; request: PaymentRequest }
  | { type: 'cancel' }
  | { type: 'charged' }
  | { type: 'declined' }
  /** The ledger holds a refund for this payment-id from a run Temporal has forgotten. */
  | { type: 'alreadyRefunded' }
  /** The ledger holds a charge with other parameters from such a run: nothing was charged now. */
  | { type: 'mismatched' }
  | { type: 'refunded' }
  /** The provider refused the refund (an invalid key or request): the charge stands, and a later cancel tries again. */
  | { type: 'refundRefused' }
  | { type: 'expire' };

export const initialState: PaymentState = { phase: 'new', cancelRequested: false, refunded: false, expired: false };

export function nextState(state: PaymentState, event: PaymentEvent): PaymentState {
  switch (event.type) {
    case 'pay':
      if (state.expired || state.cancelRequested) return state;
      if (state.phase === 'new' || state.phase === 'declined') {
        return { ...state, phase: 'charging', request: state.request ?? event.request };
      }
      return state;
    case 'cancel':
      if (state.expired) return state;
      switch (state.phase) {
        case 'new':
        case 'declined':
          return { ...state, phase: 'cancelled', cancelRequested: true };
        case 'charging':
          return { ...state, cancelRequested: true };
        case 'charged':
          return { ...state, phase: 'refunding', cancelRequested: true };
        default:
          return state;
      }
    case 'charged':
      if (state.phase !== 'charging') return state;
      return { ...state, phase: state.cancelRequested ? 'refunding' : 'charged' };
    case 'declined':
      if (state.phase !== 'charging') return state;
      return { ...state, phase: state.cancelRequested ? 'cancelled' : 'declined' };
    case 'alreadyRefunded':
      if (state.phase !== 'charging') return state;
      return { ...state, phase: 'cancelled', cancelRequested: true, refunded: true };
    case 'mismatched':
      if (state.phase !== 'charging') return state;
      return { ...state, phase: state.cancelRequested ? 'cancelled' : 'new', request: undefined };
    case 'refunded':
      if (state.phase !== 'refunding') return state;
      return { ...state, phase: 'cancelled', refunded: true };
    case 'refundRefused':
      if (state.phase !== 'refunding') return state;
      return { ...state, phase: 'charged', cancelRequested: false };
    case 'expire':
      return { ...state, expired: true };
  }
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
