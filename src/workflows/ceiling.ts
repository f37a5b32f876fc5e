import { allHandlersFinished, condition, proxyLocalActivities, setHandler } from '@temporalio/workflow';
import type { PaymentActivities } from '../activities';
import { ceilingUpdate } from '../domain/ceiling';

// Local, like the payment's charge: the ceiling is the same shape with nothing in it.
const { noop } = proxyLocalActivities<PaymentActivities>({ startToCloseTimeout: '10s' });

/** The benchmark's ceiling: one update that runs one no-op local activity and answers. */
export async function ceiling(): Promise<void> {
  let answered = false;
  setHandler(ceilingUpdate, async () => {
    await noop();
    answered = true;
    return { ok: true } as const;
  });
  await condition(() => answered);
  await condition(allHandlersFinished);
}
