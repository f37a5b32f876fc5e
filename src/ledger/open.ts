/** Picks the ledger store of a worker or gateway process from its configuration. */
import * as path from 'node:path';
import { type Config, redactUrl } from '../config';
import type { Ledger, SchemaVersions } from './ledger';
import type { PostgresLedger } from './postgres';
import { SqliteLedger } from './sqlite';

/**
 * PostgreSQL at LEDGER_URL, or else the SQLite file DATA_DIR/ledger.db: made at the current
 * schema when there is none yet, refused (LedgerSchemaBehind) when it is older.
 */
export async function openLedger(config: Config): Promise<Ledger> {
  return openStore(config, false);
}

/** `npm run migrate`: brings the database to the current schema (PostgreSQL without the statement timeout); the versions before and after. */
export async function migrateLedger(config: Config): Promise<SchemaVersions> {
  const store = await openStore(config, true);
  await store.close();
  return store.schema;
}

async function openStore(config: Config, migrate: boolean): Promise<PostgresLedger | SqliteLedger> {
  if (!config.ledgerUrl)
    return new SqliteLedger({ file: path.join(config.dataDir, 'ledger.db'), openingBalance: config.openingBalance, migrate });
  // Loaded only when chosen: the PostgreSQL client would cost every SQLite process's start about 35 ms.
  const { PostgresLedger } = require('./postgres') as typeof import('./postgres');
  return PostgresLedger.open({
    url: config.ledgerUrl,
    openingBalance: config.openingBalance,
    migrate,
    ...(migrate && { timeouts: { statementMs: 0 } }),
  });
}

/** Where the ledger is, for the start-up log line: never the password. */
export function describeLedger(config: Config): string {
  return config.ledgerUrl ? `ledger ${redactUrl(config.ledgerUrl)}` : `ledger ${path.join(config.dataDir, 'ledger.db')}`;
}
