/**
 * `npm run worker`: runs the payment workflow and its activities on TASK_QUEUE, moving
 * money with the PAYMENT_PROVIDER (the ledger at LEDGER_URL or under DATA_DIR, or Stripe).
 * createPaymentWorker is what the tests use too; runWorker what the tools' workers (the
 * benchmark's, the fault-injecting one) wrap.
 */
import {
  DefaultLogger,
  type LogLevel as TemporalLogLevel,
  NativeConnection,
  Runtime,
  Worker,
  type WorkerOptions,
} from '@temporalio/worker';
import type { DataConverter } from '@temporalio/common';
import { createActivities } from './activities';
import { paymentCodec, paymentDataConverter } from './codec/data-converter';
import { PROVIDER_CALL_TIMEOUT } from './domain/contract';
import { type Config, type LogLevel, loadConfigOrExit } from './config';
import { openProvider } from './providers';
import type { Ledger, PaymentRecords } from './ledger/ledger';
import type { PaymentProvider } from './providers/provider';
import { waitForSearchAttributes } from './search-attributes';
import { connectionOptions, describeTemporal } from './temporal';
import { loadWorkflowBundle, prebuiltBundle } from './workflow-bundle';
import { failureText } from './start-failure';

export { bundleWorkflows } from './workflow-bundle';

export interface PaymentWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  provider: PaymentProvider;
  /** Where each payment records its final answer as its workflow closes. */
  records: PaymentRecords;
  /** PAYMENT_EXPIRY: the window of a payment whose start named none. */
  expiryMs: number;
  /** From bundleWorkflows() or loadWorkflowBundle(): made once, and shared by every worker of a process or test run. */
  workflowBundle: WorkerOptions['workflowBundle'];
  /** Activities beside the payment's, for workflows a tool adds to the bundle. */
  moreActivities?: WorkerOptions['activities'];
  /** paymentDataConverter() over the process's payload keys: the bundle was made with its failure converter. */
  dataConverter: DataConverter;
}

/**
 * How long a workflow task waits on this worker's sticky queue before Temporal gives it to any
 * worker (the SDK's default is 10 s). A worker that was SIGKILLed polls its sticky queue no more,
 * and for about 10 s after its last poll the server still sends the queue a payment's next task
 * (a cancel, a duplicate's update, the expiry); that task waits this long, then goes to the shared
 * queue. A worker that is alive takes a sticky task within milliseconds, so two seconds only cost
 * a replay (a payment's history is short) when a worker is stalled for that long.
 */
export const STICKY_SCHEDULE_TO_START = '2s';

/**
 * After SIGTERM the worker stops polling at once and gives its sticky queue back (the SDK tells
 * the server, so a payment's next task goes to another worker rather than waiting out
 * STICKY_SCHEDULE_TO_START), then lets the charges and refunds it runs finish for as long as one
 * provider call may take; one still running then is cancelled, and retried by another worker.
 * The process exits by SHUTDOWN_FORCE at the latest.
 */
export const SHUTDOWN_GRACE = PROVIDER_CALL_TIMEOUT;
export const SHUTDOWN_FORCE = '15s';

export function createPaymentWorker({
  connection,
  namespace,
  taskQueue,
  provider,
  records,
  expiryMs,
  workflowBundle,
  moreActivities,
  dataConverter,
}: PaymentWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection,
    namespace,
    taskQueue,
    activities: { ...moreActivities, ...createActivities({ provider, records, expiryMs }) },
    workflowBundle,
    dataConverter,
    // A payment's first workflow task, usually its only one, comes from the shared queue; the
    // sticky queue serves only a later cancel or the expiry. So all of the worker's workflow
    // task pollers may wait on the shared queue, instead of two in ten (the default, 0.2).
    nonStickyToStickyPollRatio: 1,
    stickyQueueScheduleToStartTimeout: STICKY_SCHEDULE_TO_START,
    shutdownGraceTime: SHUTDOWN_GRACE,
    shutdownForceTime: SHUTDOWN_FORCE,
  });
}

/** The worker's connection, retried every second until Temporal answers, so a worker may start first. */
export async function connectWorker(config: Config, log: (line: string) => void): Promise<NativeConnection> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await NativeConnection.connect(connectionOptions(config));
    } catch (err) {
      if (attempt === 1 || attempt % 30 === 0)
        log(`cannot reach Temporal at ${describeTemporal(config)} yet (${(err as Error).message}); retrying`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
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

/** What a tool's worker changes in a worker process; `npm run worker` changes nothing. */
export interface WorkerProcessOptions {
  /** Wraps the ledger the process opens (the fault-injecting worker's faults). */
  wrapLedger?: (ledger: Ledger) => Ledger;
  /** Another workflows module, with its own bundle cache (the benchmark's, which adds its ceiling workflow). */
  workflows?: { path: string; cacheDir: string };
  moreActivities?: PaymentWorkerOptions['moreActivities'];
}

/** A worker process: runs until SIGINT or SIGTERM. */
export async function runWorker(config: Config, { wrapLedger, workflows, moreActivities }: WorkerProcessOptions = {}): Promise<void> {
  Runtime.install({
    logger: new DefaultLogger(TEMPORAL_LOG_LEVEL[config.logLevel]),
    ...(config.workerMetricsAddress
      ? { telemetryOptions: { metrics: { prometheus: { bindAddress: config.workerMetricsAddress, useSecondsForDurations: true } } } }
      : {}),
  });
  const log = (line: string) => Runtime.instance().logger.info(line);
  if (config.workerMetricsAddress) log(`worker metrics on http://${config.workerMetricsAddress}/metrics`);
  // Read before anything connects: a key file that cannot be made stops the worker at once.
  const dataConverter = paymentDataConverter(paymentCodec(config));
  const { provider, records, close, description } = await openProvider(config, wrapLedger);
  // The build's, or else made while the connection is opened and cached on disk, keyed by the workflow sources' content.
  const built = workflows ? undefined : prebuiltBundle();
  const [bundle, connection] = await Promise.all([
    built !== undefined
      ? { code: built, origin: 'from the build' }
      : loadWorkflowBundle(workflows && { workflowsPath: workflows.path, cacheDir: workflows.cacheDir }).then(({ code, cached }) => ({
          code,
          origin: cached ? 'from the cache' : 'made now',
        })),
    connectWorker(config, log),
  ]);
  await waitForSearchAttributes(connection.operatorService, config.temporalNamespace, (line) => Runtime.instance().logger.warn(line));
  const worker = await createPaymentWorker({
    connection,
    namespace: config.temporalNamespace,
    taskQueue: config.taskQueue,
    provider,
    records,
    expiryMs: config.paymentExpiryMs,
    workflowBundle: { code: bundle.code },
    moreActivities,
    dataConverter,
  });
  log(
    `worker polling ${config.taskQueue} on ${describeTemporal(config)}, money moves in ${description}; ` +
      `workflow bundle ${bundle.origin}, ${Math.round(performance.now())} ms after start`,
  );
  try {
    // Runtime shuts the worker down on SIGINT/SIGTERM, letting running tasks finish.
    await worker.run();
  } finally {
    await connection.close();
    await close();
  }
}

if (require.main === module) {
  runWorker(loadConfigOrExit()).catch((err) => {
    process.stderr.write(`worker failed: ${failureText(err)}\n`);
    process.exit(1);
  });
}
