/**
 * A worker process killed with SIGKILL after the ledger committed a charge (or refund) but
 * before Temporal heard of it, then started again: the activity's attempt times out, the charge
 * runs again on the new worker, the ledger's unique key turns it into a no-op, and the
 * payment ends right with money moved once.
 */
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { cancellationUpdate, getPaymentQuery, workflowIdFor } from '../src/domain/contract';
import type { LedgerEntry } from '../src/ledger/ledger';
import { SqliteLedger } from '../src/ledger/sqlite';
import { PAYMENT_WORKFLOW_TASK_TIMEOUT, PaymentClient, sendUntilProcessed } from '../src/client/payment-client';
import { freePort } from '../src/net';
import { type Proc, startEntry } from './helpers/processes';
import { devServerPerFile, frontendRequests, tempDir, testDataConverter, workflowBundle } from './helpers/servers';
import { HOUR } from './helpers/stack';

jest.setTimeout(180_000);

const server = devServerPerFile({ metrics: true });

const OPENING = 5000;

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; i < 600; i++) {
    const value = await probe();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A task queue and ledger of the test's own, the environment of its worker processes, and the gateway's side. */
function crashSetup(prefix: string) {
  const dataDir = tempDir(prefix);
  const taskQueue = `${prefix}-${randomUUID()}`;
  const workerEnv = (extra: Record<string, string> = {}) => ({
    TEMPORAL_ADDRESS: server.env.address,
    TASK_QUEUE: taskQueue,
    DATA_DIR: dataDir,
    OPENING_BALANCE: String(OPENING),
    LOG_LEVEL: 'warn',
    ...extra,
  });
  const ledger = new SqliteLedger({ file: path.join(dataDir, 'ledger.db'), openingBalance: OPENING });
  const payments = new PaymentClient({ client: server.env.client, taskQueue, expiryMs: HOUR, requestTimeoutMs: 120_000, records: ledger });
  return { workerEnv, ledger, payments };
}

test("SIGKILL between the ledger's commit and the activity's completion: one charge, one refund, right final state", async () => {
  const { workerEnv, ledger, payments } = crashSetup('crash');
  const entry = (kind: string) => async () => (await ledger.entriesOf('crash-1')).find((e: LedgerEntry) => e.kind === kind);
  let worker: Proc | undefined;
  try {
    // The slow worker holds each write for 30 s after its commit: a wide window to die in.
    worker = startEntry('tools/faults/worker.ts', workerEnv({ LEDGER_WRITE_DELAY_MS: '30000' }));
    let paid = false;
    const paying = payments.makePayment('crash-1', { accountId: 'acct', amount: 700 }).finally(() => (paid = true));
    await waitFor('the charge to commit', entry('charge'));
    worker.kill('SIGKILL');
    await worker.exited;
    expect(paid).toBe(false);

    worker = startEntry('src/worker.ts', workerEnv());
    expect(await paying).toEqual({ paymentId: 'crash-1', status: 'COMPLETED', accountId: 'acct', amount: 700, replayed: false });
    expect((await ledger.account('acct')).balance).toBe(OPENING - 700);

    worker.kill('SIGKILL');
    await worker.exited;
    worker = startEntry('tools/faults/worker.ts', workerEnv({ LEDGER_WRITE_DELAY_MS: '30000' }));
    const cancelling = payments.cancelPayment('crash-1');
    await waitFor('the refund to commit', entry('refund'));
    worker.kill('SIGKILL');
    await worker.exited;

    worker = startEntry('src/worker.ts', workerEnv());
    expect(await cancelling).toEqual({ paymentId: 'crash-1', status: 'CANCELLED', refunded: true });
    expect((await ledger.entriesOf('crash-1')).map((e) => e.kind)).toEqual(['charge', 'refund']);
    expect((await ledger.account('acct')).balance).toBe(OPENING);
    expect(await payments.getPayment('crash-1')).toMatchObject({ status: 'CANCELLED', refunded: true });
  } finally {
    worker?.kill('SIGKILL');
    await ledger.close();
  }
});

const chargeMovesOnHeartbeatTimeout =
  "the charge of a SIGKILLed worker goes to the other worker once its 2 s heartbeat timeout lapses, not the attempt's 10 s: charged once";
test(chargeMovesOnHeartbeatTimeout, async () => {
  const { workerEnv, ledger, payments } = crashSetup('heartbeat');
  const workers: Proc[] = [];
  try {
    // The first worker holds the charge: its ledger pauses 30 s after the commit, and it beats meanwhile.
    workers.push(startEntry('tools/faults/worker.ts', workerEnv({ LEDGER_WRITE_DELAY_MS: '30000' })));
    const paying = payments.makePayment('held-1', { accountId: 'acct', amount: 300 });
    await waitFor('the charge to commit', async () => (await ledger.entriesOf('held-1')).find((e) => e.kind === 'charge'));
    workers[0]!.kill('SIGKILL');
    await workers[0]!.exited;
    // The production shape: another worker, which takes the charge over.
    workers.push(startEntry('src/worker.ts', workerEnv()));

    expect(await paying).toEqual({ paymentId: 'held-1', status: 'COMPLETED', accountId: 'acct', amount: 300, replayed: false });
    expect((await ledger.entriesOf('held-1')).map((e) => e.kind)).toEqual(['charge']);
    expect((await ledger.account('acct')).balance).toBe(OPENING - 300);

    const { events } = await server.env.client.workflow.getHandle(workflowIdFor('held-1')).fetchHistory();
    const EventType = temporal.api.enums.v1.EventType;
    const run = events!.find((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)!;
    expect(Number(run.workflowExecutionStartedEventAttributes!.workflowTaskTimeout!.seconds)).toBe(2);
    expect(PAYMENT_WORKFLOW_TASK_TIMEOUT).toBe('2s');
    const scheduled = events!.find((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)!;
    expect(scheduled.activityTaskScheduledEventAttributes!.activityType!.name).toBe('charge');
    expect(Number(scheduled.activityTaskScheduledEventAttributes!.heartbeatTimeout!.seconds)).toBe(2);
    // The second attempt ran because the first stopped beating, not because its 10 s ran out.
    const started = events!.find((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)!.activityTaskStartedEventAttributes!;
    expect(started.attempt).toBe(2);
    expect(started.lastFailure!.timeoutFailureInfo!.timeoutType).toBe(temporal.api.enums.v1.TimeoutType.TIMEOUT_TYPE_HEARTBEAT);
    // The dead worker held no workflow task. (The answer's task may first wait 2 s on its sticky queue.)
    const heldTasks = events!.filter(
      (e) =>
        e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT &&
        e.workflowTaskTimedOutEventAttributes!.timeoutType === temporal.api.enums.v1.TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE,
    );
    expect(heldTasks).toEqual([]);
  } finally {
    for (const worker of workers) worker.kill('SIGKILL');
    await ledger.close();
  }
});

test("a worker serves Temporal's own worker metrics when WORKER_METRICS_ADDRESS is set", async () => {
  const taskQueue = `metrics-${randomUUID()}`;
  const metricsAddress = `127.0.0.1:${await freePort()}`;
  const dataDir = tempDir('metrics');
  const worker = startEntry('src/worker.ts', {
    TEMPORAL_ADDRESS: server.env.address,
    TASK_QUEUE: taskQueue,
    DATA_DIR: dataDir,
    LOG_LEVEL: 'warn',
    WORKER_METRICS_ADDRESS: metricsAddress,
  });
  const records = new SqliteLedger({ file: path.join(dataDir, 'ledger.db'), openingBalance: 0 });
  try {
    const payments = new PaymentClient({ client: server.env.client, taskQueue, expiryMs: HOUR, requestTimeoutMs: 30_000, records });
    await payments.makePayment('metrics-1', { accountId: 'acct', amount: 100 });
    // The update's answer can come back before the worker has recorded the task's latency.
    const wanted = [/^temporal_workflow_task_execution_latency_count\{/m, /^temporal_activity_execution_latency_count\{/m];
    const metrics = await waitFor('the task metrics', async () => {
      const text = await (await fetch(`http://${metricsAddress}/metrics`)).text();
      return wanted.every((pattern) => pattern.test(text)) ? text : undefined;
    }).catch(async () => (await fetch(`http://${metricsAddress}/metrics`)).text());
    expect(metrics).toMatch(/^temporal_workflow_task_execution_latency_count\{.*task_queue="metrics-/m);
    expect(metrics).toMatch(/^temporal_activity_execution_latency_count\{.*activity_type="charge"/m);
  } finally {
    worker.kill('SIGKILL');
    await records.close();
  }
});

/**
 * While no worker runs, a query waits in Temporal's matching service. When a worker comes back,
 * such a query brings it the events that arrived since (a signal, an activity's completion) ahead
 * of their workflow task, and the SDK's core then handles that task's updates in a later
 * activation: it writes them after commands they preceded (a history that no longer replays) or
 * drops them. So the gateway cancels a run that exists by the update alone, with no signal for
 * the task to share. Here each payment has queries waiting, from other callers, when its cancel
 * arrives with the worker down; sent as a signal and an update instead, it fails (tried).
 */
test('a cancel that meets queries waiting for a restarting worker is answered, once, and every history replays', async () => {
  const { workerEnv, ledger, payments } = crashSetup('waiting');
  const ids = ['waiting-1', 'waiting-2', 'waiting-3'];
  let worker = startEntry('src/worker.ts', workerEnv());
  try {
    for (const id of ids) {
      expect(await payments.makePayment(id, { accountId: 'acct', amount: 100 })).toMatchObject({ status: 'COMPLETED' });
      worker.kill('SIGTERM');
      await worker.exited;
      const handle = server.env.client.workflow.getHandle(workflowIdFor(id));
      const queried = await frontendRequests(server.metricsUrl, 'QueryWorkflow');
      const queries = Array.from({ length: 4 }, () => handle.query(getPaymentQuery));
      await waitFor(
        'the queries to reach Temporal',
        async () => (await frontendRequests(server.metricsUrl, 'QueryWorkflow')) >= queried + 4 || undefined,
      );
      // What the gateway sends a run that exists, once its own snapshot is answered.
      const updated = await frontendRequests(server.metricsUrl, 'UpdateWorkflowExecution');
      const cancel = sendUntilProcessed(() =>
        handle.executeUpdate(cancellationUpdate, { updateId: 'cancel:0', args: [{ cancels: true }] }),
      );
      await waitFor(
        'the cancel to reach Temporal',
        async () => (await frontendRequests(server.metricsUrl, 'UpdateWorkflowExecution')) > updated || undefined,
      );
      worker = startEntry('src/worker.ts', workerEnv());
      expect(await cancel).toEqual({ paymentId: id, status: 'CANCELLED', refunded: true });
      await Promise.allSettled(queries);
      expect((await ledger.entriesOf(id)).map((e) => e.kind)).toEqual(['charge', 'refund']);
    }
    const histories = await Promise.all(
      ids.map(async (id) => ({
        workflowId: workflowIdFor(id),
        history: await server.env.client.workflow.getHandle(workflowIdFor(id)).fetchHistory(),
      })),
    );
    const replays: (string | undefined)[] = [];
    for await (const result of Worker.runReplayHistories(
      { workflowBundle: workflowBundle(), dataConverter: testDataConverter() },
      histories,
    ))
      replays.push(result.error?.message);
    expect(replays).toEqual(ids.map(() => undefined));
    expect((await ledger.account('acct')).balance).toBe(OPENING);
  } finally {
    worker.kill('SIGKILL');
    await ledger.close();
  }
});
