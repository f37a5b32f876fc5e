import { bundleWorkflows } from '../../src/worker';
import { keepWorkflowBundle, requireTools } from './servers';

/** Bundles the workflow code once for every test file (webpack takes seconds). */
export default async function globalSetup(): Promise<void> {
  requireTools();
  keepWorkflowBundle((await bundleWorkflows()).code);
}
