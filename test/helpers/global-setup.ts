import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { bundleWorkflows } from '../../src/worker';
import { newPayloadKey } from '../../src/codec/payload-keys';
import { RUN_DIR_VARIABLE, keepWorkflowBundle, requireTools } from './servers';

/**
 * One directory for every file the run writes (global-teardown.ts deletes it), and the workflow
 * code bundled once for every test file (webpack takes seconds).
 */
export default async function globalSetup(): Promise<void> {
  requireTools();
  process.env[RUN_DIR_VARIABLE] = fs.mkdtempSync(path.join(os.tmpdir(), 'payments-test-run-'));
  keepWorkflowBundle((await bundleWorkflows()).code);
  process.env.PAYLOAD_KEYS = newPayloadKey('test-run');
}
