/**
 * One suite, both stores: a real SQLite file and a real PostgreSQL server (a throwaway
 * cluster). Money moves at most once per payment-id and kind, balances never go below
 * zero, also when many connections and processes write at once.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';
import { newKey, parseKey } from '../src/access/keys';
import { createGateway } from '../src/api';
import { loadConfig } from '../src/config';
import { FaultInjectingLedger } from '../tools/faults/ledger';
import { InsufficientFundsError, type KeyScope, type Ledger, NoChargeError, TransientLedgerError } from '../src/ledger/ledger';
import { migrateLedger, openLedger } from '../src/ledger/open';
import { PostgresLedger } from '../src/ledger/postgres';
import { SqliteLedger } from '../src/ledger/sqlite';
import { PROJECT_ROOT } from '../tools/paths';
import { ThrowawayPostgres } from '../tools/postgres';
import { call } from './helpers/gateway';
import { tempDir } from './helpers/servers';
import { TYPESCRIPT } from '../tools/launch';

jest.setTimeout(120_000);

const OPENING = 1000;

/** Where a ledger lives, as the environment of a process using it. */
type Location = Record<string, string>;

interface Store {
  name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** An empty ledger of its own. */
  fresh(): Promise<Location>;
  /** Raw SQL on the store, around the ledger: what the database itself allows. */
  sql(location: Location, statement: string): Promise<Record<string, unknown>[]>;
  /** Statements that take a database of this release back to the release before the scope admin, its schema version included. */
  beforeAdmin: string[];
}

const sqliteStore: Store = {
  name: 'SQLite',
  start: async () => undefined,
  stop: async () => undefined,
  fresh: async () => ({ DATA_DIR: tempDir('ledger') }),
  async sql(location, statement) {
    const db = new Database(path.join(location.DATA_DIR!, 'ledger.db'));
    try {
      const prepared = db.prepare(statement);
      if (prepared.reader) return prepared.all() as Record<string, unknown>[];
      prepared.run();
      return [];
    } catch (err) {
      // better-sqlite3's native addon is loaded once per Jest worker and keeps the SqliteError
      // class of the first test file there that opened a database. After another file, its
      // errors belong to that file's realm: not an Error to expect here, so `rejects.toThrow`
      // would report "did not throw". An Error of this realm, with the same message and code.
      const { message, code } = err as { message: string; code?: string };
      throw Object.assign(new Error(message, { cause: err }), { code });
    } finally {
      db.close();
    }
  },
  beforeAdmin: [
    `CREATE TABLE api_keys_before (
      id TEXT PRIMARY KEY, tenant TEXT NOT NULL, scope TEXT NOT NULL CHECK (scope IN ('read', 'write')), name TEXT,
      secret_hash TEXT NOT NULL, created_at TEXT NOT NULL, last_used_at TEXT, revoked_at TEXT)`,
    'INSERT INTO api_keys_before SELECT * FROM api_keys',
    'DROP TABLE api_keys',
    'ALTER TABLE api_keys_before RENAME TO api_keys',
    'PRAGMA user_version = 1',
  ],
};

let server: ThrowawayPostgres | undefined;
let databases = 0;
const postgresStore: Store = {
  name: 'PostgreSQL',
  async start() {
    server = await ThrowawayPostgres.create();
  },
  async stop() {
    await server?.destroy();
  },
  fresh: async () => ({ LEDGER_URL: await server!.createDatabase(`ledger_${++databases}`) }),
  async sql(location, statement) {
    const client = new pg.Client({ connectionString: location.LEDGER_URL });
    await client.connect();
    try {
      return (await client.query(statement)).rows;
    } finally {
      await client.end();
    }
  },
  beforeAdmin: [
    "ALTER TABLE api_keys DROP CONSTRAINT api_keys_scope_check, ADD CONSTRAINT api_keys_scope_check CHECK (scope IN ('read', 'write'))",
    'DELETE FROM ledger_migrations WHERE version = 6',
  ],
};

/** The ledger a worker or gateway with this environment opens. */
function open(location: Location): Promise<Ledger> {
  return openLedger(loadConfig({ ...location, OPENING_BALANCE: String(OPENING) }));
}

/** A process of this project (`npm run migrate`, `npm run keys`, ...) run to its end on the ledger at `location`. */
function runEntry(file: string, location: Location, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  // LEDGER_URL emptied unless given, so that a PostgreSQL of the surrounding shell is not used.
  const env = { ...process.env, LEDGER_URL: '', ...location, TEMPORAL_ADDRESS: '127.0.0.1:1', PORT: '0' };
  return promisify(execFile)(process.execPath, [...TYPESCRIPT, path.join(PROJECT_ROOT, file), ...args], { cwd: PROJECT_ROOT, env }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
  );
}

async function outcome<T>(promise: Promise<T>): Promise<T | string> {
  return promise.catch((err: Error) => err.name);
}

describe.each([sqliteStore, postgresStore])('$name ledger', (store) => {
  let location: Location;
  let ledger: Ledger;
  const others: Ledger[] = [];
  /** More ledgers on the same store: other connections, as other processes would have. */
  const another = async () => {
    const opened = await open(location);
    others.push(opened);
    return opened;
  };
  beforeAll(() => store.start());
  afterAll(() => store.stop());
  beforeEach(async () => {
    location = await store.fresh();
    ledger = await open(location);
  });
  afterEach(async () => {
    await Promise.all([ledger, ...others.splice(0)].map((l) => l.close()));
  });

  test('an account never used shows the opening balance and no entries', async () => {
    expect(await ledger.account('fresh')).toEqual({ accountId: 'fresh', balance: OPENING, entries: [] });
  });

  test('a charge debits once; repeating it returns the first charge and moves nothing', async () => {
    const first = await ledger.charge('p1', 'a', 300, 'run-1');
    expect(first).toMatchObject({
      existing: false,
      refunded: false,
      charge: { paymentId: 'p1', kind: 'charge', accountId: 'a', amount: 300, runId: 'run-1' },
    });
    expect(new Date(first.charge.at).toISOString()).toBe(first.charge.at);
    const again = await ledger.charge('p1', 'a', 300, 'run-2');
    expect(again).toEqual({ ...first, existing: true });
    expect((await ledger.account('a')).balance).toBe(700);
  });

  test("charge attempts are noted once each: a repeat and another run's note show", async () => {
    expect(await ledger.noteChargeAttempt('p1', 'run-1', 1)).toEqual({ earlierRun: false, repeated: false });
    expect(await ledger.noteChargeAttempt('p1', 'run-1', 1)).toEqual({ earlierRun: false, repeated: true });
    expect(await ledger.noteChargeAttempt('p1', 'run-1', 2)).toEqual({ earlierRun: false, repeated: false });
    expect(await ledger.noteChargeAttempt('p2', 'run-9', 1)).toEqual({ earlierRun: false, repeated: false });
    // A later run of p1 (say after Temporal forgot run-1) sees it, from another connection too.
    expect(await (await another()).noteChargeAttempt('p1', 'run-2', 1)).toEqual({ earlierRun: true, repeated: false });
  });

  test('a charge that would take the balance below zero is refused and changes nothing', async () => {
    await ledger.charge('p1', 'a', 800, 'r');
    await expect(ledger.charge('p2', 'a', 201, 'r')).rejects.toBeInstanceOf(InsufficientFundsError);
    expect(await ledger.entriesOf('p2')).toEqual([]);
    expect((await ledger.account('a')).balance).toBe(200);
    // Exactly the balance is fine: it may reach zero, never below.
    await ledger.charge('p3', 'a', 200, 'r');
    expect((await ledger.account('a')).balance).toBe(0);
  });

  test('a first charge larger than the opening balance is refused, naming that balance', async () => {
    const refused = ledger.charge('p1', 'never-used', OPENING + 1, 'r');
    await expect(refused).rejects.toBeInstanceOf(InsufficientFundsError);
    await expect(refused).rejects.toMatchObject({ balance: OPENING, amount: OPENING + 1 });
    expect(await ledger.account('never-used')).toEqual({ accountId: 'never-used', balance: OPENING, entries: [] });
  });

  test('a refund credits the charge back once; there is no refund without a charge', async () => {
    await expect(ledger.refund('nothing', 'r')).rejects.toBeInstanceOf(NoChargeError);
    await ledger.charge('p1', 'a', 300, 'r');
    expect((await ledger.refund('p1', 'r')).existing).toBe(false);
    expect((await ledger.refund('p1', 'r')).existing).toBe(true);
    expect((await ledger.charge('p1', 'a', 300, 'r')).refunded).toBe(true);
    const account = await ledger.account('a');
    expect(account.balance).toBe(OPENING);
    expect(account.entries.map((e) => e.kind)).toEqual(['refund', 'charge']);
    expect((await ledger.account('a', 1)).entries.map((e) => e.kind)).toEqual(['refund']);
  });

  test('each entry keeps the API key that asked for it, and none when no key asked', async () => {
    await ledger.charge('p1', 'a', 300, 'r', { keyId: '0123456789abcdef' });
    await ledger.refund('p1', 'r', { keyId: 'fedcba9876543210' });
    await ledger.charge('p2', 'a', 100, 'r');
    // A repeat names another key: the first entry stands, with its own.
    expect((await ledger.charge('p1', 'a', 300, 'r', { keyId: 'aaaaaaaaaaaaaaaa' })).charge.keyId).toBe('0123456789abcdef');
    expect((await (await another()).entriesOf('p1')).map((e) => [e.kind, e.keyId])).toEqual([
      ['charge', '0123456789abcdef'],
      ['refund', 'fedcba9876543210'],
    ]);
    expect((await ledger.entriesOf('p2')).map((e) => e.keyId)).toEqual([null]);
    expect((await ledger.account('a')).entries.map((e) => e.keyId)).toEqual([null, 'fedcba9876543210', '0123456789abcdef']);
  });

  test('the database itself refuses a second charge row and a negative balance', async () => {
    const at = "'2026-01-01T00:00:00.000Z'";
    const entry = `INSERT INTO entries (payment_id, kind, account_id, amount, run_id, at) VALUES ('x', 'charge', 'z', 1, 'r', ${at})`;
    await store.sql(location, `INSERT INTO accounts (account_id, balance, opened_at) VALUES ('z', 10, ${at})`);
    await store.sql(location, entry);
    await expect(store.sql(location, entry)).rejects.toThrow(/unique/i);
    await expect(store.sql(location, "UPDATE accounts SET balance = -1 WHERE account_id = 'z'")).rejects.toThrow(/check/i);
  });

  test('injected faults fail before the write or after its commit, and a retry moves money once', async () => {
    let draws = [0, 1, 0]; // a fault before the write; then none before, and one after the commit
    const faulty = new FaultInjectingLedger(await another(), { faultRate: 1, writeDelayMs: 0, random: () => draws.shift() ?? 1 });
    await expect(faulty.charge('p1', 'a', 100, 'r')).rejects.toBeInstanceOf(TransientLedgerError);
    expect(await faulty.entriesOf('p1')).toEqual([]);
    await expect(faulty.charge('p1', 'a', 100, 'r')).rejects.toThrow(/after charge committed/);
    expect(await faulty.entriesOf('p1')).toHaveLength(1);
    draws = [];
    expect((await faulty.charge('p1', 'a', 100, 'r')).existing).toBe(true);
    expect((await faulty.account('a')).balance).toBe(900);
  });

  test('a database at an older schema: a process refuses it, naming npm run migrate; migrating keeps its entries, and again changes nothing', async () => {
    const older = await store.fresh();
    const first = await open(older);
    await first.charge('p-old', 'a', 300, 'r');
    await first.close();
    // The schema as the release before key ids left it.
    for (const statement of store.beforeAdmin) await store.sql(older, statement);
    await store.sql(older, 'ALTER TABLE entries DROP COLUMN key_id');
    await store.sql(older, store.name === 'SQLite' ? 'PRAGMA user_version = 0' : 'DELETE FROM ledger_migrations WHERE version = 5');
    const config = loadConfig({ ...older, OPENING_BALANCE: String(OPENING) });

    await expect(open(older)).rejects.toThrow(/is at schema version (0|4), and this release needs (2|6): run `npm run migrate`/);
    expect(await migrateLedger(config)).toEqual(store.name === 'SQLite' ? { from: 0, to: 2 } : { from: 4, to: 6 });
    expect(await migrateLedger(config)).toEqual(store.name === 'SQLite' ? { from: 2, to: 2 } : { from: 6, to: 6 });
    const migrated = await open(older);
    try {
      expect(await migrated.entriesOf('p-old')).toEqual([expect.objectContaining({ kind: 'charge', amount: 300, keyId: null })]);
      await migrated.refund('p-old', 'r', { keyId: '0123456789abcdef' });
      expect((await migrated.account('a')).balance).toBe(OPENING);
    } finally {
      await migrated.close();
    }
  });

  test('a database of the release before the scope admin: refused until npm run migrate; its keys then work as before, and admin keys can be made', async () => {
    const older = await store.fresh();
    const first = await open(older);
    const made = { read: newKey(), write: newKey() };
    const kept = [];
    for (const scope of ['read', 'write'] as const) {
      kept.push(
        await first.createKey({ id: made[scope].id, tenant: 'default', scope, name: `${scope} key`, secretHash: made[scope].secretHash }),
      );
      // Each its own millisecond, so that listKeys shows them in this order.
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await first.close();
    for (const statement of store.beforeAdmin) await store.sql(older, statement);
    // It is that schema: the database itself refuses an admin key.
    const adminRow =
      "INSERT INTO api_keys (id, tenant, scope, secret_hash, created_at) VALUES ('0123456789abcdef', 'default', 'admin', 'x', '2026-01-01T00:00:00.000Z')";
    await expect(store.sql(older, adminRow)).rejects.toThrow(/check/i);

    const behind = /is at schema version (1|5), and this release needs (2|6): run `npm run migrate`/;
    await expect(open(older)).rejects.toThrow(behind);
    const refused = await runEntry('src/keys.ts', older, 'create', '--tenant', 'default', '--scope', 'admin');
    expect(refused).toMatchObject({ code: 1, stdout: '', stderr: expect.stringMatching(behind) });
    expect(await runEntry('src/migrate.ts', older)).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/: schema version (1 -> 2|5 -> 6)\n$/),
    });
    expect(await runEntry('src/migrate.ts', older)).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/: at schema version (2|6), nothing to do\n$/),
    });

    const created = await runEntry('src/keys.ts', older, 'create', '--tenant', 'default', '--scope', 'admin');
    expect(created).toMatchObject({ code: 0, stderr: expect.stringContaining('scope admin') });
    const admin = { key: created.stdout.trimEnd(), id: parseKey(created.stdout.trimEnd())!.id };
    const migrated = await open(older);
    try {
      expect(await migrated.listKeys()).toEqual([...kept, expect.objectContaining({ id: admin.id, tenant: 'default', scope: 'admin' })]);
      // The database still refuses a scope it does not know.
      const { id, secretHash } = newKey();
      await expect(migrated.createKey({ id, tenant: 't', scope: 'owner' as 'read', name: null, secretHash })).rejects.toHaveProperty(
        'message',
        expect.stringMatching(/check/i),
      );
    } finally {
      await migrated.close();
    }

    // A gateway on it: each key does what its scope allows. Temporal is out of reach, so a request past access answers 503.
    const gateway = await createGateway(
      loadConfig({
        ...older,
        OPENING_BALANCE: String(OPENING),
        AUTH: 'keys',
        TEMPORAL_ADDRESS: '127.0.0.1:1',
        HOST: '127.0.0.1',
        PORT: '0',
        LOG_LEVEL: 'silent',
      }),
    );
    try {
      const { url } = await gateway.listen();
      const headers = (key: string) => ({ authorization: `Bearer ${key}` });
      const pay = (key: string) =>
        call(url, 'POST', '/payments/p-migrated/makePayment', {
          headers: headers(key),
          body: JSON.stringify({ accountId: 'a', amount: 1 }),
          contentType: 'application/json',
        });
      for (const key of [made.read.key, made.write.key, admin.key]) {
        expect(await call(url, 'GET', '/accounts/a', { headers: headers(key) })).toMatchObject({ status: 200, body: { balance: OPENING } });
      }
      expect(await pay(made.read.key)).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
      for (const key of [made.write.key, admin.key]) {
        expect(await pay(key)).toMatchObject({ status: 503, body: { error: { code: 'temporal_unavailable' } } });
      }
    } finally {
      await gateway.close();
    }
  });

  test('opening the same fresh store from several connections at once: the schema is made once, and reopening keeps the data', async () => {
    const fresh = await store.fresh();
    const opened = await Promise.all([1, 2, 3, 4, 5].map(() => open(fresh)));
    await Promise.all(opened.map((l, i) => l.charge(`p${i}`, 'a', 100, 'r')));
    await Promise.all(opened.map((l) => l.close()));
    const reopened = await open(fresh);
    expect((await reopened.account('a')).balance).toBe(OPENING - 500);
    await reopened.close();
  });

  test('the same charge from many connections at once: one moves money, all answer with it', async () => {
    const ledgers = [ledger, await another(), await another(), await another()];
    const results = await Promise.all(
      ledgers.flatMap((l, i) => [l.charge('p1', 'a', 300, `run-${i}`), l.charge('p1', 'a', 300, `run-${i}b`)]),
    );
    expect(results.filter((r) => !r.existing)).toHaveLength(1);
    expect(new Set(results.map((r) => JSON.stringify(r.charge))).size).toBe(1);
    const refunds = await Promise.all(ledgers.map((l) => l.refund('p1', 'r')));
    expect(refunds.filter((r) => !r.existing)).toHaveLength(1);
    expect(await ledger.entriesOf('p1')).toHaveLength(2);
    expect((await ledger.account('a')).balance).toBe(OPENING);
  });

  test('charges of one account from many connections at once never overdraw it', async () => {
    const ledgers = [ledger, await another(), await another(), await another()];
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => outcome(ledgers[i % 4]!.charge(`p${i}`, 'a', 100, 'r'))));
    expect(results.filter((r) => r === 'InsufficientFundsError')).toHaveLength(10);
    expect(results.filter((r) => typeof r === 'object' && !r.existing)).toHaveLength(10);
    expect((await ledger.account('a')).balance).toBe(0);
  });

  test('four processes hammering one store: one charge and one refund per payment-id at most, balances add up', async () => {
    const run = promisify(execFile);
    const hammer = path.join(PROJECT_ROOT, 'test/helpers/ledger-hammer.ts');
    const results = await Promise.all(
      [1, 2, 3, 4].map((seed) =>
        run(
          process.execPath,
          [...TYPESCRIPT, hammer, JSON.stringify({ ...location, OPENING_BALANCE: String(OPENING) }), String(seed), '300'],
          {
            cwd: PROJECT_ROOT,
          },
        ),
      ),
    );
    const told = results.map((r) => JSON.parse(r.stdout) as { charged: number; declined: number; refunded: number });
    const rows = await store.sql(location, 'SELECT CAST(count(*) AS INTEGER) AS n FROM entries GROUP BY payment_id, kind');
    expect(rows.every((r) => r.n === 1)).toBe(true);
    const entries = await store.sql(location, 'SELECT kind, CAST(count(*) AS INTEGER) AS n FROM entries GROUP BY kind');
    const count = (kind: string) => entries.find((e) => e.kind === kind)?.n ?? 0;
    // Every new row was reported by exactly one process.
    expect(count('charge')).toBe(told.reduce((sum, t) => sum + t.charged, 0));
    expect(count('refund')).toBe(told.reduce((sum, t) => sum + t.refunded, 0));
    // Each account has 10 payment-ids of 150 and 1000 to pay them, but refunds give money back:
    // whether a refunded account ever ran short depends on how the processes interleaved. a3 is
    // never refunded (see the hammer), so whatever the order its first six charges leave 100, and
    // its other four payment-ids were declined each time any of the four processes tried them
    // (each process tries all ten).
    const [a3] = await store.sql(
      location,
      "SELECT CAST(balance AS INTEGER) AS balance, (SELECT CAST(count(*) AS INTEGER) FROM entries WHERE account_id = 'a3') AS n " +
        "FROM accounts WHERE account_id = 'a3'",
    );
    expect(a3).toEqual({ balance: OPENING - 6 * 150, n: 6 });
    expect(told.reduce((sum, t) => sum + t.declined, 0)).toBeGreaterThanOrEqual(4 * 4);
    const unbalanced = await store.sql(
      location,
      `SELECT a.account_id FROM accounts a WHERE a.balance != ${OPENING}
         - (SELECT coalesce(sum(amount), 0) FROM entries e WHERE e.account_id = a.account_id AND kind = 'charge')
         + (SELECT coalesce(sum(amount), 0) FROM entries e WHERE e.account_id = a.account_id AND kind = 'refund')`,
    );
    expect(unbalanced).toEqual([]);
    const orphanRefunds = await store.sql(
      location,
      "SELECT payment_id FROM entries r WHERE kind = 'refund' " +
        "AND NOT EXISTS (SELECT 1 FROM entries c WHERE c.payment_id = r.payment_id AND c.kind = 'charge')",
    );
    expect(orphanRefunds).toEqual([]);
  });

  describe('API keys', () => {
    /** A new key stored, and the whole key its owner would be given. */
    async function create(tenant = 't1', scope: KeyScope = 'write', name: string | null = null) {
      const { id, key, secretHash } = newKey();
      return { key, record: await ledger.createKey({ id, tenant, scope, name, secretHash }) };
    }

    test('a key is stored as made, found by its id from another connection, and its id is unique', async () => {
      const before = Date.now();
      const { record } = await create('acme', 'read', 'ci bot');
      expect(record).toEqual({
        id: expect.stringMatching(/^[0-9a-f]{16}$/),
        tenant: 'acme',
        scope: 'read',
        name: 'ci bot',
        secretHash: expect.stringMatching(/^[0-9a-f]{64}$/),
        createdAt: expect.any(String),
        lastUsedAt: null,
        revokedAt: null,
      });
      expect(new Date(record.createdAt).toISOString()).toBe(record.createdAt);
      // The server's clock makes PostgreSQL's: allow it a little skew from this one.
      expect(Date.parse(record.createdAt)).toBeGreaterThanOrEqual(before - 1000);
      expect(await (await another()).keyById(record.id)).toEqual(record);
      await expect(ledger.createKey({ ...record, tenant: 'other' })).rejects.toHaveProperty('message', expect.stringMatching(/unique/i));
      expect(await ledger.keyById(record.id)).toEqual(record);
    });

    test('a key of each scope is kept; the database refuses any other scope', async () => {
      for (const scope of ['read', 'write', 'admin'] as const) expect((await create('t1', scope)).record.scope).toBe(scope);
      const { id, secretHash } = newKey();
      await expect(ledger.createKey({ id, tenant: 't', scope: 'owner' as 'read', name: null, secretHash })).rejects.toHaveProperty(
        'message',
        expect.stringMatching(/check/i),
      );
      expect(await ledger.keyById(id)).toBeUndefined();
    });

    test('the stored record never holds the key or its secret, only the hash of the secret', async () => {
      const { key, record } = await create();
      const secret = key.slice(`pk_${record.id}_`.length);
      expect(record.secretHash).not.toContain(key);
      expect(record.secretHash).not.toContain(secret);
      const rows = await store.sql(location, 'SELECT * FROM api_keys');
      const stored = JSON.stringify(rows);
      expect(stored).toContain(record.secretHash);
      expect(stored).not.toContain(key);
      expect(stored).not.toContain(secret);
    });

    test('listKeys gives every key oldest first; an empty store lists none', async () => {
      expect(await ledger.listKeys()).toEqual([]);
      const made = [];
      for (const tenant of ['t1', 't2', 't1']) {
        made.push((await create(tenant)).record);
        // Each its own millisecond, so the order shown is the creation order, not the ids' order within one.
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      expect(await ledger.listKeys()).toEqual(made);
    });

    test('noteKeyUsed only moves the last use forward', async () => {
      const { record } = await create();
      await ledger.noteKeyUsed(record.id, '2026-03-01T10:00:00.000Z');
      expect((await ledger.keyById(record.id))!.lastUsedAt).toBe('2026-03-01T10:00:00.000Z');
      await ledger.noteKeyUsed(record.id, '2026-03-01T09:59:59.999Z');
      await ledger.noteKeyUsed(record.id, '2026-03-01T10:00:00.000Z');
      expect((await ledger.keyById(record.id))!.lastUsedAt).toBe('2026-03-01T10:00:00.000Z');
      await ledger.noteKeyUsed(record.id, '2026-03-01T10:00:00.001Z');
      expect((await ledger.keyById(record.id))!.lastUsedAt).toBe('2026-03-01T10:00:00.001Z');
      // Another notation of a time is read as that time.
      await ledger.noteKeyUsed(record.id, '2026-03-01T12:00:00+01:00');
      expect((await ledger.keyById(record.id))!.lastUsedAt).toBe('2026-03-01T11:00:00.000Z');
      // Uses noted at once from several connections leave the latest.
      const times = ['2026-03-02T00:00:00.003Z', '2026-03-02T00:00:00.009Z', '2026-03-02T00:00:00.001Z', '2026-03-02T00:00:00.005Z'];
      const ledgers = [ledger, await another(), await another(), await another()];
      await Promise.all(times.map((at, i) => ledgers[i]!.noteKeyUsed(record.id, at)));
      expect((await ledger.keyById(record.id))!.lastUsedAt).toBe('2026-03-02T00:00:00.009Z');
      const { record: other } = await create();
      expect((await ledger.keyById(other.id))!.lastUsedAt).toBeNull();
    });

    test('revokeKey marks the key revoked once: a second revoke keeps the first time', async () => {
      const { record } = await create();
      const { record: untouched } = await create();
      const revoked = await ledger.revokeKey(record.id);
      expect(revoked).toEqual({ ...record, revokedAt: expect.any(String) });
      expect(new Date(revoked!.revokedAt!).toISOString()).toBe(revoked!.revokedAt);
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect(await (await another()).revokeKey(record.id)).toEqual(revoked);
      expect(await ledger.keyById(record.id)).toEqual(revoked);
      // Use after revocation is still noted; revocation stays.
      await ledger.noteKeyUsed(record.id, '2026-03-01T10:00:00.000Z');
      expect(await ledger.keyById(record.id)).toEqual({ ...revoked, lastUsedAt: '2026-03-01T10:00:00.000Z' });
      expect(await ledger.keyById(untouched.id)).toEqual(untouched);
    });

    test('unknown ids: no key, nothing to revoke, a use noted changes nothing', async () => {
      const { record } = await create();
      expect(await ledger.keyById('0123456789abcdef')).toBeUndefined();
      expect(await ledger.revokeKey('0123456789abcdef')).toBeUndefined();
      await ledger.noteKeyUsed('0123456789abcdef', '2026-03-01T10:00:00.000Z');
      expect(await ledger.listKeys()).toEqual([record]);
    });
  });
});

describe('PostgreSQL ledger under contention and outages', () => {
  let location: Location;
  let ledger: Ledger;
  const opened: Ledger[] = [];
  beforeAll(async () => {
    await postgresStore.start();
    location = await postgresStore.fresh();
    ledger = await open(location);
    opened.push(ledger);
  });
  afterAll(async () => {
    await Promise.all(opened.map((l) => l.close()));
    await postgresStore.stop();
  });

  /** Resolves once `count` statements wait for a lock. */
  async function lockWaiters(count: number): Promise<void> {
    for (;;) {
      const [row] = await postgresStore.sql(
        location,
        "SELECT CAST(count(*) AS INTEGER) AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
      );
      if ((row!.n as number) >= count) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  test('charges queued behind a held account lock: the guard sees the committed balance, a lost race returns the winner', async () => {
    await ledger.charge('p0', 'a', 100, 'r'); // the account exists, with 900
    const holder = new pg.Client({ connectionString: location.LEDGER_URL });
    await holder.connect();
    await holder.query('BEGIN');
    await holder.query("SELECT balance FROM accounts WHERE account_id = 'a' FOR UPDATE");
    const ledgers = await Promise.all([1, 2, 3, 4].map(() => open(location)));
    opened.push(...ledgers);
    // All four pass the check for an earlier charge, then wait on the account's row lock.
    const same = ledgers.map((l, i) => outcome(l.charge('p-same', 'a', 500, `run-${i}`)));
    await lockWaiters(4);
    const other = outcome(ledger.charge('p-other', 'a', 500, 'r'));
    await lockWaiters(5);
    await holder.query('COMMIT');
    await holder.end();

    const answers = await Promise.all(same);
    // The first in the queue charged; the others then found 400 left, too little, and
    // instead of declining a payment that is paid, answered with its charge.
    expect(answers.filter((a) => typeof a === 'object' && !a.existing)).toHaveLength(1);
    expect(answers.every((a) => typeof a === 'object' && a.charge.amount === 500)).toBe(true);
    expect(await other).toBe('InsufficientFundsError');
    expect((await ledger.account('a')).balance).toBe(400);
  });

  test.each([
    { limit: 'lock timeout', timeouts: { lockMs: 500 } },
    // No lock timeout: the statement timeout cuts the wait instead.
    { limit: 'statement timeout', timeouts: { lockMs: 0, statementMs: 500 } },
  ])(
    'a charge waiting on a row lock held elsewhere fails as transient at the $limit, then succeeds once the lock is gone',
    async ({ limit, timeouts }) => {
      const short = await PostgresLedger.open({ url: location.LEDGER_URL!, openingBalance: OPENING, timeouts });
      opened.push(short);
      const account = `held-${limit.split(' ')[0]}`;
      await short.charge(`${account}-0`, account, 100, 'r'); // the account exists
      const holder = new pg.Client({ connectionString: location.LEDGER_URL });
      await holder.connect();
      try {
        await holder.query('BEGIN');
        await holder.query('SELECT balance FROM accounts WHERE account_id = $1 FOR UPDATE', [account]);
        const start = performance.now();
        const refused = await short.charge(`${account}-1`, account, 100, 'r').catch((err: Error) => err);
        const waited = performance.now() - start;
        expect(refused).toBeInstanceOf(TransientLedgerError);
        expect((refused as Error).message).toContain(`canceling statement due to ${limit}`);
        // Cut at the limit, not waiting for the lock's holder (which never lets go here).
        expect(waited).toBeGreaterThanOrEqual(500);
        expect(waited).toBeLessThan(3000);
        expect(await short.entriesOf(`${account}-1`)).toEqual([]);
      } finally {
        await holder.query('ROLLBACK');
        await holder.end();
      }
      expect((await short.charge(`${account}-1`, account, 100, 'r')).existing).toBe(false);
      expect((await short.account(account)).balance).toBe(OPENING - 200);
    },
  );

  test("a charge given its activity attempt's deadline gives up at it behind a held row lock, and commits nothing after it", async () => {
    const account = 'held-deadline';
    await ledger.charge(`${account}-0`, account, 100, 'r');
    const holder = new pg.Client({ connectionString: location.LEDGER_URL });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT balance FROM accounts WHERE account_id = $1 FOR UPDATE', [account]);
      const start = performance.now();
      const refused = await ledger.charge(`${account}-1`, account, 100, 'r', { deadline: Date.now() + 400 }).catch((err: Error) => err);
      // Cut at the deadline, well before the pool's own lock timeout (3 s).
      expect(performance.now() - start).toBeLessThan(1500);
      expect(refused).toBeInstanceOf(TransientLedgerError);
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
    await expect(ledger.charge(`${account}-1`, account, 100, 'r', { deadline: Date.now() - 1 })).rejects.toThrow(/attempt ended/);
    expect(await ledger.entriesOf(`${account}-1`)).toEqual([]);
    expect((await ledger.charge(`${account}-1`, account, 100, 'r', { deadline: Date.now() + 5000 })).existing).toBe(false);
  });

  test('the server going away is a transient fault; when it is back the same ledger carries on', async () => {
    await ledger.charge('before', 'b', 100, 'r');
    await server!.stop();
    await expect(ledger.charge('during', 'b', 100, 'r')).rejects.toBeInstanceOf(TransientLedgerError);
    await expect(ledger.ping()).rejects.toBeInstanceOf(TransientLedgerError);
    await server!.start();
    expect((await ledger.charge('after', 'b', 100, 'r')).existing).toBe(false);
    expect((await ledger.charge('before', 'b', 100, 'r')).existing).toBe(true);
    expect((await ledger.account('b')).balance).toBe(OPENING - 200);
  });
});

describe('SQLite ledger while another connection holds the write lock', () => {
  let file: string;
  let holder: Database.Database;
  beforeEach(async () => {
    file = path.join(tempDir('ledger'), 'ledger.db');
    await new SqliteLedger({ file, openingBalance: OPENING }).close(); // the schema, before the lock is taken
    holder = new Database(file);
    holder.exec('BEGIN IMMEDIATE');
  });
  afterEach(() => holder.close());

  /** Resolves after `count` ticks of a 10 ms timer, with the longest gap between two ticks (ms). */
  function ticks(count: number): Promise<number> {
    return new Promise((resolve) => {
      let seen = 0;
      let last = performance.now();
      let longest = 0;
      const timer = setInterval(() => {
        const now = performance.now();
        longest = Math.max(longest, now - last);
        last = now;
        if (++seen === count) {
          clearInterval(timer);
          resolve(longest);
        }
      }, 10);
    });
  }

  test('a charge waits with the event loop free, and completes once the lock is released', async () => {
    const ledger = new SqliteLedger({ file, openingBalance: OPENING });
    try {
      const ticking = ticks(20);
      let settled = false;
      const charge = ledger.charge('p1', 'a', 100, 'r').finally(() => (settled = true));
      const longestGap = await ticking;
      // 20 ticks fired while the charge waited: SQLite did not hold the event loop for its wait
      // (with busy_timeout = 5000 the first tick would come only after the charge had failed).
      expect(settled).toBe(false);
      expect(longestGap).toBeLessThan(1000);
      holder.exec('COMMIT');
      expect((await charge).existing).toBe(false);
      expect((await ledger.account('a')).balance).toBe(OPENING - 100);
    } finally {
      await ledger.close();
    }
  });

  test('a lock held past the wait fails the charge as a transient fault that moved nothing; a retry charges', async () => {
    const ledger = new SqliteLedger({ file, openingBalance: OPENING, lockWaitMs: 300 });
    try {
      await expect(ledger.charge('p1', 'a', 100, 'r')).rejects.toBeInstanceOf(TransientLedgerError);
      holder.exec('COMMIT');
      expect(await ledger.entriesOf('p1')).toEqual([]);
      expect((await ledger.charge('p1', 'a', 100, 'r')).existing).toBe(false);
    } finally {
      await ledger.close();
    }
  });
});

test('npm run worker and npm run api on a database at an older schema stop at once, naming npm run migrate; npm run migrate brings it up, and run again changes nothing', async () => {
  const location = await sqliteStore.fresh();
  await (await open(location)).close();
  for (const statement of sqliteStore.beforeAdmin) await sqliteStore.sql(location, statement);
  await sqliteStore.sql(location, 'ALTER TABLE entries DROP COLUMN key_id');
  await sqliteStore.sql(location, 'PRAGMA user_version = 0');
  const entry = (file: string) => runEntry(file, location);
  const file = path.join(location.DATA_DIR!, 'ledger.db');
  const refusal = `the service's database (${file}) is at schema version 0, and this release needs 2: run \`npm run migrate\``;

  for (const process of ['src/worker.ts', 'src/api.ts']) {
    const stopped = await entry(process);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toContain(refusal);
    expect(stopped.stderr).not.toMatch(/\n\s+at /);
  }
  expect(await entry('src/migrate.ts')).toMatchObject({ code: 0, stdout: `ledger ${file}: schema version 0 -> 2\n` });
  expect(await entry('src/migrate.ts')).toMatchObject({ code: 0, stdout: `ledger ${file}: at schema version 2, nothing to do\n` });
});

test('npm run migrate, npm run worker and npm run api with a PostgreSQL ledger out of reach stop at once, saying so in one line', async () => {
  const env = { ...process.env, LEDGER_URL: 'postgres://payments:secret@127.0.0.1:1/ledger', TEMPORAL_ADDRESS: '127.0.0.1:1', PORT: '0' };
  for (const file of ['src/migrate.ts', 'src/worker.ts', 'src/api.ts']) {
    const stopped = await promisify(execFile)(process.execPath, [...TYPESCRIPT, path.join(PROJECT_ROOT, file)], {
      cwd: PROJECT_ROOT,
      env,
    }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => err,
    );
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toMatch(/failed: ledger database unreachable: connect ECONNREFUSED 127\.0\.0\.1:1\n$/);
    expect(stopped.stderr).not.toMatch(/\n\s+at /);
    expect(stopped.stderr).not.toContain('secret');
  }
});
