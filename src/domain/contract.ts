/**
 * The payment's shared vocabulary: names of the workflow and its messages, payload types,
 * error codes and the payment-id -> workflow-id rule. Deterministic and free of I/O, so
 * the workflow, the worker, the gateway, the tests and the CLI docs all import it.
 */
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import ms from 'ms';
import type { ErrorCode } from './errors';
import { DEFAULT_TENANT, isTenant, scopedId, unscopedId } from './tenancy';

export const PAYMENT_WORKFLOW = 'payment';

/** Payment-ids and account-ids: 1-200 of A-Z a-z 0-9 . _ : - (the SPEC's rule). */
export const ID_PATTERN = '^[A-Za-z0-9._:-]{1,200}$';
export const ID_REGEX = new RegExp(ID_PATTERN);
export const MIN_AMOUNT = 1;
export const MAX_AMOUNT = 1_000_000_000_000;

/**
 * Workflow ID rule: `payment:` + the payment-id's service-wide name (tenancy.ts): `payment:order-1`
 * in the tenant default, `payment:acme/order-1` in the tenant acme. Neither alphabet needs escaping.
 */
const WORKFLOW_ID_PREFIX = 'payment:';

export function workflowIdFor(paymentId: string, tenant = DEFAULT_TENANT): string {
  return WORKFLOW_ID_PREFIX + scopedId(tenant, paymentId);
}

/** The tenant and payment-id a workflow ID names; an error says why an ID names none. */
export function paymentOfWorkflowId(workflowId: string): { tenant: string; paymentId: string } {
  const problem = (why: string) => new Error(`workflow id ${JSON.stringify(workflowId)} ${why}`);
  if (!workflowId.startsWith(WORKFLOW_ID_PREFIX)) throw problem(`does not start with ${JSON.stringify(WORKFLOW_ID_PREFIX)}`);
  const { tenant, id } = unscopedId(workflowId.slice(WORKFLOW_ID_PREFIX.length));
  if (!isTenant(tenant)) throw problem(`names no tenant: ${JSON.stringify(tenant)} is not 1-64 of A-Z a-z 0-9 . _ -`);
  if (id === '') throw problem('names no payment-id');
  // One ID per payment: `payment:default/x` would be a second workflow for the ledger's `x`.
  if (workflowIdFor(id, tenant) !== workflowId) throw problem(`is not how the payment is named: ${workflowIdFor(id, tenant)}`);
  return { tenant, paymentId: id };
}

export interface PaymentRequest {
  accountId: string;
  /** Minor units (cents). */
  amount: number;
}

/**
 * Workflow input. With accountId and amount the workflow pays at start, as if makePayment
 * had arrived (what `temporal workflow start --input` does); without them it waits for
 * makePayment or cancelPayment. `expiry` is the window, in ms or an ms-style string.
 */
export interface PaymentWorkflowInput extends Partial<PaymentRequest> {
  expiry?: number | string;
  /**
   * The workflow code path the run takes (docs/versions.md). Absent: version 1, the path of the
   * releases before versions, whose `patched()` markers every such run keeps.
   */
  version?: number;
  /** When the window ends (ISO time), set by the starter from when it first saw the payment-id; else the run's start plus `expiry`. Version 2 on. */
  expiresAt?: string;
}

/** The version the gateway starts runs with; the workflow code keeps every version a run in flight may carry. */
export const PAYMENT_WORKFLOW_VERSION = 2;

export const DEFAULT_EXPIRY = '1h';

/** One try of a charge or refund at the provider: its activity's start-to-close timeout, and what a worker's shutdown waits for. */
export const PROVIDER_CALL_TIMEOUT = '10s';
/** Shorter windows are typos (a bare `60` is 60 ms, not a minute). */
const MIN_EXPIRY_MS = 1000;

/** An expiry window in ms, from ms or an ms-style string (90s, 15m, 1h); undefined if unusable. */
export function parseExpiry(value: number | string): number | undefined {
  const parsed = typeof value === 'number' ? value : /^\d+$/.test(value) ? Number(value) : ms(value as ms.StringValue);
  return typeof parsed === 'number' && Number.isFinite(parsed) && parsed >= MIN_EXPIRY_MS ? parsed : undefined;
}

export const PAYMENT_STATUSES = ['NEW', 'PROCESSING', 'COMPLETED', 'DECLINED', 'CANCELLED'] as const;
export type PaymentStatus = (typeof PAYMENT_STATUSES)[number];

/** What GET /payments/:id, the getPayment query and the workflow's result show. */
export interface PaymentView {
  paymentId: string;
  status: PaymentStatus;
  accountId: string | null;
  amount: number | null;
  refunded: boolean;
  expiresAt: string;
  expired: boolean;
}

/**
 * What the getPayment query answers: the view, and what a caller needs to answer a request
 * without sending the workflow a message (so duplicates spend none of Temporal's per-workflow
 * update budget). Runs of an older release answer the view alone.
 */
export interface PaymentSnapshot extends PaymentView {
  /** Charge attempts started: 1 for the first, one more after each decline. */
  attempts?: number;
  /** A cancellation is in effect (or waits for the charge in flight). */
  cancelRequested?: boolean;
  /** Refunds the provider refused: each one opens a new round of cancellation. */
  refundRefusals?: number;
  /** The charge the provider holds came from a run Temporal has forgotten. */
  chargedByEarlierRun?: boolean;
  /** DECLINED: the last attempt's refusal, and when it came (the workflow's clock, ISO). Runs before this field omit it. */
  decline?: { code: ErrorCode; message: string; at: string };
}

/** makePayment's answer. */
export interface PaymentResult {
  paymentId: string;
  status: 'COMPLETED';
  accountId: string;
  amount: number;
  replayed: boolean;
}

/**
 * Who sent a makePayment update. Identical requests share one update ID, and the server
 * answers all of them with the first one's result: the caller id tells the first from the
 * repeats, which are replays.
 */
export interface MakePaymentCaller {
  callerId: string;
  /** The API key of the request, when it carried one: the charge's ledger entry keeps it (the audit trail). */
  keyId?: string;
}

/** Who sent a cancelPayment signal: the API key of the request, when it carried one (the refund's entry keeps it). */
export interface CancelCaller {
  keyId?: string;
}

/** The makePayment update's result: the answer, and the caller whose update ran. */
export interface MakePaymentOutcome extends PaymentResult {
  callerId?: string;
}

/** cancelPayment's answer. */
export interface CancelResult {
  paymentId: string;
  status: 'CANCELLED';
  refunded: boolean;
}

/** Charges once, or answers the first result as a replay. Update: the caller waits for the outcome. */
export const makePaymentUpdate = defineUpdate<MakePaymentOutcome, [PaymentRequest, MakePaymentCaller]>('makePayment');
/** Cancels: prevents the charge, or refunds it once. A signal, so `temporal workflow signal` can send it. */
export const cancelPaymentSignal = defineSignal<[CancelCaller?]>('cancelPayment');
/**
 * A cancellation sent as the update itself, so that no signal shares the update's workflow task:
 * the SDK's core can split a signal and an update of one task into two activations (when a query
 * waiting for a worker saw the signal first), and then writes, or replays, them out of order.
 */
export interface CancellationRequest extends CancelCaller {
  cancels: true;
}

/**
 * Waits until a cancellation has taken effect (no charge or refund in flight) and answers its
 * outcome. Given a CancellationRequest it cancels first; without one (gateways of earlier
 * releases, after their signal) it only waits.
 */
export const cancellationUpdate = defineUpdate<CancelResult, [CancellationRequest]>('cancellation');
export const getPaymentQuery = defineQuery<PaymentSnapshot>('getPayment');

/** A request error that names the field, for input the workflow receives from outside the gateway. */
export function requestProblem(request: unknown): string | undefined {
  if (typeof request !== 'object' || request === null || Array.isArray(request)) return 'the payment must be an object';
  const { accountId, amount, ...rest } = request as Record<string, unknown>;
  const extra = Object.keys(rest);
  if (extra.length > 0) return `unexpected field ${extra[0]}`;
  if (typeof accountId !== 'string' || !ID_REGEX.test(accountId)) {
    return 'accountId must be 1-200 characters of A-Z a-z 0-9 . _ : -';
  }
  if (typeof amount !== 'number' || !Number.isInteger(amount) || amount < MIN_AMOUNT || amount > MAX_AMOUNT) {
    return `amount must be an integer from ${MIN_AMOUNT} to ${MAX_AMOUNT} (minor units)`;
  }
  return undefined;
}

export function sameRequest(a: PaymentRequest, b: PaymentRequest): boolean {
  return a.accountId === b.accountId && a.amount === b.amount;
}
