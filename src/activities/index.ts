/**
 * Charge and refund: the only places money moves. Built by a factory over a ledger so
 * that tests and the worker wire them alike. A business outcome the workflow must act on
 * is a non-retryable ApplicationFailure whose type is an ErrorCode; anything else is
 * thrown as it is and retried by Temporal.
 */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { ErrorCode, sameRequest, type PaymentRequest } from '../domain/payment';
import { InsufficientFundsError, type Ledger, NoChargeError } from '../ledger/ledger';

export interface ChargeInput extends PaymentRequest {
  paymentId: string;
}

export interface ChargeResult {
  /** The ledger held this charge from an earlier workflow run, one Temporal no longer knows. */
  fromEarlierRun: boolean;
  /** That earlier run also refunded it. */
  refunded: boolean;
  at: string;
}

/** The workflow run the activity works for; ledger entries record it. */
function currentRunId(): string {
  const execution = Context.current().info.workflowExecution;
  if (!execution) throw ApplicationFailure.nonRetryable('charge and refund run only for a payment workflow', 'NoWorkflow');
  return execution.runId;
}

export function createActivities(ledger: Ledger) {
  return {
    async charge({ paymentId, accountId, amount }: ChargeInput): Promise<ChargeResult> {
      const runId = currentRunId();
      let outcome;
      try {
        outcome = await ledger.charge(paymentId, accountId, amount, runId);
      } catch (err) {
        if (err instanceof InsufficientFundsError) {
          throw ApplicationFailure.nonRetryable(err.message, ErrorCode.InsufficientFunds);
        }
        throw err;
      }
      const { charge, existing, refunded } = outcome;
      if (existing && !sameRequest(charge, { accountId, amount })) {
        throw ApplicationFailure.nonRetryable(
          `payment ${paymentId} was charged ${charge.amount} to account ${charge.accountId} before`,
          ErrorCode.IdempotencyMismatch,
        );
      }
      return { fromEarlierRun: existing && charge.runId !== runId, refunded, at: charge.at };
    },

    async refund({ paymentId }: { paymentId: string }): Promise<{ at: string }> {
      const runId = currentRunId();
      try {
        return { at: (await ledger.refund(paymentId, runId)).refund.at };
      } catch (err) {
        if (err instanceof NoChargeError) {
          // The workflow refunds only after a charge it saw succeed: a missing charge is a bug, not a blip.
          throw ApplicationFailure.nonRetryable(err.message, 'NoCharge');
        }
        throw err;
      }
    },

    /** The benchmark's ceiling workflow: an activity that does nothing, to measure Temporal alone. */
    async noop(): Promise<void> {},
  };
}

export type PaymentActivities = ReturnType<typeof createActivities>;
