/**
 * Names for the benchmark's ceiling: the payment's path through Temporal (update-with-start,
 * one activity, answer) with no business in it, so the benchmark can say how close the
 * payment comes to what Temporal itself allows on the same machine.
 */
import { defineUpdate } from '@temporalio/workflow';

export const CEILING_WORKFLOW = 'ceiling';
export const ceilingUpdate = defineUpdate<{ ok: true }, []>('ceilingStep');

/** The bench worker's activity beside the payment's: it does nothing, so the ceiling measures Temporal alone. */
export const ceilingActivities = {
  async noop(): Promise<void> {},
};

export type CeilingActivities = typeof ceilingActivities;
