/**
 * What a payment costs Temporal (SPEC "What a payment costs"), counted on the dev server: the
 * whole life of a charged, a declined, a cancelled-before and a cancelled-after payment, read
 * from its history once its window has closed it, and the gateway's calls to Temporal per
 * request, counted by a gRPC interceptor on the client's connection. A change that adds to a
 * count fails here until the budget below is changed, in the same diff, with its reason.
 */
import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { PaymentClient } from '../src/client/payment-client';
import { workflowIdFor } from '../src/domain/contract';
import { ErrorCode } from '../src/domain/errors';
import { refusal } from './helpers/refusal';
import { closed } from './helpers/retention';
import { devServerPerFile, testDataConverter } from './helpers/servers';
import { OPENING_BALANCE, type Stack, withStack } from './helpers/stack';

const EventType = temporal.api.enums.v1.EventType;

const server = devServerPerFile();
/** Long enough for every request of a scenario to land inside the window on a busy machine. */
const WINDOW_MS = 4000;

interface Cost {
  events: number;
  workflowTasks: number;
  activityTasks: number;
  upserts: number;
  markers: number;
}

async function costOf(stack: Stack, paymentId: string): Promise<Cost> {
  await closed(stack.env, paymentId);
  const events = (await stack.env.client.workflow.getHandle(workflowIdFor(paymentId)).fetchHistory()).events ?? [];
  const count = (type: number) => events.filter((event) => event.eventType === type).length;
  return {
    events: events.length,
    workflowTasks: count(EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED),
    activityTasks: count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED),
    upserts: count(EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES),
    markers: count(EventType.EVENT_TYPE_MARKER_RECORDED),
  };
}

/**
 * A cancellation of a payment-id Temporal does not know is two calls (signal-with-start, then the
 * update that waits for its outcome), and the update lands in the signal's workflow task or the
 * next one as the worker's timing has it: its events and tasks are held to a ceiling, the rest
 * exactly.
 */
function expectWithin(cost: Cost, exact: Omit<Cost, 'events' | 'workflowTasks'>, ceiling: Pick<Cost, 'events' | 'workflowTasks'>): void {
  expect(cost).toMatchObject(exact);
  expect(cost.events).toBeLessThanOrEqual(ceiling.events);
  expect(cost.workflowTasks).toBeLessThanOrEqual(ceiling.workflowTasks);
}

/** The stack's payments through a connection that counts each call the client sends Temporal, by method. */
async function countingPayments(stack: Stack): Promise<{ payments: PaymentClient; calls: () => string[]; close: () => Promise<void> }> {
  let calls: string[] = [];
  const counter: Interceptor = (options, nextCall) => {
    calls.push(options.method_definition.path.split('/').pop()!);
    return new InterceptingCall(nextCall(options));
  };
  const connection = await Connection.connect({ address: stack.env.address, interceptors: [counter] });
  const client = new Client({ connection, namespace: stack.env.namespace ?? 'default', dataConverter: testDataConverter() });
  calls = []; // the connection's own GetSystemInfo
  const payments = new PaymentClient({
    client,
    taskQueue: stack.taskQueue,
    expiryMs: WINDOW_MS,
    requestTimeoutMs: 30_000,
    records: stack.ledger,
    ledger: stack.ledger,
  });
  return {
    payments,
    calls: () => {
      const sent = calls;
      calls = [];
      return sent;
    },
    close: () => connection.close(),
  };
}

const request = { accountId: 'acct-budget', amount: 100 };

test('a charged payment: within the SPEC ceiling of 3 workflow tasks, 1 activity task, 20 events, 2 upserts', () =>
  withStack(server.env, { expiryMs: WINDOW_MS }, async (stack) => {
    const { payments, calls, close } = await countingPayments(stack);
    try {
      await payments.makePayment('charged', request);
      // Fresh: update-with-start alone, answered in its first call.
      expect(calls()).toEqual(['ExecuteMultiOperation']);
      expect(await payments.makePayment('charged', request)).toMatchObject({ replayed: true });
      // A duplicate: the same call, answered with the first caller's update of that ID (which may
      // be out of date: a cancel since), then the snapshot, which answers without a message to the workflow.
      expect(calls()).toEqual(['ExecuteMultiOperation', 'QueryWorkflow']);
    } finally {
      await close();
    }
    // Started, three tasks (start and charge, charge's result and answer, window's end and record) of
    // three events each, the update's acceptance and completion, the charge's three events, the
    // timer's two, the COMPLETED upsert, the closing record's marker, and the close.
    expect(await costOf(stack, 'charged')).toEqual({ events: 20, workflowTasks: 3, activityTasks: 1, upserts: 1, markers: 1 });
  }));

test('a declined payment', () =>
  withStack(server.env, { expiryMs: WINDOW_MS, openingBalance: 50 }, async (stack) => {
    expect(await refusal(stack.payments.makePayment('declined', request))).toBe(ErrorCode.InsufficientFunds);
    expect(await costOf(stack, 'declined')).toEqual({ events: 20, workflowTasks: 3, activityTasks: 1, upserts: 1, markers: 1 });
  }));

test('a payment cancelled before any charge: no activity task, and its start already says CANCELLED', () =>
  withStack(server.env, { expiryMs: WINDOW_MS }, async (stack) => {
    expect(await stack.payments.cancelPayment('cancelled-first')).toMatchObject({ refunded: false });
    expect(await refusal(stack.payments.makePayment('cancelled-first', request))).toBe(ErrorCode.PaymentCancelled);
    // The signal's task, the update's, the window's end with the closing record.
    expectWithin(await costOf(stack, 'cancelled-first'), { activityTasks: 0, upserts: 0, markers: 1 }, { events: 17, workflowTasks: 3 });
  }));

test('a payment cancelled after its charge: one more activity task (the refund) and one more upsert (CANCELLED)', () =>
  withStack(server.env, { expiryMs: WINDOW_MS }, async (stack) => {
    await stack.payments.makePayment('cancelled-after', request);
    const { payments, calls, close } = await countingPayments(stack);
    try {
      expect(await payments.cancelPayment('cancelled-after')).toMatchObject({ refunded: true });
      // The snapshot, then the update that cancels and waits: no signal beside it (docs/design.md).
      expect(calls()).toEqual(['QueryWorkflow', 'UpdateWorkflowExecution']);
    } finally {
      await close();
    }
    expect((await stack.ledger.account(request.accountId)).balance).toBe(OPENING_BALANCE);
    // The charged payment's life, and the update's task (it cancels and schedules the refund), the refund's result.
    expect(await costOf(stack, 'cancelled-after')).toEqual({ events: 32, workflowTasks: 5, activityTasks: 2, upserts: 2, markers: 1 });
  }));
