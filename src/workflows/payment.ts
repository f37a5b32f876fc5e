/**
 * One workflow per payment-id. Handlers only record what callers asked for (synchronously,
 * through nextState) and wait; a single driver loop runs the charge or refund that the
 * state asks for, one at a time. So however updates and signals interleave, a run starts
 * at most one charge per attempt and at most one refund, and the ledger's unique keys make
 * each activity's retries move money once.
 */
import {
  ApplicationFailure,
  ActivityFailure,
  allHandlersFinished,
  condition,
  proxyLocalActivities,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { PaymentActivities } from '../activities';
import {
  type CancelResult,
  DEFAULT_EXPIRY,
  ErrorCode,
  type PaymentRequest,
  type PaymentResult,
  type PaymentView,
  type PaymentWorkflowInput,
  cancelPaymentSignal,
  cancellationUpdate,
  getPaymentQuery,
  isDecline,
  makePaymentUpdate,
  parseExpiry,
  paymentIdFromWorkflowId,
  requestProblem,
  sameRequest,
} from '../domain/payment';
import { type PaymentEvent, type PaymentState, initialState, nextState, pendingWork, statusOf } from './transitions';

const { charge, refund } = proxyLocalActivities<PaymentActivities>({
  startToCloseTimeout: '10s',
  // No attempt limit: a payment in flight must land; declines come back as non-retryable types.
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '10s' },
});

function refusal(code: ErrorCode, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: code, message, nonRetryable: true });
}

/** The ApplicationFailure an activity raised: wrapped in an ActivityFailure, or as it is (local activities). */
function applicationFailure(err: unknown): ApplicationFailure | undefined {
  if (err instanceof ApplicationFailure) return err;
  return err instanceof ActivityFailure && err.cause instanceof ApplicationFailure ? err.cause : undefined;
}

export async function payment(input?: PaymentWorkflowInput | null): Promise<PaymentView> {
  const info = workflowInfo();
  const paymentId = paymentIdFromWorkflowId(info.workflowId);
  // `temporal workflow start --input null` arrives as null, not as a missing argument.
  const { expiry = DEFAULT_EXPIRY, ...initialRequest } = input ?? {};
  const expiryMs = parseExpiry(expiry);
  if (expiryMs === undefined) {
    throw refusal(ErrorCode.InvalidRequest, `expiry must be at least 1s, such as 90s, 15m or 1h; got ${JSON.stringify(expiry)}`);
  }
  const expiresAt = new Date(info.startTime.getTime() + expiryMs).toISOString();

  let state: PaymentState = initialState;
  /** The charge the ledger holds came from a run Temporal has forgotten: every answer is a replay. */
  let chargedByEarlierRun = false;
  let chargeAttempts = 0;
  /** The provider's name for the charge, which the refund names. */
  let chargeReference: string | undefined;
  let declineCode: ErrorCode = ErrorCode.InsufficientFunds;
  let declineMessage = '';
  let refundRefusal = '';
  const apply = (event: PaymentEvent): void => {
    state = nextState(state, event);
  };
  const settled = (): boolean => pendingWork(state) === undefined;

  const view = (): PaymentView => ({
    paymentId,
    status: statusOf(state),
    accountId: state.request?.accountId ?? null,
    amount: state.request?.amount ?? null,
    refunded: state.refunded,
    expiresAt,
    expired: state.expired,
  });

  const checkMakePayment = (request: PaymentRequest): void => {
    const problem = requestProblem(request);
    if (problem) throw refusal(ErrorCode.InvalidRequest, problem);
    if (state.expired) throw refusal(ErrorCode.PaymentExpired, `payment ${paymentId} expired at ${expiresAt}`);
    if (state.request && !sameRequest(state.request, request)) {
      throw refusal(
        ErrorCode.IdempotencyMismatch,
        `payment ${paymentId} was requested for ${state.request.amount} from account ${state.request.accountId}`,
      );
    }
    if (state.cancelRequested) throw refusal(ErrorCode.PaymentCancelled, `payment ${paymentId} was cancelled`);
  };

  const answerMakePayment = (request: PaymentRequest, replayed: boolean): PaymentResult => {
    switch (state.phase) {
      case 'charged':
        return { paymentId, status: 'COMPLETED', ...request, replayed: replayed || chargedByEarlierRun };
      case 'declined':
        throw refusal(declineCode, declineMessage);
      case 'new':
        // The ledger refused this request as a mismatch with an earlier run's charge.
        throw refusal(ErrorCode.IdempotencyMismatch, declineMessage);
      default:
        throw refusal(ErrorCode.PaymentCancelled, `payment ${paymentId} was cancelled`);
    }
  };

  setHandler(getPaymentQuery, view);

  setHandler(cancelPaymentSignal, () => apply({ type: 'cancel' }));

  setHandler(
    makePaymentUpdate,
    async (request) => {
      const startsAttempt = state.phase === 'new' || state.phase === 'declined';
      apply({ type: 'pay', request });
      await condition(settled);
      return answerMakePayment(request, !startsAttempt);
    },
    { validator: checkMakePayment },
  );

  /** Why no cancellation is in effect, for a caller waiting on one. */
  const notCancelled = (): ApplicationFailure => {
    if (state.expired) return refusal(ErrorCode.PaymentExpired, `payment ${paymentId} expired at ${expiresAt}`);
    // The provider refused the refund (perhaps before this caller asked): the charge stands, and a later cancel tries again.
    if (refundRefusal) return refusal(ErrorCode.ProviderError, refundRefusal);
    return refusal(ErrorCode.InvalidRequest, `payment ${paymentId} is not cancelled`);
  };

  setHandler(
    cancellationUpdate,
    async (): Promise<CancelResult> => {
      await condition(settled);
      if (!state.cancelRequested) throw notCancelled();
      return { paymentId, status: 'CANCELLED', refunded: state.refunded };
    },
    {
      validator: () => {
        if (!state.cancelRequested) throw notCancelled();
      },
    },
  );

  if (initialRequest.accountId !== undefined || initialRequest.amount !== undefined) {
    const problem = requestProblem(initialRequest);
    if (problem) throw refusal(ErrorCode.InvalidRequest, problem);
    apply({ type: 'pay', request: initialRequest as PaymentRequest });
  }

  const runCharge = async (request: PaymentRequest): Promise<void> => {
    try {
      const result = await charge({ paymentId, ...request, attempt: ++chargeAttempts });
      chargedByEarlierRun = result.fromEarlierRun;
      chargeReference = result.reference;
      apply({ type: result.refunded ? 'alreadyRefunded' : 'charged' });
    } catch (err) {
      const failure = applicationFailure(err);
      const type = failure?.type;
      if (!isDecline(type) && type !== ErrorCode.IdempotencyMismatch) throw err;
      declineMessage = failure!.message;
      if (isDecline(type)) declineCode = type;
      apply({ type: isDecline(type) ? 'declined' : 'mismatched' });
    }
  };

  const runRefund = async (): Promise<void> => {
    try {
      await refund({ paymentId, reference: chargeReference });
      apply({ type: 'refunded' });
    } catch (err) {
      const failure = applicationFailure(err);
      if (failure?.type !== ErrorCode.ProviderError) throw err;
      refundRefusal = failure.message;
      apply({ type: 'refundRefused' });
    }
  };

  const expiryTimer = sleep(expiryMs).then(() => apply({ type: 'expire' }));

  for (;;) {
    await condition(() => !settled() || state.expired);
    const work = pendingWork(state);
    if (work === 'charge') await runCharge(state.request!);
    else if (work === 'refund') await runRefund();
    else break;
  }
  await expiryTimer;
  await condition(allHandlersFinished);
  return view();
}
