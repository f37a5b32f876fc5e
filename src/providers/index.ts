/** The provider a worker process moves money with, chosen by PAYMENT_PROVIDER. */
import type { Config } from '../config';
import { describeLedger, openLedger } from '../ledger/open';
import { LedgerProvider } from './ledger';
import type { PaymentProvider } from './provider';
import { StripeProvider } from './stripe';

export interface OpenProvider {
  provider: PaymentProvider;
  /** Releases what the provider holds (the ledger's database). */
  close(): Promise<void>;
  /** For the log: where the money moves. */
  description: string;
}

export async function openProvider(config: Config): Promise<OpenProvider> {
  const settings = config.paymentProvider;
  if (settings.kind === 'stripe') {
    return {
      provider: new StripeProvider(settings),
      close: async () => undefined,
      description: `Stripe${settings.apiBase ? ` at ${settings.apiBase}` : ''} in ${settings.currency}`,
    };
  }
  const ledger = await openLedger(config);
  return { provider: new LedgerProvider(ledger), close: () => ledger.close(), description: describeLedger(config) };
}
