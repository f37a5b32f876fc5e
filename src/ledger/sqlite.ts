/**
 * The ledger in a SQLite file (WAL mode, so worker and gateway processes share it).
 * The database, not memory, keeps money moving at most once: UNIQUE (payment_id, kind)
 * on entries, and CHECK (balance >= 0) on accounts, each write in one IMMEDIATE transaction.
 */
import Database from 'better-sqlite3';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  type Account,
  type ApiKeyRecord,
  type ChargeOutcome,
  type EntryKind,
  InsufficientFundsError,
  type KeyScope,
  type Ledger,
  type LedgerEntry,
  NoChargeError,
  type NotedAttempt,
  type PaymentRecord,
  type RefundOutcome,
  LedgerSchemaBehind,
  type Migration,
  type SchemaVersions,
  TransientLedgerError,
  type WriteOptions,
} from './ledger';
import type { PaymentStatus } from '../domain/contract';

export interface SqliteLedgerOptions {
  file: string;
  openingBalance: number;
  now?: () => Date;
  /** How long a call waits in all for another connection's lock before it fails as transient (5 s). */
  lockWaitMs?: number;
  /** Bring an older schema up to date (`npm run migrate`); else such a database is refused. A new one is always made at the current schema. */
  migrate?: boolean;
}

/**
 * SQLite waits for a lock inside the call, blocking the event loop, so it waits only this
 * long at a time; between tries the call pauses as long again with the event loop free.
 */
const BUSY_WAIT_MS = 20;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS accounts (
  account_id TEXT PRIMARY KEY,
  balance    INTEGER NOT NULL CHECK (balance >= 0),
  opened_at  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
  id         INTEGER PRIMARY KEY AUTOINCREMENT,
  payment_id TEXT NOT NULL,
  kind       TEXT NOT NULL CHECK (kind IN ('charge', 'refund')),
  account_id TEXT NOT NULL REFERENCES accounts (account_id),
  amount     INTEGER NOT NULL CHECK (amount > 0),
  run_id     TEXT NOT NULL,
  at         TEXT NOT NULL,
  UNIQUE (payment_id, kind)
);
CREATE INDEX IF NOT EXISTS entries_by_account ON entries (account_id, id);
CREATE TABLE IF NOT EXISTS payment_records (
  payment_id  TEXT PRIMARY KEY,
  status      TEXT NOT NULL,
  account_id  TEXT,
  amount      INTEGER,
  refunded    INTEGER NOT NULL,
  expires_at  TEXT NOT NULL,
  charge_reference TEXT,
  run_id      TEXT NOT NULL,
  recorded_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS charge_attempts (
  payment_id TEXT NOT NULL,
  run_id     TEXT NOT NULL,
  attempt    INTEGER NOT NULL,
  noted_at   TEXT NOT NULL,
  PRIMARY KEY (payment_id, run_id, attempt)
);
CREATE TABLE IF NOT EXISTS api_keys (
  id           TEXT PRIMARY KEY,
  tenant       TEXT NOT NULL,
  scope        TEXT NOT NULL CHECK (scope IN ('read', 'write')),
  name         TEXT,
  secret_hash  TEXT NOT NULL,
  created_at   TEXT NOT NULL,
  last_used_at TEXT,
  revoked_at   TEXT
);
`;

interface RecordRow {
  payment_id: string;
  status: PaymentStatus;
  account_id: string | null;
  amount: number | null;
  refunded: number;
  expires_at: string;
  charge_reference: string | null;
}

interface EntryRow {
  payment_id: string;
  kind: EntryKind;
  account_id: string;
  amount: number;
  run_id: string;
  key_id: string | null;
  at: string;
}

function toEntry(row: EntryRow): LedgerEntry {
  return {
    paymentId: row.payment_id,
    kind: row.kind,
    accountId: row.account_id,
    amount: row.amount,
    runId: row.run_id,
    keyId: row.key_id,
    at: row.at,
  };
}

const ENTRY_COLUMNS = 'payment_id, kind, account_id, amount, run_id, key_id, at';

interface KeyRow {
  id: string;
  tenant: string;
  scope: KeyScope;
  name: string | null;
  secret_hash: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

function toKey(row: KeyRow): ApiKeyRecord {
  return {
    id: row.id,
    tenant: row.tenant,
    scope: row.scope,
    name: row.name,
    secretHash: row.secret_hash,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    revokedAt: row.revoked_at,
  };
}

const KEY_COLUMNS = 'id, tenant, scope, name, secret_hash, created_at, last_used_at, revoked_at';

/** Changes to the schema above, counted by PRAGMA user_version. */
const MIGRATIONS: readonly Migration[] = [
  {
    sql: 'ALTER TABLE entries ADD COLUMN key_id TEXT',
    locks: "the database's write lock, for a moment: SQLite adds a nullable column by editing the schema, not the rows",
  },
  {
    // The scope `admin`. SQLite cannot alter a CHECK, so the table is made again under its own
    // name and its rows copied over; nothing refers to it, and it has no index but its primary key.
    sql: `CREATE TABLE api_keys_admin (
  id           TEXT PRIMARY KEY,
  tenant       TEXT NOT NULL,
  scope        TEXT NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
  name         TEXT,
  secret_hash  TEXT NOT NULL,
  created_at   TEXT NOT NULL,
  last_used_at TEXT,
  revoked_at   TEXT
);
INSERT INTO api_keys_admin (id, tenant, scope, name, secret_hash, created_at, last_used_at, revoked_at)
  SELECT id, tenant, scope, name, secret_hash, created_at, last_used_at, revoked_at FROM api_keys;
DROP TABLE api_keys;
ALTER TABLE api_keys_admin RENAME TO api_keys;`,
    locks: "the database's write lock while api_keys, a small table, is copied: charges and refunds wait that long, key lookups not at all",
  },
];

/**
 * Brings the schema to the current version in one IMMEDIATE transaction, so that two processes
 * never apply the same change: a new database gets the whole schema, an older one only with
 * `migrate`. A database already up to date is only read, so opening it waits for no writer.
 */
function migrate(db: Database.Database, file: string, allowed: boolean): SchemaVersions {
  const version = () => db.pragma('user_version', { simple: true }) as number;
  const from = version();
  if (from >= MIGRATIONS.length) return { from, to: from };
  db.transaction(() => {
    const now = version();
    if (now >= MIGRATIONS.length) return;
    const created = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'entries'").get() !== undefined;
    if (created && !allowed) throw new LedgerSchemaBehind(file, now, MIGRATIONS.length);
    db.exec(SCHEMA);
    for (let next = now; next < MIGRATIONS.length; next++) db.exec(MIGRATIONS[next]!.sql);
    db.pragma(`user_version = ${MIGRATIONS.length}`);
  }).immediate();
  return { from, to: version() };
}

/** How long a process opening the database waits, in all, for others that are setting it up too. */
const SET_UP_WAIT_MS = 15_000;

/**
 * Journal mode, durability and schema, all idempotent. Processes that open a new database at the
 * same moment (`npm start`'s worker and gateway) can get SQLITE_BUSY here without SQLite's busy
 * handler waiting (switching to WAL takes a lock it does not wait for), so a busy setup is tried
 * again, blocking the thread between tries: nothing else runs yet.
 */
function setUp(db: Database.Database, file: string, allowMigration: boolean): SchemaVersions {
  const deadline = Date.now() + SET_UP_WAIT_MS;
  for (;;) {
    try {
      db.pragma('journal_mode = WAL');
      // FULL: a commit the activity reported is on disk before Temporal records it.
      db.pragma('synchronous = FULL');
      db.pragma('foreign_keys = ON');
      return migrate(db, file, allowMigration);
    } catch (err) {
      if (!/^SQLITE_BUSY/.test(String((err as { code?: unknown }).code)) || Date.now() > deadline) throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
}

export class SqliteLedger implements Ledger {
  private readonly db: Database.Database;
  private readonly openingBalance: number;
  private readonly now: () => Date;
  private readonly lockWaitMs: number;
  private readonly statements;
  private readonly chargeTx;
  private readonly refundTx;
  /** The schema version the file had, and has now. */
  readonly schema: SchemaVersions;

  constructor(options: SqliteLedgerOptions) {
    fs.mkdirSync(path.dirname(options.file), { recursive: true });
    this.db = new Database(options.file);
    // At start, before anything else runs here, the schema may wait for another process as long as it must.
    this.db.pragma('busy_timeout = 5000');
    try {
      this.schema = setUp(this.db, options.file, options.migrate ?? false);
    } catch (err) {
      this.db.close();
      throw err;
    }
    this.db.pragma(`busy_timeout = ${BUSY_WAIT_MS}`);
    this.openingBalance = options.openingBalance;
    this.now = options.now ?? (() => new Date());
    this.lockWaitMs = options.lockWaitMs ?? 5000;

    const db = this.db;
    this.statements = {
      entry: db.prepare<[string, string], EntryRow>(`SELECT ${ENTRY_COLUMNS} FROM entries WHERE payment_id = ? AND kind = ?`),
      entriesOf: db.prepare<[string], EntryRow>(`SELECT ${ENTRY_COLUMNS} FROM entries WHERE payment_id = ? ORDER BY id`),
      openAccount: db.prepare<[string, number, string]>(
        'INSERT INTO accounts (account_id, balance, opened_at) VALUES (?, ?, ?) ON CONFLICT (account_id) DO NOTHING',
      ),
      balance: db.prepare<[string], { balance: number }>('SELECT balance FROM accounts WHERE account_id = ?'),
      debit: db.prepare<[number, string, number]>('UPDATE accounts SET balance = balance - ? WHERE account_id = ? AND balance >= ?'),
      credit: db.prepare<[number, string]>('UPDATE accounts SET balance = balance + ? WHERE account_id = ?'),
      insertEntry: db.prepare<[string, string, string, number, string, string | null, string]>(
        'INSERT INTO entries (payment_id, kind, account_id, amount, run_id, key_id, at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      insertRecord: db.prepare<[string, string, string | null, number | null, number, string, string | null, string, string]>(
        `INSERT INTO payment_records (payment_id, status, account_id, amount, refunded, expires_at, charge_reference, run_id, recorded_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (payment_id) DO NOTHING`,
      ),
      record: db.prepare<[string], RecordRow>(
        'SELECT payment_id, status, account_id, amount, refunded, expires_at, charge_reference FROM payment_records WHERE payment_id = ?',
      ),
      noteChargeAttempt: db.prepare<[string, string, number, string]>(
        'INSERT INTO charge_attempts (payment_id, run_id, attempt, noted_at) VALUES (?, ?, ?, ?) ' +
          'ON CONFLICT (payment_id, run_id, attempt) DO NOTHING',
      ),
      otherChargeRun: db.prepare<[string, string], { found: number }>(
        'SELECT 1 AS found FROM charge_attempts WHERE payment_id = ? AND run_id <> ? LIMIT 1',
      ),
      accountEntries: db.prepare<[string, number], EntryRow>(
        `SELECT ${ENTRY_COLUMNS} FROM entries WHERE account_id = ? ORDER BY id DESC LIMIT ?`,
      ),
      createKey: db.prepare<[string, string, string, string | null, string, string], KeyRow>(
        `INSERT INTO api_keys (id, tenant, scope, name, secret_hash, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING ${KEY_COLUMNS}`,
      ),
      keyById: db.prepare<[string], KeyRow>(`SELECT ${KEY_COLUMNS} FROM api_keys WHERE id = ?`),
      listKeys: db.prepare<[], KeyRow>(`SELECT ${KEY_COLUMNS} FROM api_keys ORDER BY created_at, id`),
      revokeKey: db.prepare<[string, string], KeyRow>(
        `UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ? RETURNING ${KEY_COLUMNS}`,
      ),
      // Every timestamp here is toISOString's, so comparing the text compares the times.
      noteKeyUsed: db.prepare<[string, string, string]>(
        'UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)',
      ),
    };

    this.chargeTx = db.transaction(
      (paymentId: string, accountId: string, amount: number, runId: string, keyId: string | null): ChargeOutcome => {
        const s = this.statements;
        const existing = s.entry.get(paymentId, 'charge');
        if (existing) {
          return { charge: toEntry(existing), existing: true, refunded: s.entry.get(paymentId, 'refund') !== undefined };
        }
        const at = this.now().toISOString();
        s.openAccount.run(accountId, this.openingBalance, at);
        if (s.debit.run(amount, accountId, amount).changes === 0) {
          throw new InsufficientFundsError(accountId, s.balance.get(accountId)!.balance, amount);
        }
        s.insertEntry.run(paymentId, 'charge', accountId, amount, runId, keyId, at);
        return { charge: { paymentId, kind: 'charge', accountId, amount, runId, keyId, at }, existing: false, refunded: false };
      },
    );

    this.refundTx = db.transaction((paymentId: string, runId: string, keyId: string | null): RefundOutcome => {
      const s = this.statements;
      const existing = s.entry.get(paymentId, 'refund');
      if (existing) return { refund: toEntry(existing), existing: true };
      const charge = s.entry.get(paymentId, 'charge');
      if (!charge) throw new NoChargeError(paymentId);
      const at = this.now().toISOString();
      s.credit.run(charge.amount, charge.account_id);
      s.insertEntry.run(paymentId, 'refund', charge.account_id, charge.amount, runId, keyId, at);
      return {
        refund: { paymentId, kind: 'refund', accountId: charge.account_id, amount: charge.amount, runId, keyId, at },
        existing: false,
      };
    });
  }

  charge(paymentId: string, accountId: string, amount: number, runId: string, options: WriteOptions = {}): Promise<ChargeOutcome> {
    return this.unlocked(() => this.chargeTx.immediate(paymentId, accountId, amount, runId, options.keyId ?? null));
  }

  refund(paymentId: string, runId: string, options: WriteOptions = {}): Promise<RefundOutcome> {
    return this.unlocked(() => this.refundTx.immediate(paymentId, runId, options.keyId ?? null));
  }

  account(accountId: string, limit = 100): Promise<Account> {
    return this.unlocked(() => ({
      accountId,
      balance: this.statements.balance.get(accountId)?.balance ?? this.openingBalance,
      entries: this.statements.accountEntries.all(accountId, limit).map(toEntry),
    }));
  }

  recordOutcome(record: PaymentRecord, runId: string): Promise<void> {
    const { paymentId, status, accountId, amount, refunded, expiresAt, chargeReference } = record;
    return this.unlocked(() => {
      this.statements.insertRecord.run(
        paymentId,
        status,
        accountId,
        amount,
        refunded ? 1 : 0,
        expiresAt,
        chargeReference,
        runId,
        this.now().toISOString(),
      );
    });
  }

  recordOf(paymentId: string): Promise<PaymentRecord | undefined> {
    return this.unlocked(() => {
      const row = this.statements.record.get(paymentId);
      return (
        row && {
          paymentId: row.payment_id,
          status: row.status,
          accountId: row.account_id,
          amount: row.amount,
          refunded: row.refunded === 1,
          expiresAt: row.expires_at,
          expired: true,
          chargeReference: row.charge_reference,
        }
      );
    });
  }

  noteChargeAttempt(paymentId: string, runId: string, attempt: number): Promise<NotedAttempt> {
    return this.unlocked(() => {
      const repeated = this.statements.noteChargeAttempt.run(paymentId, runId, attempt, this.now().toISOString()).changes === 0;
      return { earlierRun: this.statements.otherChargeRun.get(paymentId, runId) !== undefined, repeated };
    });
  }

  entriesOf(paymentId: string): Promise<LedgerEntry[]> {
    return this.unlocked(() => this.statements.entriesOf.all(paymentId).map(toEntry));
  }

  createKey(key: Parameters<Ledger['createKey']>[0]): Promise<ApiKeyRecord> {
    const { id, tenant, scope, name, secretHash } = key;
    return this.unlocked(() => toKey(this.statements.createKey.get(id, tenant, scope, name, secretHash, this.now().toISOString())!));
  }

  keyById(id: string): Promise<ApiKeyRecord | undefined> {
    return this.unlocked(() => {
      const row = this.statements.keyById.get(id);
      return row && toKey(row);
    });
  }

  listKeys(): Promise<ApiKeyRecord[]> {
    return this.unlocked(() => this.statements.listKeys.all().map(toKey));
  }

  revokeKey(id: string): Promise<ApiKeyRecord | undefined> {
    return this.unlocked(() => {
      const row = this.statements.revokeKey.get(this.now().toISOString(), id);
      return row && toKey(row);
    });
  }

  noteKeyUsed(id: string, at: string): Promise<void> {
    return this.unlocked(() => {
      const used = new Date(at).toISOString();
      this.statements.noteKeyUsed.run(used, id, used);
    });
  }

  ping(): Promise<void> {
    return this.unlocked(() => {
      this.db.prepare('SELECT 1').get();
    });
  }

  async close(): Promise<void> {
    this.db.close();
  }

  /**
   * Runs `call` (a whole transaction, or reads); while another connection holds the lock it
   * needs, tries again after a pause, for up to lockWaitMs, then fails as a transient fault
   * for the activity to retry. A failed try has changed nothing: its transaction rolled back.
   */
  private async unlocked<T>(call: () => T): Promise<T> {
    const deadline = Date.now() + this.lockWaitMs;
    for (;;) {
      try {
        return call();
      } catch (err) {
        // Read by shape: better-sqlite3's error class may belong to another realm (see the ledger test).
        if (!/^SQLITE_BUSY/.test(String((err as { code?: unknown }).code))) throw err;
        if (Date.now() >= deadline) {
          throw new TransientLedgerError(
            `ledger database locked by another connection for over ${this.lockWaitMs} ms: ${(err as Error).message}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, BUSY_WAIT_MS));
      }
    }
  }
}
