/** The SQLite ledger on a real file: money moves at most once per payment-id and kind. */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { InsufficientFundsError, NoChargeError, TransientLedgerError } from '../src/ledger/ledger';
import { SqliteLedger } from '../src/ledger/sqlite';
import { PROJECT_ROOT } from '../tools/paths';
import { tempDir } from './helpers/servers';

const OPENING = 1000;
let file: string;
let ledger: SqliteLedger;
beforeEach(() => {
  file = path.join(tempDir('ledger'), 'ledger.db');
  ledger = new SqliteLedger({ file, openingBalance: OPENING });
});
afterEach(async () => {
  await ledger.close();
});

test('an account never used shows the opening balance and no entries', async () => {
  expect(await ledger.account('fresh')).toEqual({ accountId: 'fresh', balance: OPENING, entries: [] });
});

test('a charge debits once; repeating it returns the first charge and moves nothing', async () => {
  const first = await ledger.charge('p1', 'a', 300, 'run-1');
  expect(first).toMatchObject({ existing: false, refunded: false, charge: { paymentId: 'p1', kind: 'charge', accountId: 'a', amount: 300, runId: 'run-1' } });
  const again = await ledger.charge('p1', 'a', 300, 'run-2');
  expect(again).toEqual({ ...first, existing: true });
  expect((await ledger.account('a')).balance).toBe(700);
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

test('a refund credits the charge back once; there is no refund without a charge', async () => {
  await expect(ledger.refund('nothing', 'r')).rejects.toBeInstanceOf(NoChargeError);
  await ledger.charge('p1', 'a', 300, 'r');
  expect((await ledger.refund('p1', 'r')).existing).toBe(false);
  expect((await ledger.refund('p1', 'r')).existing).toBe(true);
  expect((await ledger.charge('p1', 'a', 300, 'r')).refunded).toBe(true);
  const account = await ledger.account('a');
  expect(account.balance).toBe(OPENING);
  expect(account.entries.map((e) => e.kind)).toEqual(['refund', 'charge']);
});

test('the database itself refuses a second charge row and a negative balance', () => {
  const db = new Database(file);
  const now = new Date().toISOString();
  db.prepare("INSERT INTO accounts VALUES ('z', 10, ?)").run(now);
  db.prepare("INSERT INTO entries (payment_id, kind, account_id, amount, run_id, at) VALUES ('x', 'charge', 'z', 1, 'r', ?)").run(now);
  expect(() =>
    db.prepare("INSERT INTO entries (payment_id, kind, account_id, amount, run_id, at) VALUES ('x', 'charge', 'z', 1, 'r', ?)").run(now),
  ).toThrow(/UNIQUE/);
  expect(() => db.prepare("UPDATE accounts SET balance = -1 WHERE account_id = 'z'").run()).toThrow(/CHECK/);
  db.close();
});

test('injected faults fail before the write or after its commit, and a retry moves money once', async () => {
  let draws = [0, 1, 0]; // a fault before the write; then none before, and one after the commit
  const faulty = new SqliteLedger({ file, openingBalance: OPENING, faultRate: 1, random: () => draws.shift() ?? 1 });
  await expect(faulty.charge('p1', 'a', 100, 'r')).rejects.toBeInstanceOf(TransientLedgerError);
  expect(await faulty.entriesOf('p1')).toEqual([]);
  await expect(faulty.charge('p1', 'a', 100, 'r')).rejects.toThrow(/after charge committed/);
  expect(await faulty.entriesOf('p1')).toHaveLength(1);
  draws = [];
  expect((await faulty.charge('p1', 'a', 100, 'r')).existing).toBe(true);
  expect((await faulty.account('a')).balance).toBe(900);
  await faulty.close();
});

test('four processes hammering one file: one charge and one refund per payment-id at most, balances add up', async () => {
  const run = promisify(execFile);
  const results = await Promise.all(
    [1, 2, 3, 4].map((seed) =>
      run(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, 'test/helpers/ledger-hammer.ts'), file, String(seed), '300'], {
        cwd: PROJECT_ROOT,
      }),
    ),
  );
  const told = results.map((r) => JSON.parse(r.stdout) as { charged: number; refunded: number });
  const db = new Database(file, { readonly: true });
  const rows = db.prepare('SELECT payment_id, kind, count(*) AS n FROM entries GROUP BY payment_id, kind').all() as { n: number }[];
  expect(rows.every((r) => r.n === 1)).toBe(true);
  const entries = db.prepare("SELECT kind, count(*) AS n FROM entries GROUP BY kind").all() as { kind: string; n: number }[];
  const count = (kind: string) => entries.find((e) => e.kind === kind)?.n ?? 0;
  // Every new row was reported by exactly one process.
  expect(count('charge')).toBe(told.reduce((sum, t) => sum + t.charged, 0));
  expect(count('refund')).toBe(told.reduce((sum, t) => sum + t.refunded, 0));
  const unbalanced = db
    .prepare(
      `SELECT a.account_id FROM accounts a WHERE a.balance != ${OPENING}
         - (SELECT coalesce(sum(amount), 0) FROM entries e WHERE e.account_id = a.account_id AND kind = 'charge')
         + (SELECT coalesce(sum(amount), 0) FROM entries e WHERE e.account_id = a.account_id AND kind = 'refund')`,
    )
    .all();
  expect(unbalanced).toEqual([]);
  const orphanRefunds = db
    .prepare("SELECT payment_id FROM entries r WHERE kind = 'refund' AND NOT EXISTS (SELECT 1 FROM entries c WHERE c.payment_id = r.payment_id AND c.kind = 'charge')")
    .all();
  expect(orphanRefunds).toEqual([]);
  db.close();
});
