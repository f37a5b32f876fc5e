import * as fs from 'node:fs';
import * as path from 'node:path';
import { bundleWorkflows } from '../../src/worker';
import { WORKFLOW_BUNDLE_FILE, requireTools } from './servers';

/** Bundles the workflow code once for every test file (webpack takes seconds). */
export default async function globalSetup(): Promise<void> {
  requireTools();
  const { code } = await bundleWorkflows();
  fs.mkdirSync(path.dirname(WORKFLOW_BUNDLE_FILE), { recursive: true });
  fs.writeFileSync(WORKFLOW_BUNDLE_FILE, code);
}
