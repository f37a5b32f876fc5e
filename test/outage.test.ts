/**
 * A provider down for three days (time-skipping server): the payment comes through when it
 * returns, and its history stays a few dozen events, far from Temporal's 51,200-event cut,
 * because the charge is a regular activity retried with backoff, and retries write no events.
 */
import { Context } from '@temporalio/activity';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { PAYMENT_WORKFLOW, workflowIdFor } from '../src/domain/contract';
import { LedgerProvider } from '../src/providers/ledger';
import type { ChargeRequest, PaymentProvider, RefundRequest } from '../src/providers/provider';
import { timeSkippingEnv } from './helpers/servers';
import type { GatedLedger } from './helpers/gated-ledger';
import { entryKinds, withStack } from './helpers/stack';

const DAY = 24 * 60 * 60 * 1000;
const OUTAGE_MS = 3 * DAY;

/**
 * The ledger, unreachable until the charge has been retried for OUTAGE_MS of the server's
 * clock (which the time-skipping server moves on between retries).
 */
class DownForDays implements PaymentProvider {
  readonly tries = { local: 0, durable: 0 };
  readonly retryFlags: boolean[] = [];

  constructor(private readonly ledger: LedgerProvider) {}

  async charge(request: ChargeRequest) {
    const { isLocal, scheduledTimestampMs, currentAttemptScheduledTimestampMs } = Context.current().info;
    this.tries[isLocal ? 'local' : 'durable']++;
    this.retryFlags.push(request.retry);
    if (isLocal || currentAttemptScheduledTimestampMs - scheduledTimestampMs < OUTAGE_MS) throw new Error('provider unreachable');
    return this.ledger.charge(request);
  }

  refund(request: RefundRequest) {
    return this.ledger.refund(request);
  }
}

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await timeSkippingEnv();
});
afterAll(async () => {
  await env?.teardown();
});

test('three days of provider outage, then the charge lands once; the history stays small', async () => {
  let provider: DownForDays | undefined;
  const request = { accountId: 'acct-outage', amount: 400 };
  const downForDays = (ledger: GatedLedger) => (provider = new DownForDays(new LedgerProvider(ledger)));
  await withStack(env, { provider: downForDays }, async ({ ledger, taskQueue }) => {
    const handle = await env.client.workflow.start(PAYMENT_WORKFLOW, {
      workflowId: workflowIdFor('outage-1'),
      taskQueue,
      args: [{ ...request, expiry: '7d' }],
    });
    // Waiting for the result lets the server skip time: through the retries' backoff, then the 7-day window.
    const final = await handle.result();
    expect(final).toMatchObject({ status: 'COMPLETED', expired: true, ...request });
    expect(await entryKinds(ledger, 'outage-1')).toEqual(['charge']);

    const { tries, retryFlags } = provider!;
    expect(tries.local).toBe(0);
    // Backoff doubles from 200 ms to 5 minutes: three days take some 870 tries, none of them an event.
    expect(tries.durable).toBeGreaterThan(800);
    // Every try after the first is told an earlier one may have reached the provider.
    expect(retryFlags[0]).toBe(false);
    expect(retryFlags.slice(1)).not.toContain(false);
    const { events } = await handle.fetchHistory();
    process.stdout.write(`a payment after a 3-day outage: ${events!.length} history events, ${tries.durable} durable tries\n`);
    expect(events!.length).toBeLessThan(60);
  });
});
