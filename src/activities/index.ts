/**
 * Charge and refund: the only places money moves. Built by a factory over a payment
 * provider (the ledger or Stripe) so that tests and the worker wire them alike. A
 * provider's refusal is a non-retryable ApplicationFailure whose type is an ErrorCode;
 * anything else is thrown as it is and retried by Temporal.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { PaymentRequest } from '../domain/payment';
import { type Charged, type PaymentProvider, ProviderRefusal } from '../providers/provider';

export interface ChargeInput extends PaymentRequest {
  paymentId: string;
  /** The payment's charge attempt: 1, then one more after each decline. */
  attempt: number;
}

export type ChargeResult = Charged;

export interface RefundInput {
  paymentId: string;
  /** ChargeResult.reference of the charge being refunded. */
  reference?: string;
}

/** The workflow run the activity works for (the ledger records it, Stripe sees it in metadata), and whether this is a retry. */
function currentCall(): { runId: string; retry: boolean } {
  const { workflowExecution, attempt } = Context.current().info;
  if (!workflowExecution) throw ApplicationFailure.nonRetryable('charge and refund run only for a payment workflow', 'NoWorkflow');
  return { runId: workflowExecution.runId, retry: attempt > 1 };
}

async function refusalsFinal<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    if (err instanceof ProviderRefusal) throw ApplicationFailure.nonRetryable(err.message, err.type);
    throw err;
  }
}

export function createActivities(provider: PaymentProvider) {
  return {
    charge(request: ChargeInput): Promise<ChargeResult> {
      return refusalsFinal(provider.charge({ ...request, ...currentCall() }));
    },

    refund(request: RefundInput): Promise<{ at: string }> {
      return refusalsFinal(provider.refund({ ...request, ...currentCall() }));
    },

    /** The benchmark's ceiling workflow: an activity that does nothing, to measure Temporal alone. */
    async noop(): Promise<void> {},
  };
}

export type PaymentActivities = ReturnType<typeof createActivities>;
