/**
 * Transient faults and slow commits around any ledger store, for the fault tests and chaos
 * runs. A wrapper, so that both stores are tested the same way and neither carries test-only
 * code; the fault-injecting worker (worker.ts here) installs it, never `npm run worker`.
 */
import { Context } from '@temporalio/activity';
import { ForwardingLedger } from '../../src/ledger/forwarding';
import { type Ledger, TransientLedgerError } from '../../src/ledger/ledger';

export interface FaultOptions {
  /** Share of charge and refund calls that fail with a TransientLedgerError (0: never). */
  faultRate: number;
  /**
   * Pause after each charge or refund commits, before it returns: widens crash windows in fault
   * tests. Like a provider's call (Stripe's), it gives up when Temporal cancels its activity
   * attempt (a worker's shutdown past its grace), failing after the commit.
   */
  writeDelayMs: number;
  random?: () => number;
}

export class FaultInjectingLedger extends ForwardingLedger {
  private readonly random: () => number;

  constructor(
    inner: Ledger,
    private readonly options: FaultOptions,
  ) {
    super(inner);
    this.random = options.random ?? Math.random;
  }

  override charge(...args: Parameters<Ledger['charge']>) {
    return this.write('charge', () => super.charge(...args));
  }

  override refund(...args: Parameters<Ledger['refund']>) {
    return this.write('refund', () => super.refund(...args));
  }

  /**
   * Fails a share of calls, half before the write and half after its commit: the second
   * kind is the one that tests idempotency, since the money moved but the caller saw an error.
   */
  private async write<T>(operation: string, transaction: () => Promise<T>): Promise<T> {
    const { faultRate, writeDelayMs } = this.options;
    if (faultRate > 0 && this.random() < faultRate / 2) {
      throw new TransientLedgerError(`injected fault before ${operation}`);
    }
    const result = await transaction();
    if (writeDelayMs > 0) await pause(writeDelayMs);
    if (faultRate > 0 && this.random() < faultRate / 2) {
      throw new TransientLedgerError(`injected fault after ${operation} committed`);
    }
    return result;
  }
}

/** The attempt's cancellation, when called inside an activity. */
function cancellation(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}

function pause(ms: number): Promise<void> {
  const cancelled = cancellation();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    cancelled?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(new TransientLedgerError('the activity attempt was cancelled during the pause after the commit'));
      },
      { once: true },
    );
  });
}
