/**
 * Test environments on the real Temporal servers installed by `npm install`: the Java
 * time-skipping test server and the `temporal` CLI dev server. Nothing here downloads.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { decodeOptionalFailureToOptionalError, loadDataConverter } from '@temporalio/common/lib/internal-non-workflow';
import type { temporal } from '@temporalio/proto';
import { TEMPORAL_CLI, TEST_SERVER_LAUNCHER, TEST_SERVER_LIB } from '../../tools/paths';
import { PAYMENT_SEARCH_ATTRIBUTES } from '../../src/domain/search-attributes';
import { indexedTypes } from '../../src/search-attributes';
import { freePort } from '../../src/net';
import { type PayloadKeys, parsePayloadKeys } from '../../src/codec/payload-keys';
import { paymentDataConverter } from '../../src/codec/data-converter';
import { EncryptionCodec } from '../../src/codec/encryption-codec';

/**
 * Names the workflow bundle of this test run, for every test file: set by the global setup,
 * which writes the bundle into a folder of its own, so a test run of another checkout sharing
 * .tools/ never swaps workflow code under this one.
 */
const BUNDLE_VARIABLE = 'PAYMENTS_TEST_WORKFLOW_BUNDLE';

export function requireTools(): void {
  for (const [what, file] of [
    ['temporal CLI', TEMPORAL_CLI],
    ['time-skipping test server', TEST_SERVER_LIB],
  ]) {
    if (!fs.existsSync(file!)) throw new Error(`${what} missing at ${file}: run npm install`);
  }
}

/** Writes the bundled workflow code where this process and its children find it. */
export function keepWorkflowBundle(code: string): void {
  const file = path.join(tempDir('bundle'), 'workflow-bundle.js');
  fs.writeFileSync(file, code);
  process.env[BUNDLE_VARIABLE] = file;
}

/** The workflow bundle made once by the global setup. */
export function workflowBundle(): { codePath: string } {
  const codePath = process.env[BUNDLE_VARIABLE];
  if (!codePath) throw new Error(`${BUNDLE_VARIABLE} is not set: the workflow bundle is made by jest's global setup`);
  return { codePath };
}

/**
 * The run's payload keys, made by the global setup into PAYLOAD_KEYS, so that the processes the
 * tests start (which inherit it) and the tests' own clients and workers read each other's payloads.
 */
export function testPayloadKeys(): PayloadKeys {
  const keys = process.env.PAYLOAD_KEYS;
  if (!keys) throw new Error("PAYLOAD_KEYS is not set: the run's payload key is made by jest's global setup");
  return parsePayloadKeys(keys);
}

export function testCodec(): EncryptionCodec {
  return new EncryptionCodec(testPayloadKeys());
}

export function testDataConverter() {
  return paymentDataConverter(testCodec());
}

/** A failure of a raw history as its reader with the run's keys sees it: its message is encrypted there. */
export async function failureMessage(failure: temporal.api.failure.v1.IFailure | null | undefined): Promise<string | undefined> {
  return (await decodeOptionalFailureToOptionalError(loadDataConverter(testDataConverter()), failure))?.message;
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
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: TEST_SERVER_LAUNCHER } },
    client: { dataConverter: testDataConverter() },
  });
  // The test server cannot list search attributes, only add them.
  await env.connection.operatorService.addSearchAttributes({ namespace: env.namespace ?? 'default', searchAttributes: indexedTypes() });
  return env;
}

export interface DevServerOptions {
  dbFilename?: string;
  /** The payments' search attributes registered, as `npm run temporal` does (default); false: a namespace without them. */
  searchAttributes?: boolean;
  /** Dynamic config values, as JSON: `{ 'history.maxTotalUpdates': '5' }`. */
  dynamicConfig?: Record<string, string>;
  /** The port of the server's Prometheus metrics (default: one of the CLI's choosing, unknown to the test). */
  metricsPort?: number;
}

export async function devServerEnv({
  dynamicConfig = {},
  searchAttributes = true,
  metricsPort,
  ...options
}: DevServerOptions = {}): Promise<TestWorkflowEnvironment> {
  quietRuntime();
  return TestWorkflowEnvironment.createLocal({
    client: { dataConverter: testDataConverter() },
    server: {
      executable: { type: 'existing-path', path: TEMPORAL_CLI },
      ip: '127.0.0.1',
      log: { format: 'pretty', level: 'error' },
      extraArgs: [
        ...Object.entries(dynamicConfig).flatMap(([key, value]) => ['--dynamic-config-value', `${key}=${value}`]),
        ...(metricsPort === undefined ? [] : ['--metrics-port', String(metricsPort)]),
      ],
      ...(searchAttributes && { searchAttributes: [...PAYMENT_SEARCH_ATTRIBUTES] }),
      ...options,
    },
  });
}

/** The dev server of the test file that calls this: started before its first test, torn down after its last. */
export function devServerPerFile({ metrics = false, ...options }: Omit<DevServerOptions, 'metricsPort'> & { metrics?: boolean } = {}): {
  readonly env: TestWorkflowEnvironment;
  /** With `metrics`: where the server serves its Prometheus metrics. */
  readonly metricsUrl: string;
} {
  let env: TestWorkflowEnvironment | undefined;
  let metricsPort: number | undefined;
  beforeAll(async () => {
    if (metrics) metricsPort = await freePort();
    env = await devServerEnv({ ...options, metricsPort });
  });
  afterAll(async () => {
    await env?.teardown();
  });
  return {
    get env() {
      if (!env) throw new Error('the dev server starts in beforeAll: ask for it inside a test');
      return env;
    },
    get metricsUrl() {
      if (metricsPort === undefined) throw new Error('ask devServerPerFile for metrics, inside a test');
      return `http://127.0.0.1:${metricsPort}/metrics`;
    },
  };
}

/** How many requests of one operation a dev server's frontend has taken so far, read from its metrics. */
export async function frontendRequests(metricsUrl: string, operation: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith('service_requests{') && line.includes(`operation="${operation}"`))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

/**
 * A closed run is deleted only once its close has been acknowledged by the history queues,
 * which the server records every 30 s by default: retention tests would wait that long.
 */
export const PROMPT_DELETION = {
  'history.transferProcessorUpdateAckInterval': '"500ms"',
  'history.visibilityProcessorUpdateAckInterval': '"500ms"',
};

/** Where a test run keeps its files: made by jest's global setup, deleted by its teardown. */
export const RUN_DIR_VARIABLE = 'PAYMENTS_TEST_RUN_DIR';

/** A fresh directory for one test's files (ledger, dev server database), inside the run's directory when there is one. */
export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(process.env[RUN_DIR_VARIABLE] ?? os.tmpdir(), `payments-${prefix}-`));
}
