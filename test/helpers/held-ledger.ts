/** A real ledger whose account reads wait at the door until released: a request held in flight, on a latch. */
import { ForwardingLedger } from '../../src/ledger/forwarding';
import type { Ledger } from '../../src/ledger/ledger';

export class HeldLedger extends ForwardingLedger {
  private release!: () => void;
  private readonly released = new Promise<void>((resolve) => (this.release = resolve));
  private arrive!: () => void;
  /** Resolves when an account read is waiting. */
  readonly arrived = new Promise<void>((resolve) => (this.arrive = resolve));

  override async account(...args: Parameters<Ledger['account']>) {
    this.arrive();
    await this.released;
    return super.account(...args);
  }

  /** Lets every read waiting, and every later one, through. */
  open(): void {
    this.release();
  }
}
