/**
 * Records the histories that replay.test.ts replays: run once per release that changes the
 * workflow's commands, with `npm run record-histories`, and commit the new files beside the
 * earlier releases' (which are never re-recorded: they are what payments in flight during a
 * deploy look like). A change that breaks determinism then fails replay.test.ts instead of
 * live payments.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { workflowIdFor } from '../../src/domain/contract';
import { TEMPORAL_CLI } from '../../tools/paths';
import { historyFile } from './files';
import { bundleWorkflows } from '../../src/worker';
import { keepWorkflowBundle, timeSkippingEnv } from '../helpers/servers';
import { HOUR, type Stack, type StackOptions, withStack } from '../helpers/stack';
import type { GatedLedger } from '../helpers/gated-ledger';
import { LedgerProvider } from '../../src/providers/ledger';
import type { PaymentProvider } from '../../src/providers/provider';
import { Context } from '@temporalio/activity';

const request = { accountId: 'acct', amount: 300 };

/** The release whose workflow code records: name the next one when the workflow's commands change again. */
const RELEASE = 'cancel-update';

/** A provider that fails the first two tries of a charge: the activity's retries. */
function downForTwoTries(ledger: GatedLedger): PaymentProvider {
  const provider = new LedgerProvider(ledger);
  return {
    charge: async (call) => {
      if (Context.current().info.attempt < 3) throw new Error('provider unreachable');
      return provider.charge(call);
    },
    refund: (call) => provider.refund(call),
  };
}

/** Each scenario ends with its payment's workflow expired and closed, so its whole life is recorded. */
const scenarios: [name: string, paymentId: string, run: (stack: Stack) => Promise<void>, options?: StackOptions][] = [
  [
    'paid-replayed-refunded',
    'h1',
    async ({ payments }) => {
      await payments.makePayment('h1', request);
      await payments.makePayment('h1', request);
      await payments.cancelPayment('h1');
      await payments.cancelPayment('h1');
    },
  ],
  [
    'cancelled-before-paying',
    'h2',
    async ({ payments }) => {
      await payments.cancelPayment('h2');
      await payments.makePayment('h2', request).catch(() => undefined);
    },
  ],
  [
    'declined-then-paid',
    'h3',
    async ({ payments }) => {
      await payments.makePayment('h3-big', { accountId: 'acct', amount: 9_900 });
      await payments.makePayment('h3', request).catch(() => undefined);
      await payments.cancelPayment('h3-big');
      await payments.makePayment('h3', request);
    },
  ],
  [
    'cancelled-while-charging',
    'h4',
    async ({ payments, ledger }) => {
      ledger.hold();
      const paying = payments.makePayment('h4', request).catch(() => undefined);
      await ledger.chargeArrived;
      const cancelling = payments.cancelPayment('h4');
      await ledger.requestsReached('h4', 2);
      ledger.release();
      await Promise.all([paying, cancelling]);
    },
  ],
  [
    'mismatch-and-storm',
    'h5',
    async ({ payments }) => {
      await Promise.allSettled([
        payments.makePayment('h5', request),
        payments.makePayment('h5', request),
        payments.makePayment('h5', { ...request, amount: 1 }),
        payments.cancelPayment('h5'),
        payments.makePayment('h5', request),
      ]);
    },
  ],
  [
    'charged-after-an-outage',
    'h6',
    async ({ payments }) => {
      await payments.makePayment('h6', request);
      await payments.cancelPayment('h6');
    },
    { provider: downForTwoTries },
  ],
];

async function main(): Promise<void> {
  keepWorkflowBundle((await bundleWorkflows()).code);
  for (const [name, paymentId, scenario, options] of scenarios) {
    const file = path.join(__dirname, historyFile(paymentId, name, RELEASE));
    if (fs.existsSync(file)) throw new Error(`${file} exists: a release's histories are recorded once; name a new RELEASE`);
    const env = await timeSkippingEnv();
    try {
      await withStack(env, { openingBalance: 10_000, ...options }, async (stack) => {
        await scenario(stack);
        await env.sleep(HOUR + 1000);
        const handle = env.client.workflow.getHandle(workflowIdFor(paymentId));
        await handle.result();
        // The CLI writes the history in the JSON form Temporal's tools read and replay.
        const history = execFileSync(TEMPORAL_CLI, [
          'workflow',
          'show',
          '--workflow-id',
          handle.workflowId,
          '--address',
          env.address,
          '--output',
          'json',
        ]);
        fs.writeFileSync(file, history);
        process.stdout.write(`recorded ${name}\n`);
      });
    } finally {
      await env.teardown();
    }
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(1);
});
