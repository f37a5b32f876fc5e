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

  private readonly reads = new Map<string, number>();
  private readonly readWaiters: { paymentId: string; count: number; resolve: () => void }[] = [];

  /**
   * Resolves once `count` requests for the payment-id have reached the service: each
   * makePayment, cancelPayment and GET first reads the payment's record.
   */
  requestsReached(paymentId: string, count: number): Promise<void> {
    if ((this.reads.get(paymentId) ?? 0) >= count) return Promise.resolve();
    return new Promise((resolve) => this.readWaiters.push({ paymentId, count, resolve }));
  }

  override recordOf(paymentId: string) {
    const reads = (this.reads.get(paymentId) ?? 0) + 1;
    this.reads.set(paymentId, reads);
    for (const waiter of this.readWaiters.filter((w) => w.paymentId === paymentId && w.count <= reads)) {
      this.readWaiters.splice(this.readWaiters.indexOf(waiter), 1);
      waiter.resolve();
    }
    return super.recordOf(paymentId);
  }

  override async charge(...args: Parameters<Ledger['charge']>) {
    this.charges++;
    this.arrived?.();
    await this.held;
    return super.charge(...args);
  }
}
