/**
 * One workflow per payment-id. Handlers only record what callers asked for (synchronously,
 * through nextState) and wait; a single driver loop runs the charge or refund that the
 * state asks for, one at a time. So however updates and signals interleave, a run starts
 * at most one charge per attempt and at most one refund, and the ledger's unique keys make
 * each activity's retries move money once. As it closes, the run records its final view in
 * the service's database, where the answer outlives Temporal's retention.
 */
import {
  ApplicationFailure,
  ActivityFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { PaymentActivities } from '../activities';
import { type Answer, type Refusal, makePaymentRefusal } from '../domain/answers';
import {
  DEFAULT_EXPIRY,
  type CancellationRequest,
  type MakePaymentCaller,
  type PaymentRequest,
  type PaymentView,
  type PaymentWorkflowInput,
  cancelPaymentSignal,
  cancellationUpdate,
  getPaymentQuery,
  PAYMENT_WORKFLOW_VERSION,
  PROVIDER_CALL_TIMEOUT,
  makePaymentUpdate,
  parseExpiry,
  paymentOfWorkflowId,
  requestProblem,
} from '../domain/contract';
import { ErrorCode } from '../domain/errors';
import { searchAttributesOf, showsPayment } from '../domain/search-attributes';
import { scopedId } from '../domain/tenancy';
import {
  type PaymentContext,
  type PaymentEvent,
  type PaymentState,
  cancellationAnswer,
  chargeRefused,
  initialState,
  makePaymentAnswer,
  nextState,
  pendingWork,
  refundRefused,
  snapshotOf,
  statusOf,
  viewOf,
} from './transitions';

/**
 * Charge and refund run as regular activities, retried with backoff up to five minutes for as
 * long as the provider is down (a payment in flight must land; a three-day outage costs a
 * handful of events). Not as local activities, though those save a round trip: an update that
 * waits on a local activity can be answered in a later workflow task than the one that records
 * the activity's result (the SDK splits them when a query or a task heartbeat arrives at that
 * moment). If that later task is lost with its worker, a worker replaying the run rebuilds the
 * answer without its message, and the server refuses every task of the run from then on: the
 * payment never answers or closes. An answer that follows an activity's completion event is
 * always built in a task that is sent. The heartbeat timeout hands the call of a worker that
 * died to another within 2 s rather than the attempt's 10 s; the activity beats only when a
 * call runs that long.
 */
const providerCalls = proxyActivities<PaymentActivities>({
  startToCloseTimeout: PROVIDER_CALL_TIMEOUT,
  heartbeatTimeout: '2s',
  // No attempt limit: a payment in flight must land.
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '5m' },
});

/** Runs of releases before the provider-activities patch: local activities first, then these. */
const local = proxyLocalActivities<PaymentActivities>({
  startToCloseTimeout: '10s',
  retry: { initialInterval: '200ms', backoffCoefficient: 2, maximumInterval: '2s', maximumAttempts: 5 },
});
const durable = proxyActivities<PaymentActivities>({
  startToCloseTimeout: '10s',
  // No attempt limit: a payment in flight must land.
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '5m' },
});

/** Off the payment's hot path, and retried until the database takes it: the run stays open (and kept by Temporal) until then. */
const { recordOutcome } = durable;

/**
 * The closing record of a version 2 run: a local activity, in the workflow task that closes the
 * run (no activity task, no second task), and a regular one retried for ever when its few quick
 * tries fail, so that a database that stays down costs a few events, not a task heartbeat every
 * 1.6 s. No update waits on it (every handler has finished), so an answer cannot be split from it.
 */
async function recordClosing(record: Parameters<typeof recordOutcome>[0]): Promise<void> {
  try {
    await local.recordOutcome(record);
  } catch {
    await recordOutcome(record);
  }
}

/** Runs of releases before the closing record close without it. */
export const RECORD_OUTCOME_PATCH = 'record-outcome';
/** Runs of releases before it never continued as new. */
export const CONTINUE_AS_NEW_PATCH = 'continue-as-new';
/** Runs of releases before it took a window of an hour when their start named none. */
export const WORKER_EXPIRY_PATCH = 'worker-expiry';
/** Runs of releases before it retried a local activity for ever. */
export const DURABLE_RETRY_PATCH = 'durable-retry';
/** Runs of releases before it ran charge and refund as regular activities. */
export const PROVIDER_ACTIVITIES_PATCH = 'provider-activities';
/** Runs of releases before it carried no search attributes. */
export const SEARCH_ATTRIBUTES_PATCH = 'search-attributes';

/** What a run hands the next one when it continues as new: the payment as it stands, and its window. */
export interface ContinuedPayment {
  state: PaymentState;
  expiresAt: string;
}

export interface PaymentRunInput extends PaymentWorkflowInput {
  /** Set by the run before, when the payment continued as new. */
  continued?: ContinuedPayment;
}

function failure({ code, message }: Refusal): ApplicationFailure {
  return ApplicationFailure.create({ type: code, message, nonRetryable: true });
}

function resultOrFailure<T>(answer: Answer<T>): T {
  if (answer.refusal) throw failure(answer.refusal);
  return answer.result;
}

/** The ApplicationFailure an activity raised: wrapped in an ActivityFailure, or as it is (local activities). */
function applicationFailure(err: unknown): ApplicationFailure | undefined {
  if (err instanceof ApplicationFailure) return err;
  return err instanceof ActivityFailure && err.cause instanceof ApplicationFailure ? err.cause : undefined;
}

/** The tenant and payment-id in the workflow ID; a workflow started under another ID fails at once, rather than retrying its first task for ever. */
function paymentOf(workflowId: string): { tenant: string; paymentId: string } {
  try {
    return paymentOfWorkflowId(workflowId);
  } catch (err) {
    throw failure({ code: ErrorCode.InvalidRequest, message: (err as Error).message });
  }
}

/**
 * Whether the run takes a patch's new path. A version 2 run takes every one without asking, so
 * it writes no marker and no TemporalChangeVersion upsert; a version 1 run asks, as it always
 * did, so that its history replays.
 */
type Takes = (patch: string) => boolean;

/**
 * The window of a payment whose start named none (`temporal workflow start` with the payment
 * alone): the worker's PAYMENT_EXPIRY, as for payments the gateway starts.
 */
async function workerExpiry(takes: Takes): Promise<number> {
  return takes(WORKER_EXPIRY_PATCH) ? local.paymentExpiry() : parseExpiry(DEFAULT_EXPIRY)!;
}

/** The version a run carries; one this code does not know fails the task, to be retried by a worker of a newer release. */
function versionOf(version: unknown): number {
  if (version === undefined) return 1;
  if (version === 1 || version === PAYMENT_WORKFLOW_VERSION) return version;
  throw new Error(`payment workflow version ${JSON.stringify(version)} is not one this worker runs; deploy workers before gateways`);
}

/** The API key a message names, if it names one: the temporal CLI may send anything, or nothing. */
function keyIdOf(caller: { keyId?: unknown } | null | undefined): string | undefined {
  const keyId = caller?.keyId;
  return typeof keyId === 'string' ? keyId : undefined;
}

/** Whether a cancellation update carries the cancellation itself: the temporal CLI may send anything. */
function cancels(request: { cancels?: unknown } | null | undefined): boolean {
  return request?.cancels === true;
}

/** A refusal: the provider's answer (or a bug's), which no retry changes. */
function isRefusal(err: unknown): boolean {
  return applicationFailure(err)?.nonRetryable === true;
}

/**
 * A provider call (charge or refund). In runs of earlier releases: the local activity's call,
 * then, once its few tries have failed, the same call as a regular activity, told that earlier
 * tries may have reached the provider.
 */
async function providerCall<T>(takes: Takes, call: (activities: typeof local, afterTries: boolean) => Promise<T>): Promise<T> {
  if (takes(PROVIDER_ACTIVITIES_PATCH)) return call(providerCalls, false);
  try {
    return await call(local, false);
  } catch (err) {
    if (isRefusal(err) || !patched(DURABLE_RETRY_PATCH)) throw err;
    return call(durable, true);
  }
}

/** The event an activity's refusal feeds the state machine; the error itself when it is no answer. */
function refusalEvent(err: unknown, eventOf: (refusal: { code: unknown; message: string }) => PaymentEvent | undefined): PaymentEvent {
  const refused = applicationFailure(err);
  const event = refused && eventOf({ code: refused.type, message: refused.message });
  if (!event) throw err;
  return event;
}

export async function payment(input?: PaymentRunInput | null): Promise<PaymentView> {
  const info = workflowInfo();
  const { tenant, paymentId } = paymentOf(info.workflowId);
  // The activities and the record name the payment and its account service-wide; callers are
  // answered in the tenant's own ids. In the tenant default both are the same.
  const inService = (id: string): string => scopedId(tenant, id);
  // `temporal workflow start --input null` arrives as null, not as a missing argument.
  const { expiry, continued, version: carried, expiresAt: startExpiresAt, ...initialRequest } = input ?? {};
  const version = versionOf(carried);
  const takes: Takes = version >= 2 ? () => true : patched;
  let expiryMs = parseExpiry(expiry ?? DEFAULT_EXPIRY);
  if (expiryMs === undefined) {
    throw failure({
      code: ErrorCode.InvalidRequest,
      message: `expiry must be at least 1s, such as 90s, 15m or 1h; got ${JSON.stringify(expiry)}`,
    });
  }
  const givenWindowEnd = version >= 2 && startExpiresAt !== undefined ? Date.parse(startExpiresAt) : undefined;
  if (givenWindowEnd !== undefined && !Number.isFinite(givenWindowEnd)) {
    throw failure({ code: ErrorCode.InvalidRequest, message: `expiresAt must be an ISO time; got ${JSON.stringify(startExpiresAt)}` });
  }
  // A starter may shorten the window to when it first saw the payment-id, never lengthen it past
  // the run's start plus its expiry (a starter's clock ahead of Temporal's, or a hand-made input).
  const startedWindowEnd = givenWindowEnd === undefined ? undefined : Math.min(givenWindowEnd, info.startTime.getTime() + expiryMs);
  // The window counts from the first time the payment-id was seen, whichever run this is: by its
  // starter when it says so, else by Temporal's start of the first run.
  const windowEnd = (ms: number): string =>
    continued?.expiresAt ??
    (startedWindowEnd !== undefined ? new Date(startedWindowEnd).toISOString() : new Date(info.startTime.getTime() + ms).toISOString());
  const context: PaymentContext = { paymentId, expiresAt: windowEnd(expiryMs) };

  // Asked first, so that the marker precedes every command of a new run; a run of an earlier release never indexes.
  const indexed = takes(SEARCH_ATTRIBUTES_PATCH);

  // A run continued as new by an older release hands over a state without the fields added since: they take their defaults.
  let state: PaymentState = continued ? { ...initialState, ...continued.state } : initialState;
  const apply = (event: PaymentEvent): void => {
    state = nextState(state, event);
  };
  /** No charge or refund is in flight or asked for. */
  const idle = (): boolean => pendingWork(state) === undefined;

  setHandler(getPaymentQuery, () => snapshotOf(state, context));

  setHandler(cancelPaymentSignal, (caller) => apply({ type: 'cancel', by: keyIdOf(caller) }));

  setHandler(
    makePaymentUpdate,
    async (request, caller) => {
      const startsAttempt = state.phase === 'new' || state.phase === 'declined';
      apply({ type: 'pay', request, by: keyIdOf(caller) });
      await condition(idle);
      const result = resultOrFailure(makePaymentAnswer(state, context, request, !startsAttempt));
      // Absent when sent by the temporal CLI or by a gateway of an earlier release.
      const callerId = (caller as MakePaymentCaller | undefined)?.callerId;
      return typeof callerId === 'string' ? { ...result, callerId } : result;
    },
    {
      validator: (request: PaymentRequest, _caller: MakePaymentCaller) => {
        const refusal = makePaymentRefusal(snapshotOf(state, context), request);
        if (refusal) throw failure(refusal);
      },
    },
  );

  setHandler(
    cancellationUpdate,
    // Gateways of earlier releases send no request: `request` may be undefined.
    async (request?: CancellationRequest) => {
      if (cancels(request)) apply({ type: 'cancel', by: keyIdOf(request) });
      await condition(idle);
      return resultOrFailure(cancellationAnswer(state, context));
    },
    {
      // Refused here, a request leaves no event: one that cancels nothing once the window has ended, or one that waits for a cancellation never asked.
      validator: (request?: CancellationRequest) => {
        if (state.cancelRequested || (cancels(request) && !state.expired)) return;
        resultOrFailure(cancellationAnswer(state, context));
      },
    },
  );

  // A start that named no window takes the worker's. Asked only once every handler is set: an
  // update or query arriving meanwhile is handled, not refused for want of a handler.
  if (expiry === undefined && !continued && startedWindowEnd === undefined) {
    expiryMs = await workerExpiry(takes);
    context.expiresAt = windowEnd(expiryMs);
  }

  if (initialRequest.accountId !== undefined || initialRequest.amount !== undefined) {
    const problem = requestProblem(initialRequest);
    if (problem) throw failure({ code: ErrorCode.InvalidRequest, message: problem });
    apply({ type: 'pay', request: initialRequest as PaymentRequest });
  }

  const runCharge = async (request: PaymentRequest): Promise<void> => {
    try {
      const result = await providerCall(takes, ({ charge }, afterTries) =>
        charge({
          paymentId: inService(paymentId),
          ...request,
          accountId: inService(request.accountId),
          attempt: state.attempts,
          ...(state.chargeAskedBy !== undefined && { keyId: state.chargeAskedBy }),
          ...(afterTries && { afterTries }),
        }),
      );
      apply(
        result.refunded
          ? { type: 'alreadyRefunded', reference: result.reference }
          : { type: 'charged', reference: result.reference, fromEarlierRun: result.fromEarlierRun },
      );
    } catch (err) {
      // The workflow's clock is deterministic: replay sees the same time.
      const at = new Date().toISOString();
      apply(refusalEvent(err, (refusal) => chargeRefused(refusal, at)));
    }
  };

  const runRefund = async (): Promise<void> => {
    try {
      await providerCall(takes, ({ refund }, afterTries) =>
        refund({
          paymentId: inService(paymentId),
          reference: state.chargeReference,
          ...(state.refundAskedBy !== undefined && { keyId: state.refundAskedBy }),
          ...(afterTries && { afterTries }),
        }),
      );
      apply({ type: 'refunded' });
    } catch (err) {
      apply(refusalEvent(err, refundRefused));
    }
  };

  // Version 1 runs slept their whole window from the first task; later ones sleep to its end.
  const untilWindowEnd = continued || version >= 2;
  const expiryTimer = sleep(untilWindowEnd ? Math.max(1, Date.parse(context.expiresAt) - Date.now()) : expiryMs).then(() =>
    apply({ type: 'expire' }),
  );

  /**
   * Temporal suggests it once a run has taken most of the updates it allows (2,000) or grown
   * long: a payment retried after many declines then goes on in a new run. Only between
   * messages, so that nothing in flight is lost.
   */
  let mayContinueAsNew = true;
  const continueAsNewDue = (): boolean =>
    mayContinueAsNew && !state.expired && workflowInfo().continueAsNewSuggested && idle() && allHandlersFinished();

  /**
   * What visibility shows of the payment (search-attributes.ts): its view and tenant, set by the
   * driver loop, so that one task's several changes cost one command. Version 1 runs tell every
   * change, the first in the task that schedules the charge. From version 2 the start carries
   * the first view (the gateway sets it), and the run tells only a settled status that differs
   * from what its attributes show: PROCESSING lasts one task, and searches are by settled status.
   */
  const indexedPayment = () => {
    const { status, accountId, amount, refunded, expiresAt } = viewOf(state, context);
    return { tenant, status, accountId, amount, refunded, expiresAt };
  };
  let indexedAs: string | undefined;
  const indexing = () => JSON.stringify(indexedPayment());
  const indexStale = (): boolean => {
    if (!indexed) return false;
    if (version < 2) return indexing() !== indexedAs;
    return statusOf(state) !== 'PROCESSING' && !showsPayment(workflowInfo().typedSearchAttributes, indexedPayment());
  };
  const index = (): void => {
    upsertSearchAttributes(searchAttributesOf(indexedPayment()));
    indexedAs = indexing();
  };

  for (;;) {
    await condition(() => !idle() || state.expired || continueAsNewDue() || indexStale());
    if (indexStale()) index();
    const work = pendingWork(state);
    if (work === 'charge') await runCharge(state.request!);
    else if (work === 'refund') await runRefund();
    else if (state.expired) break;
    // Runs of earlier releases woke only for this, and went on at once even if a handler had
    // started meanwhile; a run that indexes also wakes to index, so it asks again.
    else if (!indexed || continueAsNewDue()) {
      if (takes(CONTINUE_AS_NEW_PATCH))
        await continueAsNew<typeof payment>({
          expiry,
          ...(version >= 2 && { version }),
          continued: { state, expiresAt: context.expiresAt },
        });
      mayContinueAsNew = false;
    }
  }
  await expiryTimer;
  await condition(allHandlersFinished);
  const final = viewOf(state, context);
  const record = {
    ...final,
    paymentId: inService(paymentId),
    accountId: final.accountId && inService(final.accountId),
    chargeReference: state.chargeReference ?? null,
  };
  if (version >= 2) await recordClosing(record);
  else if (patched(RECORD_OUTCOME_PATCH)) await recordOutcome(record);
  return final;
}
