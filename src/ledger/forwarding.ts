import type { Ledger } from './ledger';

/** A ledger that hands every call to another: the base of wrappers that change one or two. */
export class ForwardingLedger implements Ledger {
  constructor(protected readonly inner: Ledger) {}

  charge(...args: Parameters<Ledger['charge']>) {
    return this.inner.charge(...args);
  }

  refund(...args: Parameters<Ledger['refund']>) {
    return this.inner.refund(...args);
  }

  account(...args: Parameters<Ledger['account']>) {
    return this.inner.account(...args);
  }

  recordOutcome(...args: Parameters<Ledger['recordOutcome']>) {
    return this.inner.recordOutcome(...args);
  }

  recordOf(paymentId: string) {
    return this.inner.recordOf(paymentId);
  }

  noteChargeAttempt(...args: Parameters<Ledger['noteChargeAttempt']>) {
    return this.inner.noteChargeAttempt(...args);
  }

  entriesOf(paymentId: string) {
    return this.inner.entriesOf(paymentId);
  }

  createKey(...args: Parameters<Ledger['createKey']>) {
    return this.inner.createKey(...args);
  }

  keyById(id: string) {
    return this.inner.keyById(id);
  }

  listKeys() {
    return this.inner.listKeys();
  }

  revokeKey(id: string) {
    return this.inner.revokeKey(id);
  }

  noteKeyUsed(...args: Parameters<Ledger['noteKeyUsed']>) {
    return this.inner.noteKeyUsed(...args);
  }

  ping() {
    return this.inner.ping();
  }

  close() {
    return this.inner.close();
  }
}
