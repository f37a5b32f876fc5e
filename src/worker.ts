/**
 * `npm run worker`: runs the payment workflow and its activities on TASK_QUEUE, with the
 * ledger at LEDGER_URL or under DATA_DIR. createPaymentWorker is what the tests use too.
 */
import { bundleWorkflowCode, DefaultLogger, type LogLevel as TemporalLogLevel, NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from './activities';
import { type LogLevel, loadConfigOrExit } from './config';
import type { Ledger } from './ledger/ledger';
import { describeLedger, openLedger } from './ledger/open';
import { connectWorker } from './temporal';

const WORKFLOWS_PATH = require.resolve('./workflows');

export interface PaymentWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  ledger: Ledger;
  /** From bundleWorkflows(): made once, and shared by every worker of a process or test run. */
  workflowBundle: WorkerOptions['workflowBundle'];
}

/** Bundles the workflow code, saying only what goes wrong (webpack's statistics help nobody here). */
export async function bundleWorkflows(): Promise<{ code: string }> {
  const quiet = () => undefined;
  const loud = (message: string) => process.stderr.write(`${message}\n`);
  return bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    logger: { log: quiet, trace: quiet, debug: quiet, info: quiet, warn: loud, error: loud },
  });
}

export function createPaymentWorker({ connection, namespace, taskQueue, ledger, workflowBundle }: PaymentWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection,
    namespace,
    taskQueue,
    activities: createActivities(ledger),
    workflowBundle,
  });
}

const TEMPORAL_LOG_LEVEL: Record<LogLevel, TemporalLogLevel> = {
  fatal: 'ERROR',
  error: 'ERROR',
  warn: 'WARN',
  info: 'INFO',
  debug: 'DEBUG',
  trace: 'TRACE',
  silent: 'ERROR',
};

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  Runtime.install({ logger: new DefaultLogger(TEMPORAL_LOG_LEVEL[config.logLevel]) });
  const log = (line: string) => Runtime.instance().logger.info(line);
  const ledger = await openLedger(config);
  const connection = await connectWorker(config, log);
  const worker = await createPaymentWorker({
    connection,
    namespace: config.temporalNamespace,
    taskQueue: config.taskQueue,
    ledger,
    workflowBundle: await bundleWorkflows(),
  });
  log(`worker polling ${config.taskQueue} on ${config.temporalAddress} (namespace ${config.temporalNamespace}), ${describeLedger(config)}`);
  try {
    // Runtime shuts the worker down on SIGINT/SIGTERM, letting running tasks finish.
    await worker.run();
  } finally {
    await connection.close();
    await ledger.close();
  }
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`worker failed: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  });
}
