/** What an entry point prints when it stops on an error: a cause an operator acts on by its message alone, anything else with its stack. */
import { LedgerSchemaBehind, TransientLedgerError } from './ledger/ledger';

export function failureText(err: unknown): string {
  // The database behind, or out of reach: what the message names is what to fix.
  if (err instanceof LedgerSchemaBehind || err instanceof TransientLedgerError) return err.message;
  return String((err as Error | undefined)?.stack ?? err);
}
