/** Picks the ledger store of a worker or gateway process from its configuration. */
import * as path from 'node:path';
import { type Config, redactUrl } from '../config';
import type { Ledger } from './ledger';
import { PostgresLedger } from './postgres';
import { SqliteLedger } from './sqlite';

/** PostgreSQL at LEDGER_URL (schema migrated), or else the SQLite file DATA_DIR/ledger.db. */
export async function openLedger(config: Config): Promise<Ledger> {
  return config.ledgerUrl
    ? PostgresLedger.open({ url: config.ledgerUrl, openingBalance: config.openingBalance })
    : new SqliteLedger({ file: path.join(config.dataDir, 'ledger.db'), openingBalance: config.openingBalance });
}

/** Where the ledger is, for the start-up log line: never the password. */
export function describeLedger(config: Config): string {
  return config.ledgerUrl ? `ledger ${redactUrl(config.ledgerUrl)}` : `ledger ${path.join(config.dataDir, 'ledger.db')}`;
}
