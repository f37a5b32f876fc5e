/** What an entry point prints when it stops on an error: a cause an operator acts on by its message alone, anything else with its stack. */
import { LedgerSchemaBehind } from './ledger/ledger';

export function failureText(err: unknown): string {
  if (err instanceof LedgerSchemaBehind) return err.message;
  return String((err as Error | undefined)?.stack ?? err);
}
