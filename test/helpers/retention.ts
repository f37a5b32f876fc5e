/** Temporal's retention, stood in for: wait for a payment's run to close, then delete it as retention would. */
import { WorkflowNotFoundError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { workflowIdFor } from '../../src/domain/contract';
import { eventually } from './eventually';

/** Whether Temporal knows any run of the payment-id. */
export async function temporalKnows(env: TestWorkflowEnvironment, paymentId: string, tenant?: string): Promise<boolean> {
  try {
    await env.client.workflow.getHandle(workflowIdFor(paymentId, tenant)).describe();
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

/** Waits for the payment's run to close (its window has ended and its record is written). */
export async function closed(env: TestWorkflowEnvironment, paymentId: string, tenant?: string): Promise<void> {
  await env.client.workflow.getHandle(workflowIdFor(paymentId, tenant)).result();
}

/**
 * Deletes the payment's workflow, as the namespace's retention does; deletion is asynchronous,
 * so it polls until gone (a closed run on a server started with PROMPT_DELETION: about a second).
 */
export async function forget(env: TestWorkflowEnvironment, paymentId: string, tenant?: string): Promise<void> {
  const workflowId = workflowIdFor(paymentId, tenant);
  await env.client.workflowService.deleteWorkflowExecution({ namespace: env.namespace ?? 'default', workflowExecution: { workflowId } });
  await eventually(`${workflowId} deleted`, async () => ((await temporalKnows(env, paymentId, tenant)) ? undefined : true), {
    timeoutMs: 30_000,
  });
}
