/** A real ledger whose charges can be held at the door, to put a cancel or a duplicate in their path. */
import type { Ledger } from '../../src/ledger/ledger';

export class GatedLedger implements Ledger {
  private held: Promise<void> | undefined;
  private open: (() => void) | undefined;
  private arrived: (() => void) | undefined;
  /** Resolves when a held charge has reached the ledger. */
  chargeArrived: Promise<void> = Promise.resolve();
  charges = 0;

  constructor(private readonly inner: Ledger) {}

  /** Makes the next charges wait until release(). */
  hold(): void {
    this.held = new Promise((resolve) => (this.open = resolve));
    this.chargeArrived = new Promise((resolve) => (this.arrived = resolve));
  }

  release(): void {
    this.open?.();
    this.held = undefined;
  }

  async charge(...args: Parameters<Ledger['charge']>) {
    this.charges++;
    this.arrived?.();
    await this.held;
    return this.inner.charge(...args);
  }
  refund(...args: Parameters<Ledger['refund']>) {
    return this.inner.refund(...args);
  }
  account(...args: Parameters<Ledger['account']>) {
    return this.inner.account(...args);
  }
  entriesOf(paymentId: string) {
    return this.inner.entriesOf(paymentId);
  }
  ping() {
    return this.inner.ping();
  }
  close() {
    return this.inner.close();
  }
}
