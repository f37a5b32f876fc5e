/**
 * Test environments on the real Temporal servers installed by `npm install`: the Java
 * time-skipping test server and the `temporal` CLI dev server. Nothing here downloads.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { TEMPORAL_CLI, TEST_SERVER_LAUNCHER, TEST_SERVER_LIB, TOOLS_DIR } from '../../tools/paths';

export const WORKFLOW_BUNDLE_FILE = path.join(TOOLS_DIR, 'test-cache', 'workflow-bundle.js');

export function requireTools(): void {
  for (const [what, file] of [
    ['temporal CLI', TEMPORAL_CLI],
    ['time-skipping test server', TEST_SERVER_LIB],
  ]) {
    if (!fs.existsSync(file!)) throw new Error(`${what} missing at ${file}: run npm install`);
  }
}

/** The workflow bundle made once by the global setup. */
export function workflowBundle(): { codePath: string } {
  return { codePath: WORKFLOW_BUNDLE_FILE };
}

let runtimeInstalled = false;
export function quietRuntime(): void {
  if (runtimeInstalled) return;
  Runtime.install({
    logger: new DefaultLogger('ERROR'),
    telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' } } },
  });
  runtimeInstalled = true;
}

export async function timeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  return TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: TEST_SERVER_LAUNCHER } },
  });
}

export async function devServerEnv(options: { dbFilename?: string } = {}): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: TEMPORAL_CLI },
      ip: '127.0.0.1',
      log: { format: 'pretty', level: 'error' },
      ...options,
    },
  });
}

/** A fresh directory for one test's files (ledger, dev server database). */
export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `payments-${prefix}-`));
}
