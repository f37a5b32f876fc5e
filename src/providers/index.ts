/** The provider a worker process moves money with, chosen by PAYMENT_PROVIDER, and the database its records go to. */
import type { Config } from '../config';
import { describeLedger, openLedger } from '../ledger/open';
import { LedgerProvider } from './ledger';
import type { Ledger, PaymentRecords } from '../ledger/ledger';
import type { PaymentProvider } from './provider';

export interface OpenProvider {
  provider: PaymentProvider;
  /** The service's database (SQLite under DATA_DIR or LEDGER_URL), which keeps closed payments' answers with either provider. */
  records: PaymentRecords;
  /** Releases what the provider holds (the database). */
  close(): Promise<void>;
  /** For the log: where the money moves. */
  description: string;
}

/** `wrap` is the fault-injecting worker's: it gets the ledger as opened and gives back what the worker uses. */
export async function openProvider(config: Config, wrap: (ledger: Ledger) => Ledger = (ledger) => ledger): Promise<OpenProvider> {
  const settings = config.paymentProvider;
  const ledger = wrap(await openLedger(config));
  const close = () => ledger.close();
  if (settings.kind === 'stripe') {
    // Loaded only when chosen: the Stripe SDK would cost every other worker's start about 70 ms.
    const { StripeProvider } = require('./stripe') as typeof import('./stripe');
    return {
      provider: new StripeProvider(settings),
      records: ledger,
      close,
      description:
        `Stripe${settings.apiBase ? ` at ${settings.apiBase}` : ''} in ${settings.currency}, ` +
        `payment records in ${describeLedger(config)}`,
    };
  }
  return { provider: new LedgerProvider(ledger), records: ledger, close, description: describeLedger(config) };
}
