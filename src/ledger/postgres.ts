/**
 * The ledger in PostgreSQL, shared by every worker and gateway of a deployment that has
 * outgrown one machine. Same rules as the SQLite store, kept by the database:
 * UNIQUE (payment_id, kind) on entries and CHECK (balance >= 0) on accounts.
 *
 * Concurrent charges of one account from many workers: each write is one transaction whose
 * first statement is a single guarded UPDATE (`balance = balance - $1 ... AND balance >= $1`).
 * PostgreSQL takes the account's row lock for it and, if another transaction held that lock,
 * re-checks the guard against the balance that transaction committed; so the test and the
 * debit are one atomic step, with no read-modify-write in this process and no SELECT ...
 * FOR UPDATE round trip. Taking the row lock before inserting the entry also makes entry ids
 * follow commit order within an account, so replaying an account's entries by id retraces
 * its real balances.
 */
import pg from 'pg';
import {
  type Account,
  type ApiKeyRecord,
  type ChargeOutcome,
  type EntryKind,
  InsufficientFundsError,
  type Ledger,
  type LedgerEntry,
  LedgerSchemaBehind,
  type Migration,
  NoChargeError,
  type NotedAttempt,
  type PaymentRecord,
  type RefundOutcome,
  type SchemaVersions,
  TransientLedgerError,
  type WriteOptions,
} from './ledger';
import { redactUrl } from '../config';

export interface PostgresLedgerOptions {
  /** postgres:// or postgresql:// URL */
  url: string;
  openingBalance: number;
  /** POSTGRES_TIMEOUTS when absent. */
  timeouts?: Partial<PostgresTimeouts>;
  /** Bring an older schema up to date (`npm run migrate`); else such a database is refused. An empty one is always given the current schema. */
  migrate?: boolean;
}

/**
 * How long the ledger lets PostgreSQL take, set on every connection of the pool. The waits
 * are shorter than an activity attempt (10 s), so a stuck ledger call fails as a transient
 * fault and is retried, rather than hanging until the attempt is abandoned. 0: none set here.
 */
export interface PostgresTimeouts {
  /** The server cancels a statement that runs longer (statement_timeout, SQLSTATE 57014). */
  statementMs: number;
  /** The server gives up waiting for a lock, such as an account's row lock, after this (lock_timeout, 55P03). */
  lockMs: number;
  /** The server ends a session left idle inside a transaction this long, releasing its locks. */
  idleInTransactionMs: number;
  /** Waiting for a connection from the pool, or for a new one to open. */
  connectMs: number;
}

export const POSTGRES_TIMEOUTS: PostgresTimeouts = { statementMs: 5000, lockMs: 3000, idleInTransactionMs: 10_000, connectMs: 5000 };

/**
 * Schema versions, applied in order once each (table ledger_migrations counts them); an applied
 * one is never edited, a change is a new one at the end. A process's start applies them only to
 * an empty database; `npm run migrate` applies them to one in use, without the statement timeout.
 */
const MIGRATIONS: readonly Migration[] = [
  {
    sql: `CREATE TABLE accounts (
     account_id text PRIMARY KEY,
     balance    bigint NOT NULL CHECK (balance >= 0),
     opened_at  timestamptz NOT NULL DEFAULT now()
   );
   CREATE TABLE entries (
     id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     payment_id text NOT NULL,
     kind       text NOT NULL CHECK (kind IN ('charge', 'refund')),
     account_id text NOT NULL REFERENCES accounts (account_id),
     amount     bigint NOT NULL CHECK (amount > 0),
     run_id     text NOT NULL,
     at         timestamptz NOT NULL DEFAULT now(),
     UNIQUE (payment_id, kind)
   );
   CREATE INDEX entries_by_account ON entries (account_id, id);`,
    locks: 'nothing in use: it creates the first tables',
  },
  {
    sql: `CREATE TABLE payment_records (
     payment_id  text PRIMARY KEY,
     status      text NOT NULL,
     account_id  text,
     amount      bigint,
     refunded    boolean NOT NULL,
     expires_at  text NOT NULL,
     charge_reference text,
     run_id      text NOT NULL,
     recorded_at timestamptz NOT NULL DEFAULT now()
   );`,
    locks: 'nothing in use: a new table',
  },
  {
    sql: `CREATE TABLE charge_attempts (
     payment_id text NOT NULL,
     run_id     text NOT NULL,
     attempt    integer NOT NULL,
     noted_at   timestamptz NOT NULL DEFAULT now(),
     PRIMARY KEY (payment_id, run_id, attempt)
   );`,
    locks: 'nothing in use: a new table',
  },
  {
    sql: `CREATE TABLE api_keys (
     id           text PRIMARY KEY,
     tenant       text NOT NULL,
     scope        text NOT NULL CHECK (scope IN ('read', 'write')),
     name         text,
     secret_hash  text NOT NULL,
     created_at   timestamptz NOT NULL DEFAULT now(),
     last_used_at timestamptz,
     revoked_at   timestamptz
   );`,
    locks: 'nothing in use: a new table',
  },
  {
    sql: 'ALTER TABLE entries ADD COLUMN key_id text;',
    locks:
      'ACCESS EXCLUSIVE on entries, which every charge and refund writes, for a moment: a nullable column without a default changes the catalog, not the rows. It waits behind transactions open on entries, and they behind it, for up to lock_timeout (3 s), after which it fails and may be run again',
  },
  {
    // The scope `admin`. api_keys_scope_check is the name PostgreSQL gave the column's CHECK in
    // the migration that made the table; a CHECK cannot be altered, only replaced.
    sql: `ALTER TABLE api_keys
     DROP CONSTRAINT api_keys_scope_check,
     ADD CONSTRAINT api_keys_scope_check CHECK (scope IN ('read', 'write', 'admin'));`,
    locks:
      'ACCESS EXCLUSIVE on api_keys, a small table no charge or refund touches, briefly: while the new CHECK reads its rows. Key lookups of gateways whose cache expires meanwhile wait that long',
  },
];

/** Advisory lock key held while migrating ("ledger" in ASCII). */
const MIGRATION_LOCK = 0x6c6564676572;

/** A timestamptz column as toISOString writes it (what the SQLite store keeps). */
const iso = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

const ENTRY = `payment_id AS "paymentId", kind, account_id AS "accountId", amount, run_id AS "runId", key_id AS "keyId", ${iso('at')} AS at`;

const KEY = `id, tenant, scope, name, secret_hash AS "secretHash", ${iso('created_at')} AS "createdAt",
  ${iso('last_used_at')} AS "lastUsedAt", ${iso('revoked_at')} AS "revokedAt"`;

const SQL = {
  entriesOf: `SELECT ${ENTRY} FROM entries WHERE payment_id = $1 ORDER BY id`,
  openAccount: 'INSERT INTO accounts (account_id, balance) VALUES ($1, $2) ON CONFLICT (account_id) DO NOTHING',
  debit: 'UPDATE accounts SET balance = balance - $1 WHERE account_id = $2 AND balance >= $1',
  credit: 'UPDATE accounts SET balance = balance + $1 WHERE account_id = $2',
  insertEntry: `INSERT INTO entries (payment_id, kind, account_id, amount, run_id, key_id) VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (payment_id, kind) DO NOTHING RETURNING ${ENTRY}`,
  balance: 'SELECT balance FROM accounts WHERE account_id = $1',
  insertRecord: `INSERT INTO payment_records (payment_id, status, account_id, amount, refunded, expires_at, charge_reference, run_id)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (payment_id) DO NOTHING`,
  record:
    'SELECT payment_id AS "paymentId", status, account_id AS "accountId", amount, refunded, ' +
    `expires_at AS "expiresAt", true AS expired,
    charge_reference AS "chargeReference" FROM payment_records WHERE payment_id = $1`,
  // One round trip: the note, whether it was there already, and whether another run's is (the
  // outer query does not see the CTE's insert, and looks only for other runs' notes).
  noteChargeAttempt:
    `WITH noted AS (
      INSERT INTO charge_attempts (payment_id, run_id, attempt) VALUES ($1, $2, $3) ` +
    `ON CONFLICT (payment_id, run_id, attempt) DO NOTHING RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM charge_attempts WHERE payment_id = $1 AND run_id <> $2) AS "earlierRun", ` +
    'NOT EXISTS (SELECT 1 FROM noted) AS repeated',
  accountEntries: `SELECT ${ENTRY} FROM entries WHERE account_id = $1 ORDER BY id DESC LIMIT $2`,
  createKey: `INSERT INTO api_keys (id, tenant, scope, name, secret_hash) VALUES ($1, $2, $3, $4, $5) RETURNING ${KEY}`,
  keyById: `SELECT ${KEY} FROM api_keys WHERE id = $1`,
  listKeys: `SELECT ${KEY} FROM api_keys ORDER BY created_at, id`,
  revokeKey: `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1 RETURNING ${KEY}`,
  noteKeyUsed: 'UPDATE api_keys SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)',
};

/** bigint columns as numbers: amounts and balances stay far below 2^53. */
const TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 ? Number : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/**
 * SQLSTATEs that say the server could not do it now, not that the request was wrong: among
 * them a statement or lock timeout (57014, 55P03) and a session ended idle in a transaction (25P03).
 */
const RETRYABLE_SQLSTATE = /^(08|53|57P0[1-3]|57014|55P03|25P03|40001|40P01)/;

/**
 * A failure to reach the database, or one it says is passing, as a TransientLedgerError.
 * A connection that broke after COMMIT was sent leaves the outcome unknown; the retry finds
 * the entry by its unique key, so that is safe too.
 */
function asLedgerError(err: unknown): unknown {
  if (err instanceof InsufficientFundsError || err instanceof NoChargeError) return err;
  if (err instanceof pg.DatabaseError) {
    return RETRYABLE_SQLSTATE.test(err.code ?? '') ? new TransientLedgerError(`ledger database: ${err.message}`) : err;
  }
  // Socket errors carry a code (ECONNREFUSED, ECONNRESET...); the pool's own say what broke.
  // Read by shape, not instanceof Error: Node's socket errors may come from another realm.
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown };
  if (typeof message === 'string' && (typeof code === 'string' || /connect|terminated|timeout/i.test(message))) {
    return new TransientLedgerError(`ledger database unreachable: ${message}`);
  }
  return err;
}

export class PostgresLedger implements Ledger {
  private readonly pool: pg.Pool;

  /** The schema version the database had, and has now. */
  schema: SchemaVersions = { from: 0, to: 0 };

  /** Connects, and gives an empty database the schema (several processes may do this at once) or, with `migrate`, brings an older one up to date. */
  static async open(options: PostgresLedgerOptions): Promise<PostgresLedger> {
    const ledger = new PostgresLedger(options);
    try {
      ledger.schema = await ledger.guard(() => ledger.migrate(options.migrate ?? false));
    } catch (err) {
      await ledger.close();
      throw err;
    }
    return ledger;
  }

  private readonly timeouts: PostgresTimeouts;

  private constructor(private readonly options: PostgresLedgerOptions) {
    const timeouts = (this.timeouts = { ...POSTGRES_TIMEOUTS, ...options.timeouts });
    this.pool = new pg.Pool({
      connectionString: options.url,
      types: TYPES,
      application_name: 'payments-ledger',
      connectionTimeoutMillis: timeouts.connectMs,
      keepAlive: true,
      statement_timeout: timeouts.statementMs,
      lock_timeout: timeouts.lockMs,
      idle_in_transaction_session_timeout: timeouts.idleInTransactionMs,
      // For a server that stops answering altogether: a second after it should have cancelled the statement.
      ...(timeouts.statementMs > 0 && { query_timeout: timeouts.statementMs + 1000 }),
    });
    // An idle connection the server dropped (a restart, a failover) is discarded by the pool
    // and replaced on the next query; without a listener its error would end the process.
    this.pool.on('error', () => undefined);
  }

  charge(
    paymentId: string,
    accountId: string,
    amount: number,
    runId: string,
    { deadline, keyId = null }: WriteOptions = {},
  ): Promise<ChargeOutcome> {
    return this.guard(async () => {
      const earlier = await this.chargeOf(paymentId);
      if (earlier) return earlier;
      const charge = await this.transaction(async (db) => {
        await db.query(SQL.openAccount, [accountId, this.options.openingBalance]);
        if ((await db.query(SQL.debit, [amount, accountId])).rowCount === 0) return undefined;
        return (await db.query<LedgerEntry>(SQL.insertEntry, [paymentId, 'charge', accountId, amount, runId, keyId])).rows[0];
      }, deadline);
      if (charge) return { charge, existing: false, refunded: false };
      // Rolled back: either a concurrent call charged this payment-id first (its entry took
      // the key, and perhaps the money this call waited for), or the account lacks the money.
      const raced = await this.chargeOf(paymentId);
      if (raced) return raced;
      // The rollback took a first use's account row with it: such an account holds the opening balance.
      const { rows } = await this.pool.query<{ balance: number }>(SQL.balance, [accountId]);
      throw new InsufficientFundsError(accountId, rows[0]?.balance ?? this.options.openingBalance, amount);
    });
  }

  refund(paymentId: string, runId: string, { deadline, keyId = null }: WriteOptions = {}): Promise<RefundOutcome> {
    return this.guard(async () => {
      const entries = await this.entries(paymentId);
      const earlier = entries.find((e) => e.kind === 'refund');
      if (earlier) return { refund: earlier, existing: true };
      const charge = entries.find((e) => e.kind === 'charge');
      if (!charge) throw new NoChargeError(paymentId);
      const refund = await this.transaction(async (db) => {
        await db.query(SQL.credit, [charge.amount, charge.accountId]);
        return (await db.query<LedgerEntry>(SQL.insertEntry, [paymentId, 'refund', charge.accountId, charge.amount, runId, keyId])).rows[0];
      }, deadline);
      if (refund) return { refund, existing: false };
      // The insert found the key taken, which happens only once the other refund committed.
      return { refund: (await this.entry(paymentId, 'refund'))!, existing: true };
    });
  }

  account(accountId: string, limit = 100): Promise<Account> {
    return this.guard(async () => {
      const [balance, entries] = await Promise.all([
        this.pool.query<{ balance: number }>(SQL.balance, [accountId]),
        this.pool.query<LedgerEntry>(SQL.accountEntries, [accountId, limit]),
      ]);
      return { accountId, balance: balance.rows[0]?.balance ?? this.options.openingBalance, entries: entries.rows };
    });
  }

  recordOutcome(record: PaymentRecord, runId: string): Promise<void> {
    const { paymentId, status, accountId, amount, refunded, expiresAt, chargeReference } = record;
    return this.guard(async () => {
      await this.pool.query(SQL.insertRecord, [paymentId, status, accountId, amount, refunded, expiresAt, chargeReference, runId]);
    });
  }

  recordOf(paymentId: string): Promise<PaymentRecord | undefined> {
    return this.guard(async () => (await this.pool.query<PaymentRecord>(SQL.record, [paymentId])).rows[0]);
  }

  noteChargeAttempt(paymentId: string, runId: string, attempt: number): Promise<NotedAttempt> {
    return this.guard(async () => (await this.pool.query<NotedAttempt>(SQL.noteChargeAttempt, [paymentId, runId, attempt])).rows[0]!);
  }

  entriesOf(paymentId: string): Promise<LedgerEntry[]> {
    return this.guard(() => this.entries(paymentId));
  }

  createKey(key: Parameters<Ledger['createKey']>[0]): Promise<ApiKeyRecord> {
    const { id, tenant, scope, name, secretHash } = key;
    return this.guard(async () => (await this.pool.query<ApiKeyRecord>(SQL.createKey, [id, tenant, scope, name, secretHash])).rows[0]!);
  }

  keyById(id: string): Promise<ApiKeyRecord | undefined> {
    return this.guard(async () => (await this.pool.query<ApiKeyRecord>(SQL.keyById, [id])).rows[0]);
  }

  listKeys(): Promise<ApiKeyRecord[]> {
    return this.guard(async () => (await this.pool.query<ApiKeyRecord>(SQL.listKeys)).rows);
  }

  revokeKey(id: string): Promise<ApiKeyRecord | undefined> {
    return this.guard(async () => (await this.pool.query<ApiKeyRecord>(SQL.revokeKey, [id])).rows[0]);
  }

  noteKeyUsed(id: string, at: string): Promise<void> {
    return this.guard(async () => {
      await this.pool.query(SQL.noteKeyUsed, [id, at]);
    });
  }

  ping(): Promise<void> {
    return this.guard(async () => {
      await this.pool.query('SELECT 1');
    });
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private async entries(paymentId: string): Promise<LedgerEntry[]> {
    return (await this.pool.query<LedgerEntry>(SQL.entriesOf, [paymentId])).rows;
  }

  private async entry(paymentId: string, kind: EntryKind): Promise<LedgerEntry | undefined> {
    return (await this.entries(paymentId)).find((e) => e.kind === kind);
  }

  private async chargeOf(paymentId: string): Promise<ChargeOutcome | undefined> {
    const entries = await this.entries(paymentId);
    const charge = entries.find((e) => e.kind === 'charge');
    return charge && { charge, existing: true, refunded: entries.some((e) => e.kind === 'refund') };
  }

  /**
   * Runs `body` in a transaction: commits what it returns, rolls back when it returns undefined.
   * With a deadline, its statements may not run past it, and it is rolled back rather than
   * committed once the deadline has passed.
   */
  private async transaction<T>(body: (db: pg.PoolClient) => Promise<T | undefined>, deadline?: number): Promise<T | undefined> {
    const db = await this.pool.connect();
    let broken: Error | undefined;
    // The server may end the session between two statements (idle_in_transaction_session_timeout,
    // a restart); unheard, that error event would end the process. The next query fails instead.
    const ended = (err: Error) => (broken = err);
    db.on('error', ended);
    const overdue = () => new TransientLedgerError('the activity attempt ended before the transaction could commit; rolled back');
    try {
      await db.query('BEGIN');
      if (deadline !== undefined) {
        const left = Math.floor(deadline - Date.now());
        if (left <= 0) throw overdue();
        // SET takes no parameters; `left` is an integer computed here.
        await db.query(`SET LOCAL statement_timeout = ${Math.min(left, this.timeouts.statementMs || left)}`);
      }
      const result = await body(db);
      if (result !== undefined && deadline !== undefined && Date.now() >= deadline) throw overdue();
      await db.query(result === undefined ? 'ROLLBACK' : 'COMMIT');
      return result;
    } catch (err) {
      await db.query('ROLLBACK').catch((rollbackFailed: Error) => (broken = rollbackFailed));
      throw err;
    } finally {
      // A connection that could not even roll back is closed rather than reused.
      db.off('error', ended);
      db.release(broken);
    }
  }

  private async migrate(allowed: boolean): Promise<SchemaVersions> {
    const versionOf = async (db: pg.PoolClient | pg.Pool): Promise<number> => {
      const { rows } = await db.query<{ counted: boolean }>("SELECT to_regclass('ledger_migrations') IS NOT NULL AS counted");
      if (!rows[0]!.counted) return 0;
      return (await db.query<{ version: number }>('SELECT coalesce(max(version), 0) AS version FROM ledger_migrations')).rows[0]!.version;
    };
    const from = await versionOf(this.pool);
    if (from >= MIGRATIONS.length) return { from, to: from };
    // Refused without waiting for the migration lock, which `npm run migrate` may hold for long.
    if (from > 0 && !allowed) throw new LedgerSchemaBehind(redactUrl(this.options.url), from, MIGRATIONS.length);
    await this.transaction(async (db) => {
      // Processes starting together on an empty database: one creates it, the others wait here, then find it done.
      await db.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      // Before reading the version: a table made by a transaction that committed while this one
      // waited for the lock is seen only once a statement takes a lock on it.
      await db.query(
        'CREATE TABLE IF NOT EXISTS ledger_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
      );
      const now = await versionOf(db);
      if (now > 0 && now < MIGRATIONS.length && !allowed) throw new LedgerSchemaBehind(redactUrl(this.options.url), now, MIGRATIONS.length);
      for (let version = now + 1; version <= MIGRATIONS.length; version++) {
        await db.query(MIGRATIONS[version - 1]!.sql);
        await db.query('INSERT INTO ledger_migrations (version) VALUES ($1)', [version]);
      }
      return true;
    });
    return { from, to: await versionOf(this.pool) };
  }

  private async guard<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (err) {
      throw asLedgerError(err);
    }
  }
}
