/**
 * The payment state machine on the time-skipping server, with the real SQLite ledger:
 * every transition, interleavings and injected faults. Nothing here skips time, so the
 * tests share one server; expiry.test.ts skips it.
 */
import { WorkflowExecutionAlreadyStartedError, type WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  PAYMENT_WORKFLOW,
  PAYMENT_WORKFLOW_VERSION,
  type PaymentResult,
  getPaymentQuery,
  makePaymentUpdate,
  workflowIdFor,
} from '../src/domain/contract';
import { ErrorCode, PaymentError } from '../src/domain/errors';
import { eventually } from './helpers/eventually';
import { refusal } from './helpers/refusal';
import { failureMessage, timeSkippingEnv } from './helpers/servers';
import { HOUR, OPENING_BALANCE, type Stack, entryKinds, withStack } from './helpers/stack';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await timeSkippingEnv();
});
afterAll(async () => {
  await env?.teardown();
});

const request = { accountId: 'acct-1', amount: 250 };
const completed = (paymentId: string, replayed: boolean): PaymentResult => ({ paymentId, status: 'COMPLETED', ...request, replayed });
const inStack = (body: (stack: Stack) => Promise<void>) => withStack(env, {}, body);

describe('makePayment', () => {
  test('charges once; a duplicate answers the first result as a replay', () =>
    inStack(async ({ payments, ledger }) => {
      expect(await payments.makePayment('p1', request)).toEqual(completed('p1', false));
      expect(await payments.makePayment('p1', request)).toEqual(completed('p1', true));
      expect(await entryKinds(ledger, 'p1')).toEqual(['charge']);
      expect((await ledger.account('acct-1')).balance).toBe(OPENING_BALANCE - 250);
      expect(await payments.getPayment('p1')).toMatchObject({ status: 'COMPLETED', ...request, refunded: false, expired: false });
    }));

  test('the same id with another account or amount is refused and charges nothing more', () =>
    inStack(async ({ payments, ledger }) => {
      await payments.makePayment('p2', request);
      expect(await refusal(payments.makePayment('p2', { ...request, amount: 251 }))).toBe(ErrorCode.IdempotencyMismatch);
      expect(await refusal(payments.makePayment('p2', { ...request, accountId: 'other' }))).toBe(ErrorCode.IdempotencyMismatch);
      expect(await entryKinds(ledger, 'p2')).toEqual(['charge']);
      expect((await ledger.account('other')).entries).toEqual([]);
    }));

  test('insufficient funds declines without charging; a later makePayment tries again', () =>
    inStack(async ({ payments, ledger }) => {
      const big = { accountId: 'acct-2', amount: OPENING_BALANCE - 1000 };
      const second = { accountId: 'acct-2', amount: 5000 };
      await payments.makePayment('big', big);
      expect(await refusal(payments.makePayment('second', second))).toBe(ErrorCode.InsufficientFunds);
      expect(await payments.getPayment('second')).toMatchObject({ status: 'DECLINED', amount: 5000 });
      expect(await refusal(payments.makePayment('second', second))).toBe(ErrorCode.InsufficientFunds);
      expect(await entryKinds(ledger, 'second')).toEqual([]);

      await payments.cancelPayment('big'); // the refund makes room
      expect(await payments.makePayment('second', second)).toMatchObject({ status: 'COMPLETED', replayed: false });
      expect((await ledger.account('acct-2')).balance).toBe(OPENING_BALANCE - 5000);
    }));

  test('input the gateway would refuse is refused by the client before any call, and by the workflow too, and changes nothing', () =>
    inStack(async ({ payments, taskQueue }) => {
      const bads = [
        { accountId: 'a', amount: 0 },
        { accountId: 'a', amount: 1.5 },
        { accountId: 'bad id', amount: 1 },
      ];
      for (const bad of bads) expect(await refusal(payments.makePayment('bad', bad))).toBe(ErrorCode.InvalidRequest);
      expect(await payments.getPayment('bad')).toBeUndefined();
      const handle = await env.client.workflow.start(PAYMENT_WORKFLOW, { workflowId: workflowIdFor('bad'), taskQueue, args: [{}] });
      for (const bad of bads) {
        const refused = await handle.executeUpdate(makePaymentUpdate, { args: [bad, { callerId: 'test' }] }).catch((err: unknown) => err);
        expect(((refused as { cause?: ApplicationFailure }).cause as ApplicationFailure).type).toBe(ErrorCode.InvalidRequest);
      }
      expect(await payments.getPayment('bad')).toMatchObject({ status: 'NEW', accountId: null });
      expect(await payments.makePayment('bad', request)).toMatchObject({ status: 'COMPLETED', replayed: false });
    }));
});

describe('cancelPayment', () => {
  test('before any charge: recorded, and a later makePayment is refused', () =>
    inStack(async ({ payments, ledger }) => {
      expect(await payments.cancelPayment('c1')).toEqual({ paymentId: 'c1', status: 'CANCELLED', refunded: false });
      expect(await refusal(payments.makePayment('c1', request))).toBe(ErrorCode.PaymentCancelled);
      expect(await payments.cancelPayment('c1')).toEqual({ paymentId: 'c1', status: 'CANCELLED', refunded: false });
      expect(await entryKinds(ledger, 'c1')).toEqual([]);
      expect(ledger.charges).toBe(0);
    }));

  test('after the charge: refunds exactly once, however often repeated', () =>
    inStack(async ({ payments, ledger }) => {
      await payments.makePayment('c2', request);
      for (let i = 0; i < 3; i++) {
        expect(await payments.cancelPayment('c2')).toEqual({ paymentId: 'c2', status: 'CANCELLED', refunded: true });
      }
      expect(await refusal(payments.makePayment('c2', request))).toBe(ErrorCode.PaymentCancelled);
      expect(await entryKinds(ledger, 'c2')).toEqual(['charge', 'refund']);
      expect((await ledger.account('acct-1')).balance).toBe(OPENING_BALANCE);
      expect(await payments.getPayment('c2')).toMatchObject({ status: 'CANCELLED', refunded: true });
    }));

  test('while the charge is in flight: charged, then refunded', () =>
    inStack(async ({ payments, ledger }) => {
      ledger.hold();
      const paying = payments.makePayment('c3', request).then(
        (result) => result.status,
        (err) => (err as PaymentError).code,
      );
      await ledger.chargeArrived;
      const cancelling = payments.cancelPayment('c3');
      // The cancel has reached the service (past the charge's own request) while the charge is held.
      await ledger.requestsReached('c3', 2);
      ledger.release();
      // The payer may hear of the charge before the cancel is applied, or of the cancel: both are true.
      expect(['COMPLETED', ErrorCode.PaymentCancelled]).toContain(await paying);
      expect(await cancelling).toEqual({ paymentId: 'c3', status: 'CANCELLED', refunded: true });
      expect(await entryKinds(ledger, 'c3')).toEqual(['charge', 'refund']);
    }));

  test('while a declining charge is in flight: cancelled, nothing refunded', () =>
    inStack(async ({ payments, ledger }) => {
      ledger.hold();
      const paying = refusal(payments.makePayment('c4', { accountId: 'poor', amount: OPENING_BALANCE + 1 }));
      await ledger.chargeArrived;
      const cancelling = payments.cancelPayment('c4');
      await ledger.requestsReached('c4', 2);
      ledger.release();
      expect([ErrorCode.InsufficientFunds, ErrorCode.PaymentCancelled]).toContain(await paying);
      expect(await cancelling).toEqual({ paymentId: 'c4', status: 'CANCELLED', refunded: false });
      expect(await entryKinds(ledger, 'c4')).toEqual([]);
    }));
});

describe('interleaving', () => {
  test('a duplicate that arrives while the first is charging waits for it and answers the same', () =>
    inStack(async ({ payments, ledger }) => {
      ledger.hold();
      const first = payments.makePayment('i1', request);
      await ledger.chargeArrived;
      let answered = false;
      const second = payments.makePayment('i1', request).finally(() => (answered = true));
      await ledger.requestsReached('i1', 2);
      // Arrived while the charge is held, and not answered before it lands.
      expect(answered).toBe(false);
      ledger.release();
      expect(await first).toEqual(completed('i1', false));
      expect(await second).toEqual(completed('i1', true));
      expect(ledger.charges).toBe(1);
    }));

  test('storms of makePayment and cancelPayment on one id: one charge at most, one refund at most, answers agree', () =>
    inStack(async ({ payments, ledger }) => {
      for (let round = 0; round < 4; round++) {
        const id = `storm-${round}`;
        const calls: Promise<unknown>[] = [];
        for (let i = 0; i < 12; i++) {
          // Rounds differ in where the cancels fall among the payments.
          calls.push(i % 4 === round ? payments.cancelPayment(id) : payments.makePayment(id, request));
        }
        const outcomes = await Promise.allSettled(calls);
        const kinds = await entryKinds(ledger, id);
        expect([[], ['charge', 'refund']]).toContainEqual(kinds);

        const paid = outcomes.flatMap((o) =>
          o.status === 'fulfilled' && (o.value as PaymentResult).status === 'COMPLETED' ? [o.value as PaymentResult] : [],
        );
        const cancels = outcomes.flatMap((o) =>
          o.status === 'fulfilled' && (o.value as { status: string }).status === 'CANCELLED' ? [o.value] : [],
        );
        const refused = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason] : []));
        expect(cancels.length).toBe(3);
        expect(cancels.every((c) => JSON.stringify(c) === JSON.stringify(cancels[0]))).toBe(true);
        expect(refused.every((r) => r instanceof PaymentError && r.code === ErrorCode.PaymentCancelled)).toBe(true);
        expect(paid.filter((p) => !p.replayed).length).toBeLessThanOrEqual(1);
        expect((cancels[0] as { refunded: boolean }).refunded).toBe(kinds.length === 2);
        expect(await payments.getPayment(id)).toMatchObject({ status: 'CANCELLED', refunded: kinds.length === 2 });
      }
      expect((await ledger.account('acct-1')).balance).toBe(OPENING_BALANCE);
    }));

  test('a storm of makePayment alone: exactly one charge and exactly one first answer', () =>
    inStack(async ({ payments, ledger }) => {
      const results = await Promise.all(Array.from({ length: 20 }, () => payments.makePayment('many', request)));
      expect(results.filter((r) => !r.replayed)).toHaveLength(1);
      expect(results.every((r) => r.status === 'COMPLETED')).toBe(true);
      expect(await entryKinds(ledger, 'many')).toEqual(['charge']);
    }));
});

test('transient ledger faults are retried; money still moves once', async () => {
  await withStack(env, { faultRate: 0.6, faultSeed: 3 }, async ({ payments, ledger }) => {
    const ids = ['f1', 'f2', 'f3', 'f4', 'f5'];
    for (const id of ids) {
      expect(await payments.makePayment(id, request)).toMatchObject({ status: 'COMPLETED', replayed: false });
      expect(await payments.cancelPayment(id)).toMatchObject({ refunded: true });
      expect(await entryKinds(ledger, id)).toEqual(['charge', 'refund']);
    }
    // Seeded faults: the same tries fail on every run, and some do.
    expect(ledger.charges).toBeGreaterThan(ids.length);
    expect((await ledger.account('acct-1')).balance).toBe(OPENING_BALANCE);
  });
});

describe('workflow ID policy', () => {
  test('a second run of a payment-id cannot start while the first is open', () =>
    inStack(async ({ env, payments, taskQueue }) => {
      await payments.makePayment('w1', request);
      await expect(
        env.client.workflow.start(PAYMENT_WORKFLOW, { workflowId: workflowIdFor('w1'), taskQueue, args: [request] }),
      ).rejects.toBeInstanceOf(WorkflowExecutionAlreadyStartedError);
    }));

  test('started with the payment as input (as the CLI does), the workflow pays', () =>
    inStack(async ({ env, ledger, taskQueue }) => {
      const handle = await env.client.workflow.start(PAYMENT_WORKFLOW, { workflowId: workflowIdFor('w2'), taskQueue, args: [request] });
      const view = await eventually('the payment charged', async () => {
        const current = await handle.query(getPaymentQuery);
        return current.status === 'COMPLETED' ? current : undefined;
      });
      expect(view).toMatchObject({ paymentId: 'w2', status: 'COMPLETED', ...request });
      expect(await entryKinds(ledger, 'w2')).toEqual(['charge']);
    }));

  test('started under a workflow ID that names no payment, the workflow fails at once with invalid_request and charges nothing', () =>
    inStack(async ({ env, ledger, taskQueue }) => {
      const handle = await env.client.workflow.start(PAYMENT_WORKFLOW, { workflowId: 'w3', taskQueue, args: [request] });
      const failure = await handle.result().then(
        () => undefined,
        (err: WorkflowFailedError) => err.cause,
      );
      expect(failure).toBeInstanceOf(ApplicationFailure);
      expect(failure).toMatchObject({ type: ErrorCode.InvalidRequest, message: expect.stringContaining('does not start with') });
      expect(await entryKinds(ledger, 'w3')).toEqual([]);
    }));

  test('a run of a version this worker does not know waits, its task failing with a message, and charges nothing', () =>
    inStack(async ({ env, ledger, taskQueue }) => {
      const handle = await env.client.workflow.start(PAYMENT_WORKFLOW, {
        workflowId: workflowIdFor('w4'),
        taskQueue,
        args: [{ ...request, version: PAYMENT_WORKFLOW_VERSION + 1 }],
      });
      const failed = await eventually('the task failed', async () => {
        const { events } = await handle.fetchHistory();
        return events?.find((event) => event.workflowTaskFailedEventAttributes)?.workflowTaskFailedEventAttributes;
      });
      expect(await failureMessage(failed?.failure)).toContain('deploy workers before gateways');
      expect((await handle.describe()).status.name).toBe('RUNNING');
      expect(await entryKinds(ledger, 'w4')).toEqual([]);
      await handle.terminate();
    }));

  test('a start may shorten its window to when it first saw the payment-id, never lengthen it past its expiry', () =>
    inStack(async ({ env, taskQueue }) => {
      const start = (id: string, expiresAt: string) =>
        env.client.workflow.start(PAYMENT_WORKFLOW, {
          workflowId: workflowIdFor(id),
          taskQueue,
          args: [{ version: PAYMENT_WORKFLOW_VERSION, expiry: HOUR, expiresAt }],
        });
      const earlier = new Date(Date.now() - 1000).toISOString();
      const shortened = await start('w5', earlier);
      expect((await shortened.query(getPaymentQuery)).expiresAt).toBe(earlier);
      const lengthened = await start('w6', new Date(Date.now() + 100 * HOUR).toISOString());
      const { startTime } = await lengthened.describe();
      expect((await lengthened.query(getPaymentQuery)).expiresAt).toBe(new Date(startTime.getTime() + HOUR).toISOString());
      await lengthened.terminate();
    }));

  test('a run continued as new by an older release, whose state lacks fields added since, takes their defaults', () =>
    inStack(async ({ env, taskQueue, payments }) => {
      // As a release before refund refusals were counted and earlier runs' charges noted handed it over.
      const older = {
        phase: 'charged',
        request,
        cancelRequested: false,
        refunded: false,
        expired: false,
        attempts: 1,
        chargeReference: 'w7',
      };
      const expiresAt = new Date(Date.now() + HOUR).toISOString();
      const handle = await env.client.workflow.start(PAYMENT_WORKFLOW, {
        workflowId: workflowIdFor('w7'),
        taskQueue,
        args: [{ version: PAYMENT_WORKFLOW_VERSION, expiry: HOUR, continued: { state: older, expiresAt } }],
      });
      expect(await handle.query(getPaymentQuery)).toMatchObject({
        status: 'COMPLETED',
        refundRefusals: 0,
        chargedByEarlierRun: false,
        expiresAt,
      });
      expect(await payments.makePayment('w7', request)).toEqual(completed('w7', true));
      await handle.terminate();
    }));
});
