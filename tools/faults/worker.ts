/**
 * The worker of `npm run worker` with faults in its ledger, for the chaos tool and the crash
 * tests: LEDGER_FAULT_RATE (share, 0 to 1, of charges and refunds that fail with a transient
 * fault, half of them after the commit) and LEDGER_WRITE_DELAY_MS (pause after each commit,
 * which widens the window a crash can fall in). Production starts src/worker.ts, which reads
 * neither.
 */
import { ConfigError, loadConfigOrExit } from '../../src/config';
import { runWorker } from '../../src/worker';
import { FaultInjectingLedger } from './ledger';

function setting(variable: string, max: number): number {
  const text = process.env[variable]?.trim() || '0';
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || value > max) {
    throw new ConfigError(variable, `expected a number from 0 to ${max}, got ${JSON.stringify(text)}`);
  }
  return value;
}

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const faults = { faultRate: setting('LEDGER_FAULT_RATE', 1), writeDelayMs: setting('LEDGER_WRITE_DELAY_MS', 60_000) };
  await runWorker(config, { wrapLedger: (ledger) => new FaultInjectingLedger(ledger, faults) });
}

main().catch((err) => {
  process.stderr.write(
    `worker failed: ${err instanceof ConfigError ? `configuration error: ${err.message}` : ((err as Error).stack ?? err)}\n`,
  );
  process.exit(err instanceof ConfigError ? 2 : 1);
});
