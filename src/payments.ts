/**
 * The caller's side of the payment workflow: makePayment, cancelPayment and getPayment as
 * one call each, with Temporal's failures turned into PaymentErrors carrying an ErrorCode.
 * The gateway and the end-to-end tests both go through here.
 */
import {
  type Client,
  WithStartWorkflowOperation,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import {
  type CancelResult,
  ErrorCode,
  PAYMENT_WORKFLOW,
  type PaymentRequest,
  type PaymentResult,
  type PaymentView,
  type PaymentWorkflowInput,
  cancelPaymentSignal,
  cancellationUpdate,
  getPaymentQuery,
  isErrorCode,
  makePaymentUpdate,
  workflowIdFor,
} from './domain/payment';
import type { Ledger } from './ledger/ledger';

export class PaymentError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'PaymentError';
  }
}

export interface PaymentsOptions {
  client: Client;
  taskQueue: string;
  expiryMs: number;
  /** The ledger, when money moves there: it remembers charges Temporal has forgotten. */
  ledger?: Ledger;
}

/**
 * Starting policy: a running workflow for the payment-id is reused (USE_EXISTING), and a
 * closed one is never followed by a second run (REJECT_DUPLICATE): after the expiry window
 * Temporal itself refuses to start the payment again.
 */
const ID_POLICIES = { workflowIdConflictPolicy: 'USE_EXISTING', workflowIdReusePolicy: 'REJECT_DUPLICATE' } as const;

export class Payments {
  constructor(private readonly options: PaymentsOptions) {}

  private get client(): Client {
    return this.options.client;
  }

  private startOptions(paymentId: string) {
    const args: [PaymentWorkflowInput] = [{ expiry: this.options.expiryMs }];
    return { workflowId: workflowIdFor(paymentId), taskQueue: this.options.taskQueue, args };
  }

  /** Charges once per payment-id; answers a duplicate with the first result, `replayed: true`. */
  makePayment(paymentId: string, request: PaymentRequest): Promise<PaymentResult> {
    return this.call(paymentId, () =>
      this.client.workflow.executeUpdateWithStart(makePaymentUpdate, {
        args: [request],
        startWorkflowOperation: new WithStartWorkflowOperation(PAYMENT_WORKFLOW, {
          ...this.startOptions(paymentId),
          ...ID_POLICIES,
        }),
      }),
    );
  }

  /** Cancels (starting the workflow if it is new) and waits for the outcome: refunded or never charged. */
  async cancelPayment(paymentId: string): Promise<CancelResult> {
    if (await this.chargedAndForgotten(paymentId)) {
      // A new run would know nothing to refund and answer "cancelled" over a charge that stands.
      throw new PaymentError(ErrorCode.PaymentExpired, `payment ${paymentId} expired long ago (Temporal no longer keeps it); its charge stands`);
    }
    return this.call(paymentId, async () => {
      const handle = await this.client.workflow.signalWithStart(PAYMENT_WORKFLOW, {
        ...this.startOptions(paymentId),
        workflowIdReusePolicy: ID_POLICIES.workflowIdReusePolicy,
        signal: cancelPaymentSignal,
        signalArgs: [],
      });
      return handle.executeUpdate(cancellationUpdate);
    });
  }

  /** Whether the ledger holds a charge of a payment-id that Temporal has forgotten (retention). */
  private async chargedAndForgotten(paymentId: string): Promise<boolean> {
    const entries = (await this.options.ledger?.entriesOf(paymentId)) ?? [];
    if (!entries.some((entry) => entry.kind === 'charge')) return false;
    try {
      await this.client.workflow.getHandle(workflowIdFor(paymentId)).describe();
      return false;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return true;
      throw err;
    }
  }

  /** The payment's state, open or closed; undefined for a payment-id Temporal does not know. */
  async getPayment(paymentId: string): Promise<PaymentView | undefined> {
    const handle = this.client.workflow.getHandle<() => Promise<PaymentView>>(workflowIdFor(paymentId));
    try {
      const { status } = await handle.describe();
      // A closed run's result is its final state, readable without a worker.
      return status.name === 'COMPLETED' ? await handle.result() : await handle.query(getPaymentQuery);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }

  /**
   * Runs a start-or-message call and turns its failure into a PaymentError where it is one.
   * "Already started" means the run is closed (expired) or, when it races another caller's
   * start of the same id, that the run now exists: then the call is simply made again.
   */
  private async call<T>(paymentId: string, attempt: () => Promise<T>): Promise<T> {
    for (let tries = 1; ; tries++) {
      try {
        return await attempt();
      } catch (err) {
        if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure && isErrorCode(err.cause.type)) {
          throw new PaymentError(err.cause.type, err.cause.message);
        }
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        const view = await this.getPayment(paymentId);
        if (view && !view.expired && tries < 3) continue;
        throw new PaymentError(
          ErrorCode.PaymentExpired,
          view ? `payment ${paymentId} expired at ${view.expiresAt}` : `payment ${paymentId} has expired`,
        );
      }
    }
  }
}
