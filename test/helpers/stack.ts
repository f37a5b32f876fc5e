/** A worker with a real SQLite ledger on a test environment, and the PaymentClient over it. */
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import type { PaymentProvider } from '../../src/providers/provider';
import { FaultInjectingLedger } from '../../tools/faults/ledger';
import { SqliteLedger } from '../../src/ledger/sqlite';
import { PaymentClient } from '../../src/client/payment-client';
import { LedgerProvider } from '../../src/providers/ledger';
import { createPaymentWorker } from '../../src/worker';
import { seeded } from '../../tools/chaos/random';
import { GatedLedger } from './gated-ledger';
import { tempDir, testDataConverter, workflowBundle } from './servers';

export interface Stack {
  env: TestWorkflowEnvironment;
  ledger: GatedLedger;
  payments: PaymentClient;
  taskQueue: string;
  worker: Worker;
}

export interface StackOptions {
  openingBalance?: number;
  expiryMs?: number;
  faultRate?: number;
  /** Seeds the injected faults, so that the same tries fail on every run. */
  faultSeed?: number;
  requestTimeoutMs?: number;
  /** A queue of its own unless given (one a payment was started on before its worker ran). */
  taskQueue?: string;
  /** Moves money instead of the stack's ledger (which then stays empty), or wraps the provider over it. */
  provider?: PaymentProvider | ((ledger: GatedLedger) => PaymentProvider);
}

export const OPENING_BALANCE = 10_000;
export const HOUR = 60 * 60 * 1000;

/** A fresh worker (own task queue, own ledger file) on the environment, running until stop(). */
export async function startStack(env: TestWorkflowEnvironment, options: StackOptions = {}): Promise<Stack & { stop: () => Promise<void> }> {
  const ledger = new GatedLedger(
    new FaultInjectingLedger(
      new SqliteLedger({ file: path.join(tempDir('ledger'), 'ledger.db'), openingBalance: options.openingBalance ?? OPENING_BALANCE }),
      { faultRate: options.faultRate ?? 0, writeDelayMs: 0, random: seeded(options.faultSeed ?? 1) },
    ),
  );
  const taskQueue = options.taskQueue ?? `payments-${randomUUID()}`;
  const worker = await createPaymentWorker({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    provider: typeof options.provider === 'function' ? options.provider(ledger) : (options.provider ?? new LedgerProvider(ledger)),
    records: ledger,
    expiryMs: options.expiryMs ?? HOUR,
    workflowBundle: workflowBundle(),
    dataConverter: testDataConverter(),
  });
  const payments = new PaymentClient({
    client: env.client,
    taskQueue,
    expiryMs: options.expiryMs ?? HOUR,
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    records: ledger,
    ledger,
  });
  const running = worker.run();
  return {
    env,
    ledger,
    payments,
    taskQueue,
    worker,
    stop: async () => {
      ledger.release();
      await payments.settled();
      worker.shutdown();
      await running;
      await ledger.close();
    },
  };
}

/** Runs `body` while a fresh stack serves the environment. */
export async function withStack<T>(env: TestWorkflowEnvironment, options: StackOptions, body: (stack: Stack) => Promise<T>): Promise<T> {
  const stack = await startStack(env, options);
  try {
    return await body(stack);
  } finally {
    await stack.stop();
  }
}

/** The kinds of ledger entries a payment-id has, oldest first. */
export async function entryKinds(ledger: GatedLedger, paymentId: string): Promise<string[]> {
  return (await ledger.entriesOf(paymentId)).map((entry) => entry.kind);
}
