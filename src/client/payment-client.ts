/**
 * The caller's side of the payment workflow: makePayment, cancelPayment and getPayment as
 * one call each, with Temporal's failures turned into PaymentErrors carrying an ErrorCode.
 * The gateway and the end-to-end tests both go through here.
 *
 * Each call asks the cheapest source that can answer: the closed payment's record in the
 * service's database, then the open workflow's snapshot (a query), and sends the workflow a
 * message only when it has something to do; a makePayment first tries the fresh payment-id's
 * update-with-start, which only a payment-id without a run takes (docs/answers.md). Identical
 * requests share one update ID per charge attempt (and cancels one per round), so no number of
 * duplicates reaches Temporal's limits of 10 updates in flight and 2,000 per run. A call that has not settled by the request timeout
 * answers with the payment's view instead; the payment goes on.
 */
import { status as grpcStatus } from '@grpc/grpc-js';
import { createHash, randomUUID } from 'node:crypto';
import {
  type Client,
  WithStartWorkflowOperation,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  isGrpcServiceError,
} from '@temporalio/client';
import { ApplicationFailure, type Duration, defaultPayloadConverter } from '@temporalio/common';
import type { temporal } from '@temporalio/proto';
import { type Answer, cancelAfterClose, cancelFromSnapshot, makePaymentAfterClose, makePaymentFromSnapshot } from '../domain/answers';
import {
  type CancelCaller,
  type CancelResult,
  type MakePaymentOutcome,
  PAYMENT_WORKFLOW,
  PAYMENT_WORKFLOW_VERSION,
  type PaymentRequest,
  type PaymentResult,
  type PaymentSnapshot,
  type PaymentStatus,
  type PaymentView,
  type PaymentWorkflowInput,
  cancelPaymentSignal,
  type CancellationRequest,
  cancellationUpdate,
  getPaymentQuery,
  makePaymentUpdate,
  paymentOfWorkflowId,
  requestProblem,
  workflowIdFor,
} from '../domain/contract';
import { ErrorCode, PaymentError, isDecline, isErrorCode } from '../domain/errors';
import { SEARCH_ATTRIBUTES, startSearchAttributes } from '../domain/search-attributes';
import { type Caller, NO_KEY, scopedId, unscopedId } from '../domain/tenancy';
import type { Ledger, PaymentRecord, PaymentRecords } from '../ledger/ledger';
import type { payment } from '../workflows/payment-workflow';

/** What GET /payments filters on: every field optional but the page size. */
export interface PaymentFilter {
  status?: PaymentStatus;
  accountId?: string;
  limit: number;
  /** nextCursor of the page before. */
  cursor?: string;
}

/** A value put in a visibility query: validated upstream, refused here too if it could end the string. */
function literal(value: string): string {
  if (/['"\\]/.test(value)) throw new PaymentError(ErrorCode.InvalidRequest, `${JSON.stringify(value)} cannot be searched for`);
  return `'${value}'`;
}

/** gRPC codes the server answers a page token it cannot read with (SQL visibility: Unknown). */
const UNREADABLE_TOKEN = new Set<number>([grpcStatus.UNKNOWN, grpcStatus.INVALID_ARGUMENT]);
/** Until an operator registers the attributes: no use retrying at once. */
const SEARCH_UNAVAILABLE_RETRY_SECONDS = 60;

const badCursor = () => new PaymentError(ErrorCode.InvalidRequest, 'cursor is not one a page of this search gave (with the same filters)');

/**
 * The cursor a client is handed: visibility's page token, bound to the search it continues, so
 * that a cursor used with other filters or another tenant's key is refused here, not passed on.
 */
function cursorOf(query: string, token: Uint8Array): string {
  return Buffer.from(JSON.stringify({ q: searchDigest(query), t: Buffer.from(token).toString('base64url') })).toString('base64url');
}

function tokenOf(query: string, cursor: string): Buffer {
  try {
    const { q, t } = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { q?: unknown; t?: unknown };
    if (q === searchDigest(query) && typeof t === 'string' && t.length > 0) return Buffer.from(t, 'base64url');
  } catch {
    // not one of ours
  }
  throw badCursor();
}

function searchDigest(query: string): string {
  return createHash('sha256').update(query).digest('base64url').slice(0, 16);
}

/** A payment's view as its run's search attributes show it (search-attributes.ts). */
function viewOfIndexedFields(paymentId: string, fields: Record<string, temporal.api.common.v1.IPayload>, now: number): PaymentView {
  const value = (name: string): unknown => {
    const payload = fields[name];
    return payload ? defaultPayloadConverter.fromPayload(payload) : null;
  };
  const expiresAt = new Date(value(SEARCH_ATTRIBUTES.expiresAt.name) as string).toISOString();
  return {
    paymentId,
    status: value(SEARCH_ATTRIBUTES.status.name) as PaymentStatus,
    accountId: value(SEARCH_ATTRIBUTES.accountId.name) as string | null,
    amount: value(SEARCH_ATTRIBUTES.amount.name) as number | null,
    refunded: value(SEARCH_ATTRIBUTES.refunded.name) === true,
    expiresAt,
    expired: Date.parse(expiresAt) <= now,
  };
}

/** The payment a workflow ID names, or undefined when it names none. */
function paymentOf(workflowId: string | null | undefined): { tenant: string; paymentId: string } | undefined {
  try {
    return workflowId ? paymentOfWorkflowId(workflowId) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * How long a snapshot's query may go unanswered before the run's search attributes are read: a
 * worker answers a query within milliseconds, so this is met only when no worker runs (or all
 * are stalled), and then a settled payment need not wait out REQUEST_TIMEOUT.
 */
const QUERY_PATIENCE_MS = 1000;
const WAITED = Symbol('waited');

/** The request timeout came before the payment settled: its view now; the payment goes on. */
export class PaymentInFlight extends Error {
  constructor(readonly view: PaymentView) {
    super(`payment ${view.paymentId} is still in flight; the same request later answers its outcome`);
    this.name = 'PaymentInFlight';
  }
}

export interface PaymentClientOptions {
  client: Client;
  taskQueue: string;
  expiryMs: number;
  /** How long a call waits for the payment to settle before answering with its view. */
  requestTimeoutMs: number;
  /** When aborted (the gateway's shutdown nears its bound), calls waiting for a payment stop waiting, as at the request timeout. */
  settleNow?: AbortSignal;
  /** Closed payments' final answers, which outlive Temporal's retention. */
  records: PaymentRecords;
  /** The ledger, when money moves there: it remembers charges of runs closed before records were kept. */
  ledger?: Ledger;
  /** Who the calls act for: the tenant whose payments they name (tenancy.ts), and the API key asking; no key in the tenant default when absent. */
  caller?: Caller;
}

/**
 * Starting policy: a running workflow for the payment-id is reused (USE_EXISTING), and a
 * closed one is never followed by a second run (REJECT_DUPLICATE): after the expiry window
 * Temporal itself refuses to start the payment again.
 */
const ID_POLICIES = { workflowIdConflictPolicy: 'USE_EXISTING', workflowIdReusePolicy: 'REJECT_DUPLICATE' } as const;
/**
 * A makePayment's first call: the start only where no run, open or closed, exists. A running
 * workflow that already holds the update's ID answers with that update, whatever the policy.
 */
const NEW_RUN_ONLY = { workflowIdConflictPolicy: 'FAIL', workflowIdReusePolicy: 'REJECT_DUPLICATE' } as const;

/**
 * The payment workflow's task timeout (Temporal's default is 10 s). A workflow task taken by a
 * worker that then dies is given to another worker only once this lapses, so it bounds what a
 * worker crash costs the payments in flight. A payment's task takes about 20 ms of worker CPU,
 * so 2 s leaves a wide margin on a loaded machine. Charge and refund run as regular activities,
 * which hold no task; only runs of earlier releases, whose calls ran as local activities inside
 * the task, pay for the short timeout: a task heartbeat (three events) every 1.6 s while a call
 * retries, for a few seconds before it goes on as a regular activity.
 * Not a workflow command: recorded histories replay unchanged, and a run continued as new
 * keeps its run's setting.
 */
export const PAYMENT_WORKFLOW_TASK_TIMEOUT: Duration = '2s';

/** gRPC codes of Temporal's per-workflow update limits: in flight (passing), and per run (lasting). */
const LIMIT_RETRY_AFTER_SECONDS = { [grpcStatus.RESOURCE_EXHAUSTED]: 1, [grpcStatus.FAILED_PRECONDITION]: 60 } as const;

/** The same payment request always gives the same short key; the update ID must stay well under Temporal's limits. */
function requestKey({ accountId, amount }: PaymentRequest): string {
  return createHash('sha256')
    .update(JSON.stringify([accountId, amount]))
    .digest('base64url')
    .slice(0, 22);
}

function resultOrRefusal<T>(answer: Answer<T>): T {
  if (answer.refusal) throw new PaymentError(answer.refusal.code, answer.refusal.message);
  return answer.result;
}

/** The update's outcome as the caller `callerId` is answered: another caller's identical request that ran the update makes it a replay. */
function answerFor(callerId: string, { callerId: ranFor, ...result }: MakePaymentOutcome): PaymentResult {
  return { ...result, replayed: result.replayed || (ranFor !== undefined && ranFor !== callerId) };
}

/** The public view, without what the snapshot adds for callers. */
function viewOf({ paymentId, status, accountId, amount, refunded, expiresAt, expired }: PaymentView): PaymentView {
  return { paymentId, status, accountId, amount, refunded, expiresAt, expired };
}

/** Temporal's update limits as a 429, read from the gRPC status code anywhere in the error's causes. */
function updateLimit(err: unknown): PaymentError | undefined {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    if (!isGrpcServiceError(e)) continue;
    if (e.code === grpcStatus.RESOURCE_EXHAUSTED || e.code === grpcStatus.FAILED_PRECONDITION) {
      const lasting = e.code === grpcStatus.FAILED_PRECONDITION;
      return new PaymentError(
        ErrorCode.TooManyRequests,
        lasting
          ? 'this payment has taken as many requests as Temporal allows one workflow run; retry later'
          : 'too many requests for this payment are in flight; retry shortly',
        LIMIT_RETRY_AFTER_SECONDS[e.code],
      );
    }
  }
  return undefined;
}

/** The server's refusal of an update that a worker's task completed without taking up (nothing of it is in the history). */
const UNPROCESSED_UPDATE = 'UnprocessedUpdate';
const UNPROCESSED_RESENDS = 3;

/**
 * Sends an update call again, a few times, when the server refused it as unprocessed: a worker
 * that has just restarted can complete a task without the update sent on it (when queries
 * waiting for it came first). Nothing of the refused update is recorded, so its ID is free.
 */
export async function sendUntilProcessed<T>(send: () => Promise<T>): Promise<T> {
  for (let sent = 1; ; sent++) {
    try {
      return await send();
    } catch (err) {
      const unprocessed =
        err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure && err.cause.type === UNPROCESSED_UPDATE;
      if (!unprocessed || sent >= UNPROCESSED_RESENDS) throw err;
    }
  }
}

/**
 * How long a closing gateway waits for calls abandoned at their deadline: the gateway's client
 * gives up on an unreachable Temporal within about a second (temporal.ts). A connection closed
 * before would meet a retry waiting out its backoff, which then throws outside any caller.
 */
export const ABANDONED_CALLS_PATIENCE_MS = 1000;
const ignore = (): void => undefined;

export class PaymentClient {
  /**
   * @param abandoned Calls no one waits for any more, until they settle: shared by the clients
   * that forCaller makes, whose calls go over the same connection.
   */
  constructor(
    private readonly options: PaymentClientOptions,
    private readonly abandoned = new Set<Promise<void>>(),
  ) {}

  /** Resolves once the calls abandoned at their deadline have settled, or after `patienceMs`: then the connection may close. */
  async settled(patienceMs = ABANDONED_CALLS_PATIENCE_MS): Promise<void> {
    let patience: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(this.abandoned), new Promise((resolve) => (patience = setTimeout(resolve, patienceMs)))]);
    clearTimeout(patience);
  }

  /** Keeps a call whose outcome is no longer anyone's until it settles. */
  private abandon(call: Promise<unknown>): void {
    const done: Promise<void> = call.then(ignore, ignore).finally(() => this.abandoned.delete(done));
    this.abandoned.add(done);
  }

  private get client(): Client {
    return this.options.client;
  }

  private get tenant(): string {
    return (this.options.caller ?? NO_KEY).tenant;
  }

  /** The messages' record of who asked: the key, when there is one. */
  private get askedBy(): { keyId: string } | undefined {
    const keyId = this.options.caller?.keyId;
    return keyId ? { keyId } : undefined;
  }

  /** The same calls, for another caller: its tenant's payments, asked by its key. */
  forCaller(caller: Caller): PaymentClient {
    return new PaymentClient({ ...this.options, caller }, this.abandoned);
  }

  private workflowId(paymentId: string): string {
    return workflowIdFor(paymentId, this.tenant);
  }

  /** The closed payment's record, in the tenant's own ids. */
  private async recordOf(paymentId: string): Promise<PaymentRecord | undefined> {
    const record = await this.options.records.recordOf(scopedId(this.tenant, paymentId));
    return record && { ...record, paymentId, accountId: record.accountId && unscopedId(record.accountId).id };
  }

  /**
   * A run started by this request: the current version, its window from now (when the
   * payment-id is first seen), and the search attributes of what the request makes of a new
   * payment, so that the run need not set them itself. Ignored when the run exists.
   */
  private startOptions(paymentId: string, first: { status: PaymentStatus; request?: PaymentRequest }) {
    const expiresAt = new Date(Date.now() + this.options.expiryMs).toISOString();
    const args: [PaymentWorkflowInput] = [{ version: PAYMENT_WORKFLOW_VERSION, expiry: this.options.expiryMs, expiresAt }];
    return {
      workflowId: this.workflowId(paymentId),
      taskQueue: this.options.taskQueue,
      args,
      workflowTaskTimeout: PAYMENT_WORKFLOW_TASK_TIMEOUT,
      typedSearchAttributes: startSearchAttributes({
        tenant: this.tenant,
        status: first.status,
        accountId: first.request?.accountId ?? null,
        amount: first.request?.amount ?? null,
        refunded: false,
        expiresAt,
      }),
    };
  }

  /**
   * Charges once per payment-id; answers a duplicate with the first result, `replayed: true`.
   * The first call assumes a fresh payment-id (the common case, and one Temporal call): it starts
   * the run with the first attempt's update, and only where a run exists asks its snapshot.
   */
  async makePayment(paymentId: string, request: PaymentRequest): Promise<PaymentResult> {
    const problem = requestProblem(request);
    if (problem) throw new PaymentError(ErrorCode.InvalidRequest, problem);
    const arrivedAt = Date.now();
    const record = await this.recordOf(paymentId);
    if (record) return resultOrRefusal(makePaymentAfterClose(record, request));
    return this.withinDeadline(paymentId, request, async (deadline) => {
      const callerId = randomUUID();
      const pay = (updateId: string, policies: typeof NEW_RUN_ONLY | typeof ID_POLICIES) =>
        this.client.workflow.executeUpdateWithStart(makePaymentUpdate, {
          args: [request, { callerId, ...this.askedBy }],
          updateId,
          startWorkflowOperation: new WithStartWorkflowOperation<typeof payment>(PAYMENT_WORKFLOW, {
            ...this.startOptions(paymentId, { status: 'PROCESSING', request }),
            ...policies,
          }),
        });
      let first: MakePaymentOutcome | undefined;
      try {
        first = await this.call(paymentId, () =>
          pay(this.payUpdateId(undefined, request, callerId), NEW_RUN_ONLY).catch((err: unknown) => {
            if (err instanceof WorkflowExecutionAlreadyStartedError) return undefined;
            throw err;
          }),
        );
      } catch (err) {
        if (!(err instanceof PaymentError && isDecline(err.code))) throw err;
      }
      // Only this request's own update is sure to be current. Another caller's outcome, or a
      // decline, may be an earlier one's found by its update ID (the payment since cancelled, or
      // tried again after the decline): the snapshot says. Any other refusal is final.
      if (first?.callerId === callerId) return answerFor(callerId, first);
      const snapshot = await this.snapshot(paymentId, deadline, (shown) => makePaymentFromSnapshot(shown, request) !== undefined);
      const known = snapshot && makePaymentFromSnapshot(snapshot, request, arrivedAt);
      if (known) return resultOrRefusal(known);
      return answerFor(callerId, await this.call(paymentId, () => pay(this.payUpdateId(snapshot, request, callerId), ID_POLICIES)));
    });
  }

  /**
   * One update ID per charge attempt and request: the attempt in flight, or the next one. A run
   * of an earlier release does not say which attempt it is on; then the caller's own ID.
   */
  private payUpdateId(snapshot: PaymentSnapshot | undefined, request: PaymentRequest, callerId: string): string {
    if (snapshot && snapshot.attempts === undefined) return callerId;
    const attempts = snapshot?.attempts ?? 0;
    const attempt = snapshot?.status === 'PROCESSING' ? attempts : attempts + 1;
    return `pay:${attempt}:${requestKey(request)}`;
  }

  /** Cancels (starting the workflow if it is new) and waits for the outcome: refunded or never charged. */
  async cancelPayment(paymentId: string): Promise<CancelResult> {
    const record = await this.recordOf(paymentId);
    if (record) return resultOrRefusal(cancelAfterClose(record));
    return this.withinDeadline(paymentId, undefined, async (deadline) => {
      const snapshot = await this.snapshot(paymentId, deadline, (shown) => cancelFromSnapshot(shown) !== undefined);
      if (!snapshot && (await this.chargedByForgottenRun(paymentId))) {
        // A new run would know nothing to refund and answer "cancelled" over a charge that stands.
        throw new PaymentError(
          ErrorCode.PaymentExpired,
          `payment ${paymentId} expired long ago (Temporal no longer keeps it); its charge stands`,
        );
      }
      const known = snapshot && cancelFromSnapshot(snapshot);
      if (known) return resultOrRefusal(known);
      // Concurrent cancels share one update per round; a refused refund opens the next round.
      const updateId = snapshot && snapshot.refundRefusals === undefined ? randomUUID() : `cancel:${snapshot?.refundRefusals ?? 0}`;
      const caller: [CancelCaller?] = this.askedBy ? [this.askedBy] : [];
      const request: [CancellationRequest] = [{ cancels: true, ...this.askedBy }];
      return this.call(paymentId, async () => {
        const handle = snapshot
          ? this.client.workflow.getHandle<typeof payment>(this.workflowId(paymentId))
          : await this.client.workflow.signalWithStart<typeof payment, [CancelCaller?]>(PAYMENT_WORKFLOW, {
              ...this.startOptions(paymentId, { status: 'CANCELLED' }),
              workflowIdReusePolicy: ID_POLICIES.workflowIdReusePolicy,
              signal: cancelPaymentSignal,
              signalArgs: caller,
            });
        try {
          // A run that exists is cancelled by the update alone (contract.ts, CancellationRequest).
          return await handle.executeUpdate(cancellationUpdate, { updateId, args: request });
        } catch (err) {
          if (!updateLimit(err)) throw err;
          // Temporal refused the update: the signal records the cancellation, and only the wait for its outcome is lost.
          if (snapshot) await handle.signal(cancelPaymentSignal, ...caller);
          throw new PaymentInFlight(await this.inFlightView(paymentId, undefined));
        }
      });
    });
  }

  /**
   * Whether the ledger holds a charge of a payment-id that Temporal has forgotten and that left
   * no record: a run closed before this release kept records.
   */
  private async chargedByForgottenRun(paymentId: string): Promise<boolean> {
    const entries = (await this.options.ledger?.entriesOf(scopedId(this.tenant, paymentId))) ?? [];
    return entries.some((entry) => entry.kind === 'charge');
  }

  /**
   * A page of the tenant's payments from Temporal's visibility, in its order (running ones first,
   * then by close time, newest first). Runs of releases before search attributes are not found.
   */
  async listPayments({ status, accountId, limit, cursor }: PaymentFilter): Promise<{ payments: PaymentView[]; nextCursor: string | null }> {
    const query = [
      `WorkflowType = ${literal(PAYMENT_WORKFLOW)}`,
      // A payment that continued as new is its current run; the closed ones before it are not payments of their own.
      "ExecutionStatus != 'ContinuedAsNew'",
      `${SEARCH_ATTRIBUTES.tenant.name} = ${literal(this.tenant)}`,
      ...(status ? [`${SEARCH_ATTRIBUTES.status.name} = ${literal(status)}`] : []),
      ...(accountId ? [`${SEARCH_ATTRIBUTES.accountId.name} = ${literal(accountId)}`] : []),
    ].join(' AND ');
    let page;
    try {
      page = await this.client.workflowService.listWorkflowExecutions({
        namespace: this.client.options.namespace,
        query,
        pageSize: limit,
        ...(cursor && { nextPageToken: tokenOf(query, cursor) }),
      });
    } catch (err) {
      if (isGrpcServiceError(err) && err.code === grpcStatus.INVALID_ARGUMENT && /not a valid search attribute/i.test(err.details)) {
        // The query is ours and valid; the namespace lacks what it names, which an operator must add.
        throw new PaymentError(
          ErrorCode.TemporalUnavailable,
          "payments cannot be searched: Temporal's namespace lacks the payments' search attributes (docs/search.md)",
          SEARCH_UNAVAILABLE_RETRY_SECONDS,
        );
      }
      if (cursor && isGrpcServiceError(err) && UNREADABLE_TOKEN.has(err.code)) throw badCursor();
      throw err;
    }
    const now = Date.now();
    const payments = (page.executions ?? []).flatMap((execution): PaymentView[] => {
      // A workflow of the payment type started by hand under an ID no gateway makes: not a payment to list.
      const payment = paymentOf(execution.execution?.workflowId);
      return payment ? [viewOfIndexedFields(payment.paymentId, execution.searchAttributes?.indexedFields ?? {}, now)] : [];
    });
    const token = page.nextPageToken;
    return { payments, nextCursor: token && token.length > 0 ? cursorOf(query, token) : null };
  }

  /** The payment's state: recorded, open or closed; undefined for a payment-id never seen. */
  async getPayment(paymentId: string): Promise<PaymentView | undefined> {
    const record = await this.recordOf(paymentId);
    if (record) return viewOf(record);
    const handle = this.client.workflow.getHandle<typeof payment>(this.workflowId(paymentId));
    const read = async (): Promise<PaymentView | undefined> => {
      try {
        const { status } = await handle.describe();
        // A closed run's result is its final state, readable without a worker.
        return viewOf(status.name === 'COMPLETED' ? await handle.result() : await handle.query(getPaymentQuery));
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return undefined;
        throw err;
      }
    };
    try {
      return await this.withinDeadline(paymentId, undefined, read);
    } catch (err) {
      if (!(err instanceof PaymentInFlight)) throw err;
      throw new PaymentError(ErrorCode.TemporalUnavailable, `no worker answered for payment ${paymentId} in time; retry the request`, 1);
    }
  }

  /**
   * The open or closed run's snapshot (a query), or undefined when Temporal does not know the
   * payment-id. A query needs a worker: when none has answered within QUERY_PATIENCE_MS, a settled
   * payment is answered from its run's search attributes, which describe reads without one, if
   * `answers` says the request needs nothing more from the run (no message: the update ID of one
   * depends on what only the query knows). A COMPLETED one only while nothing is pending in the run:
   * its attributes say COMPLETED until a cancel's refund lands. Anything else waits on for the query.
   */
  private async snapshot(
    paymentId: string,
    deadline: AbortSignal,
    answers: (shown: PaymentView) => boolean,
  ): Promise<PaymentSnapshot | undefined> {
    const handle = this.client.workflow.getHandle(this.workflowId(paymentId));
    // Ended when the attributes answer: a query left waiting would retry on after the request, even past the connection's close.
    const answered = new AbortController();
    const query = this.client
      .withAbortSignal(AbortSignal.any([deadline, answered.signal]), () => handle.query(getPaymentQuery))
      .catch((err: unknown) => {
        if (err instanceof WorkflowNotFoundError) return undefined;
        throw err;
      });
    let patience: NodeJS.Timeout | undefined;
    const waited = new Promise<typeof WAITED>((resolve) => (patience = setTimeout(() => resolve(WAITED), QUERY_PATIENCE_MS)));
    try {
      const first = await Promise.race([query, waited]);
      if (first !== WAITED) return first;
    } finally {
      clearTimeout(patience);
    }
    // Temporal itself may be what is slow (a service restarting): then the query is the answer to wait for.
    const described = (await handle.describe().catch(() => undefined))?.raw;
    const fields = described?.workflowExecutionInfo?.searchAttributes?.indexedFields ?? {};
    if (!described || !fields[SEARCH_ATTRIBUTES.status.name]) return query;
    const shown = viewOfIndexedFields(paymentId, fields, Date.now());
    const quiet = !described.pendingWorkflowTask && (described.pendingActivities ?? []).length === 0;
    const settled = shown.status === 'CANCELLED' || (shown.status === 'COMPLETED' && quiet);
    if (!settled || !answers(shown)) return query;
    answered.abort();
    this.abandon(query);
    return shown;
  }

  /**
   * Runs `work` for at most the request timeout. Past it, the Temporal calls are abandoned
   * (what they asked for goes on in the workflow) and PaymentInFlight carries a view built
   * without a worker, since a query needs one. Abandoned, not only aborted: the client's own
   * retries of a refused call wait out their backoff before they see the abort.
   */
  private async withinDeadline<T>(
    paymentId: string,
    request: PaymentRequest | undefined,
    work: (deadline: AbortSignal) => Promise<T>,
  ): Promise<T> {
    const deadline = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const { settleNow } = this.options;
    const settled = new AbortController();
    const timedOut = new Promise<void>((resolve) => {
      const end = () => {
        deadline.abort();
        resolve();
      };
      timer = setTimeout(end, settleNow?.aborted ? 0 : this.options.requestTimeoutMs);
      settleNow?.addEventListener('abort', end, { once: true, signal: settled.signal });
    });
    const working = this.client.withAbortSignal(deadline.signal, () => work(deadline.signal));
    try {
      const first = await Promise.race([working.then((result) => ({ result })), timedOut]);
      if (first) return first.result;
    } catch (err) {
      if (!deadline.signal.aborted) throw err;
    } finally {
      clearTimeout(timer);
      settled.abort();
    }
    this.abandon(working);
    throw new PaymentInFlight(await this.inFlightView(paymentId, request));
  }

  /** PROCESSING, with what Temporal says without a worker: when the run started (for its window). */
  private async inFlightView(paymentId: string, request: PaymentRequest | undefined): Promise<PaymentView> {
    let started = new Date();
    try {
      started = (await this.client.workflow.getHandle(this.workflowId(paymentId)).describe()).startTime;
    } catch {
      // Not started, or Temporal is slow too: the window counts from now at the earliest.
    }
    return {
      paymentId,
      status: 'PROCESSING',
      accountId: request?.accountId ?? null,
      amount: request?.amount ?? null,
      refunded: false,
      expiresAt: new Date(started.getTime() + this.options.expiryMs).toISOString(),
      expired: false,
    };
  }

  /**
   * Runs a start-or-message call and turns its failure into a PaymentError where it is one.
   * "Already started" means the run is closed or, when it races another caller's start of the
   * same id, that the run now exists: then the call is simply made again.
   */
  private async call<T>(paymentId: string, attempt: () => Promise<T>): Promise<T> {
    for (let tries = 1; ; tries++) {
      try {
        return await sendUntilProcessed(attempt);
      } catch (err) {
        if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure && isErrorCode(err.cause.type)) {
          throw new PaymentError(err.cause.type, err.cause.message);
        }
        const limit = updateLimit(err);
        if (limit) throw limit;
        // An update sent to a run that has closed since this request read it.
        if (err instanceof WorkflowNotFoundError) throw (await this.closedRefusal(paymentId)) ?? err;
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        const closed = await this.closedRefusal(paymentId);
        if (!closed && tries < 3) continue;
        throw closed ?? new PaymentError(ErrorCode.PaymentExpired, `payment ${paymentId} has expired`);
      }
    }
  }

  /** Why a payment whose run has closed takes no more requests; undefined while it runs. */
  private async closedRefusal(paymentId: string): Promise<PaymentError | undefined> {
    const record = await this.recordOf(paymentId);
    if (record) return new PaymentError(ErrorCode.PaymentExpired, `payment ${paymentId} expired at ${record.expiresAt}`);
    const { status } = await this.client.workflow.getHandle(this.workflowId(paymentId)).describe();
    if (status.name === 'RUNNING') return undefined;
    if (status.name === 'COMPLETED') return new PaymentError(ErrorCode.PaymentExpired, `payment ${paymentId} has expired`);
    return new PaymentError(
      ErrorCode.PaymentAborted,
      `payment ${paymentId}'s workflow ended ${status.name} (by an operator or a bug) without an outcome; see its history in Temporal`,
    );
  }
}
