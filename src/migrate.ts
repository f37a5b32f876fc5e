/**
 * `npm run migrate` (`node dist/migrate.js` from a build): brings the service's database
 * (LEDGER_URL, or DATA_DIR/ledger.db) to this release's schema, as a step of a deploy before
 * its workers and gateways start; run again, it changes nothing. Workers and gateways never
 * migrate a database in use: one at an older schema stops them, naming this command.
 */
import { loadConfigOrExit } from './config';
import { describeLedger, migrateLedger } from './ledger/open';
import { failureText } from './start-failure';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const { from, to } = await migrateLedger(config);
  const done = from === to ? `at schema version ${to}, nothing to do` : `schema version ${from} -> ${to}`;
  process.stdout.write(`${describeLedger(config)}: ${done}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`migrate failed: ${failureText(err)}\n`);
  process.exit(1);
});
