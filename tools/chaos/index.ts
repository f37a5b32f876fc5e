/**
 * `npm run chaos`: a storm of concurrent, colliding payment requests against a stack whose
 * processes are SIGKILLed and restarted at random, then a check of every invariant.
 * Exits 1 on any violation.
 *
 *   npm run chaos -- --duration 120 --clients 24 --ids 40 --accounts 6 --seed 7
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { type ChaosRecord, INVARIANTS, type LedgerRow, type PaymentState, type RequestRecord, checkInvariants } from './checker';
import { type InjectedFault, injectFaults, planFaults } from './faults';
import { type PaymentSpec, paymentPool, runClients, send } from './load';
import { seeded } from './random';
import { LocalStack } from '../stack';

const SETTLE_LIMIT_MS = 180_000;

function options() {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '60' },
      clients: { type: 'string', default: '16' },
      ids: { type: 'string', default: '40' },
      accounts: { type: 'string', default: '6' },
      seed: { type: 'string', default: '1' },
      'opening-balance': { type: 'string', default: '1500' },
      dir: { type: 'string' },
    },
  });
  const number = (name: keyof typeof values, min: number) => {
    const value = Number(values[name]);
    if (!Number.isInteger(value) || value < min) {
      process.stderr.write(`--${name} must be a whole number of at least ${min}\n`);
      process.exit(2);
    }
    return value;
  };
  return {
    durationMs: number('duration', 5) * 1000,
    clients: number('clients', 1),
    ids: number('ids', 1),
    accounts: number('accounts', 1),
    seed: number('seed', 0),
    openingBalance: number('opening-balance', 0),
    dir: values.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'payments-chaos-')),
  };
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

async function getJson(url: string): Promise<{ status: number; body: any } | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    return { status: response.status, body: await response.json() };
  } catch {
    return undefined;
  }
}

/** Waits until no payment is PROCESSING (or the limit passes); returns each one's final state. */
async function settle(apiUrl: string, pool: PaymentSpec[]): Promise<Record<string, PaymentState | null>> {
  const finals: Record<string, PaymentState | null> = {};
  const deadline = Date.now() + SETTLE_LIMIT_MS;
  let pending = pool.map((spec) => spec.paymentId);
  while (pending.length > 0) {
    const still: string[] = [];
    for (const id of pending) {
      const answer = await getJson(`${apiUrl}/payments/${id}`);
      if (answer?.status === 404) finals[id] = null;
      else if (answer?.status === 200) finals[id] = { status: answer.body.status, refunded: answer.body.refunded };
      if (!answer || answer.status >= 500 || finals[id]?.status === 'PROCESSING') still.push(id);
    }
    pending = still;
    if (pending.length === 0 || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return finals;
}

function readLedger(dataDir: string): { rows: LedgerRow[]; balances: Record<string, number> } {
  const db = new Database(path.join(dataDir, 'ledger.db'), { readonly: true });
  try {
    const rows = db
      .prepare('SELECT id, payment_id AS paymentId, kind, account_id AS accountId, amount FROM entries ORDER BY id')
      .all() as LedgerRow[];
    const balances = Object.fromEntries(
      (db.prepare('SELECT account_id AS accountId, balance FROM accounts').all() as { accountId: string; balance: number }[]).map((a) => [
        a.accountId,
        a.balance,
      ]),
    );
    return { rows, balances };
  } finally {
    db.close();
  }
}

function summarize(requests: RequestRecord[]) {
  const byAnswer: Record<string, number> = {};
  for (const r of requests) {
    const key = `${r.op} ${r.answer ? r.answer.status + (r.answer.body?.error ? ` ${r.answer.body.error.code}` : '') : 'no answer'}`;
    byAnswer[key] = (byAnswer[key] ?? 0) + 1;
  }
  return {
    requests: requests.length,
    acknowledged: requests.filter((r) => r.answer?.status === 200).length,
    retries: requests.reduce((sum, r) => sum + r.attempts.length - 1, 0),
    retriedRequests: requests.filter((r) => r.attempts.length > 1).length,
    unanswered: requests.filter((r) => !r.answer).length,
    byAnswer,
  };
}

async function main(): Promise<void> {
  const o = options();
  say(`chaos: ${o.durationMs / 1000} s, ${o.clients} clients, ${o.ids} payment-ids, ${o.accounts} accounts, seed ${o.seed}, opening balance ${o.openingBalance}`);
  say(`run directory: ${o.dir}`);
  const stack = new LocalStack({ dir: o.dir, openingBalance: o.openingBalance, workers: 2 });
  const pool = paymentPool({ paymentIds: o.ids, accounts: o.accounts, seed: o.seed });
  let exitCode = 1;
  try {
    await stack.start();
    say(`stack up: Temporal ${stack.temporalAddress}, gateway ${stack.apiUrl}, two workers`);

    const startedAt = Date.now();
    const until = startedAt + o.durationMs;
    let giveUpAt = until + SETTLE_LIMIT_MS;
    const plan = planFaults(o.seed, o.durationMs);
    say(`faults (${plan.length}):`);
    const [requests, faults] = await Promise.all([
      runClients({ url: () => stack.apiUrl, clients: o.clients, paymentIds: o.ids, accounts: o.accounts, seed: o.seed, until, giveUpAt: () => giveUpAt }, pool),
      injectFaults(stack, plan, startedAt, say).then((done: InjectedFault[]) => {
        giveUpAt = Date.now() + SETTLE_LIMIT_MS;
        return done;
      }),
    ]);
    const loadEndedAt = Date.now();

    const finals = await settle(stack.apiUrl, pool);
    const settleMs = Date.now() - loadEndedAt;

    // The same requests once more, now that everything has settled: they must answer as before.
    const resent: ChaosRecord['resent'] = {};
    const random = seeded(o.seed);
    for (const spec of pool) {
      const mine = requests.filter((r) => r.paymentId === spec.paymentId);
      const entry: ChaosRecord['resent'][string] = {};
      for (const op of ['makePayment', 'cancelPayment'] as const) {
        if (mine.some((r) => r.op === op && r.answer?.status === 200)) {
          entry[op] = (await send(() => stack.apiUrl, spec, op, -1, () => Date.now() + 30_000, random)).answer;
        }
      }
      resent[spec.paymentId] = entry;
    }

    const { rows, balances } = readLedger(stack.dataDir);
    const record: ChaosRecord = { openingBalance: o.openingBalance, requests, ledger: rows, balances, finals, resent };
    const violations = checkInvariants(record);
    const summary = summarize(requests);
    const sigkills = faults.reduce((sum, f) => sum + f.sigkills, 0);

    say('');
    say(`requests ${summary.requests}, acknowledged (200) ${summary.acknowledged}, retried ${summary.retriedRequests} (${summary.retries} retries), unanswered ${summary.unanswered}`);
    for (const [answer, count] of Object.entries(summary.byAnswer).sort()) say(`  ${answer.padEnd(48)} ${count}`);
    const kinds: Record<string, number> = {};
    for (const f of faults) kinds[f.kind] = (kinds[f.kind] ?? 0) + 1;
    say(`faults ${faults.length}, SIGKILLs ${sigkills}: ${Object.entries(kinds).map(([k, n]) => `${k} ×${n}`).join(', ')}`);
    say(`processes that died on their own (restarted): ${stack.crashes.length ? stack.crashes.map((c) => `${c.role} at ${((c.at - startedAt) / 1000).toFixed(1)} s`).join(', ') : 'none'}`);
    say(`ledger: ${rows.filter((r) => r.kind === 'charge').length} charges, ${rows.filter((r) => r.kind === 'refund').length} refunds; settled in ${(settleMs / 1000).toFixed(1)} s`);
    say('');
    for (const invariant of INVARIANTS) {
      const failed = violations.filter((v) => v.invariant === invariant);
      say(`${failed.length === 0 ? 'PASS' : 'FAIL'}  ${invariant}${failed.length ? ` (${failed.length})` : ''}`);
    }
    for (const v of violations.slice(0, 20)) {
      say(`\nviolation: ${v.invariant}: ${v.detail} (${v.paymentId ? `payment ${v.paymentId}` : `account ${v.accountId}`})`);
      if (v.paymentId) {
        for (const r of requests.filter((q) => q.paymentId === v.paymentId)) {
          say(`  client ${r.client} ${r.op}: ${r.attempts.map((a) => `${a.outcome}@${((a.at - startedAt) / 1000).toFixed(2)}s`).join(' ')} -> ${JSON.stringify(r.answer?.body ?? null)}`);
        }
        for (const row of rows.filter((x) => x.paymentId === v.paymentId)) say(`  ledger #${row.id} ${row.kind} ${row.amount} ${row.accountId}`);
      }
    }

    const reportFile = path.join(o.dir, 'chaos-report.json');
    fs.writeFileSync(reportFile, JSON.stringify({ options: o, summary, faults, crashes: stack.crashes, settleMs, violations, record }, null, 1));
    say(`\nfull record: ${reportFile}`);
    exitCode = violations.length === 0 ? 0 : 1;
    say(exitCode === 0 ? 'chaos: all invariants held' : `chaos: ${violations.length} violation(s)`);
  } finally {
    await stack.stop();
  }
  process.exit(exitCode);
}

main().catch((err) => {
  process.stderr.write(`chaos failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
