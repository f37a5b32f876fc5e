/** A real ledger whose charges can be held at the door, to put a cancel or a duplicate in their path. */
import { ForwardingLedger } from '../../src/ledger/forwarding';
import type { Ledger } from '../../src/ledger/ledger';

export class GatedLedger extends ForwardingLedger {
  private held: Promise<void> | undefined;
  private open: (() => void) | undefined;
  private arrived: (() => void) | undefined;
  /** Resolves when a held charge has reached the ledger. */
  chargeArrived: Promise<void> = Promise.resolve();
  charges = 0;

  /** Makes the next charges wait until release(). */
  hold(): void {
    this.held = new Promise((resolve) => (this.open = resolve));
    this.chargeArrived = new Promise((resolve) => (this.arrived = resolve));
  }

  release(): void {
    this.open?.();
    this.held = undefined;
  }

  override async charge(...args: Parameters<Ledger['charge']>) {
    this.charges++;
    this.arrived?.();
    await this.held;
    return super.charge(...args);
  }
}
