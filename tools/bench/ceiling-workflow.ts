import { allHandlersFinished, condition, proxyActivities, setHandler } from '@temporalio/workflow';
import { type CeilingActivities, ceilingUpdate } from './ceiling';

// A regular activity with the charge's options: the ceiling is the payment's shape with nothing in it.
const { noop } = proxyActivities<CeilingActivities>({ startToCloseTimeout: '10s', heartbeatTimeout: '2s' });

/** The benchmark's ceiling: one update that runs one no-op activity and answers. */
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
