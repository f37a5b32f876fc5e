/**
 * A deploy on a real stack (dev server, worker and gateway processes): SIGTERM to the gateway and
 * to the worker running a charge, at once. The gateway's readiness turns 503, the request in
 * flight is answered, the listener closes after the drain and the process exits; the worker
 * finishes the charge it runs before it exits, and gives its sticky queue back, so the payment's
 * next task goes to another worker at once instead of waiting out the sticky queue's timeout.
 */
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { workflowIdFor } from '../src/domain/contract';
import { SqliteLedger } from '../src/ledger/sqlite';
import { LocalStack } from '../tools/stack';
import { eventually } from './helpers/eventually';
import { tempDir } from './helpers/servers';

jest.setTimeout(120_000);

const EventType = temporal.api.enums.v1.EventType;
/** The charge's pause after its commit: the window in which both processes get their SIGTERM. */
const CHARGE_HELD_MS = 3000;

let stack: LocalStack;
let client: Client;
beforeAll(async () => {
  stack = new LocalStack({
    dir: tempDir('shutdown'),
    openingBalance: 1000,
    workers: 2,
    entries: { worker: 'tools/faults/worker.ts' },
    env: { LEDGER_WRITE_DELAY_MS: String(CHARGE_HELD_MS), SHUTDOWN_DRAIN: '1s' },
  });
  await stack.start();
  client = new Client({ connection: await Connection.connect({ address: stack.temporalAddress }) });
});
afterAll(async () => {
  await client?.connection.close();
  await stack?.stop();
});

test('SIGTERM to the gateway and to the worker charging: the request in flight is answered, the charge lands once, on its first attempt', async () => {
  const ledger = new SqliteLedger({ file: path.join(stack.dataDir, 'ledger.db'), openingBalance: 1000 });
  try {
    const paying = fetch(`${stack.apiUrl}/payments/deploy-1/makePayment`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ accountId: 'acct-deploy', amount: 100 }),
    }).then(async (response) => ({ status: response.status, connection: response.headers.get('connection'), body: await response.json() }));

    // The charge has committed and its activity is held after the commit, on one of the workers.
    await eventually('the charge committed', async () => ((await ledger.account('acct-deploy')).entries.length === 1 ? true : undefined), {
      timeoutMs: 30_000,
    });
    const handle = client.workflow.getHandle(workflowIdFor('deploy-1'));
    // Its started event is written only as it ends: the worker running it is named by the pending activity.
    const pending = (await handle.describe()).raw.pendingActivities ?? [];
    expect(pending).toHaveLength(1);
    const identity = pending[0]!.lastWorkerIdentity!;
    const charging = stack.workers.find((role) => identity.startsWith(`${stack.pid(role)}@`))!;
    expect(charging).toBeDefined();

    const apiExited = stack.exitOf('api-1');
    const workerExited = stack.exitOf(charging);
    stack.signal('api-1', 'SIGTERM');
    stack.signal(charging, 'SIGTERM');

    // Drained: not ready once the signal is handled (a request may come first), still answering, each answer closing its connection.
    const ready = await eventually('readiness to turn 503', async () => {
      const response = await fetch(`${stack.apiUrl}/readyz`);
      return response.status === 503 ? response : undefined;
    });
    expect(ready.headers.get('connection')).toBe('close');
    expect(await ready.json()).toEqual({ status: 'unavailable', problems: ['gateway: shutting down'] });

    expect(await paying).toEqual({
      status: 200,
      connection: 'close',
      body: { paymentId: 'deploy-1', status: 'COMPLETED', accountId: 'acct-deploy', amount: 100, replayed: false },
    });
    expect(await apiExited).toEqual({ code: 0, signal: null });
    await expect(fetch(`${stack.apiUrl}/healthz`)).rejects.toThrow();
    expect(await workerExited).toEqual({ code: 0, signal: null });

    const events = (await handle.fetchHistory()).events!;
    const started = events.find((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)!;
    const completed = events.filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED);
    // Finished by the worker that was told to stop, not cancelled and retried by the other.
    expect(completed).toHaveLength(1);
    expect(completed[0]!.activityTaskCompletedEventAttributes!.identity).toBe(identity);
    expect(started.activityTaskStartedEventAttributes!.attempt).toBe(1);
    // The task that answers was taken by the other worker at once: the stopping worker had given
    // its sticky queue back, so the task did not wait there until it timed out (a killed worker's does).
    const after = events.slice(events.indexOf(completed[0]!));
    expect(after.filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT)).toEqual([]);
    const answering = after.find((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED)!;
    expect(answering.workflowTaskStartedEventAttributes!.identity).not.toBe(identity);
    expect((await ledger.account('acct-deploy')).entries).toHaveLength(1);
  } finally {
    await ledger.close();
  }
});

test('a request still waiting for its payment when the gateway nears its bound answers 202 with the view, and the gateway exits', async () => {
  await stack.launch('api-1');
  await Promise.all(stack.workers.map((role) => stack.kill(role, 'SIGTERM')));
  const paying = fetch(`${stack.apiUrl}/payments/deploy-2/makePayment`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ accountId: 'acct-deploy', amount: 100 }),
  }).then(async (response) => ({ status: response.status, retryAfter: response.headers.get('retry-after'), body: await response.json() }));
  // Started, with no worker to run it: the request waits for an outcome that cannot come before the shutdown.
  await eventually('the payment started', () =>
    client.workflow
      .getHandle(workflowIdFor('deploy-2'))
      .describe()
      .then(
        () => true,
        () => undefined,
      ),
  );
  const exited = stack.exitOf('api-1');
  stack.signal('api-1', 'SIGTERM');
  expect(await paying).toMatchObject({
    status: 202,
    retryAfter: '1',
    body: { paymentId: 'deploy-2', status: 'PROCESSING', accountId: 'acct-deploy', amount: 100 },
  });
  expect(await exited).toEqual({ code: 0, signal: null });
});
