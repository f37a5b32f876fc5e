/**
 * `npm run chaos`: a storm of concurrent, colliding payment requests against a stack whose
 * processes are SIGKILLed and restarted at random, then a check of every invariant.
 * Exits 1 on any violation.
 *
 *   npm run chaos -- --duration 120 --clients 24 --ids 40 --accounts 6 --seed 7
 *   npm run chaos -- --postgres          # 3 workers and 2 gateways on a PostgreSQL ledger
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { INVARIANTS, type RequestRecord } from './checker';
import { type ChaosOptions, runChaos } from './run';

function options(): ChaosOptions {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '60' },
      clients: { type: 'string', default: '16' },
      ids: { type: 'string', default: '40' },
      accounts: { type: 'string', default: '6' },
      seed: { type: 'string', default: '1' },
      'opening-balance': { type: 'string', default: '1500' },
      postgres: { type: 'boolean', default: false },
      'skip-retention': { type: 'boolean', default: false },
      workers: { type: 'string' },
      gateways: { type: 'string' },
      dir: { type: 'string' },
    },
  });
  const number = (name: keyof typeof values, min: number, fallback?: string) => {
    const value = Number(values[name] ?? fallback);
    if (!Number.isInteger(value) || value < min) {
      process.stderr.write(`--${name} must be a whole number of at least ${min}\n`);
      process.exit(2);
    }
    return value;
  };
  // One machine's stack by default; with --postgres, the scaled-out one the shared ledger is for.
  const postgres = values.postgres!;
  return {
    durationMs: number('duration', 5) * 1000,
    clients: number('clients', 1),
    ids: number('ids', 1),
    accounts: number('accounts', 1),
    seed: number('seed', 0),
    openingBalance: number('opening-balance', 0),
    workers: number('workers', 1, postgres ? '3' : '2'),
    gateways: number('gateways', 1, postgres ? '2' : '1'),
    postgres,
    retention: !values['skip-retention'],
    dir: values.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'payments-chaos-')),
  };
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
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
  say(
    `chaos: ${o.durationMs / 1000} s, ${o.clients} clients, ${o.ids} payment-ids, ${o.accounts} accounts, seed ${o.seed}, opening balance ${o.openingBalance}, ` +
      `${o.workers} workers, ${o.gateways} gateways, ${o.postgres ? 'PostgreSQL' : 'SQLite'} ledger`,
  );
  say(`run directory: ${o.dir}`);
  const { startedAt, requests, faults, crashes, settleMs, answersByGateway, record, violations } = await runChaos(o, say);
  const rows = record.ledger;
  const summary = summarize(requests);
  const sigkills = faults.reduce((sum, f) => sum + f.sigkills, 0);

  say('');
  say(`requests ${summary.requests}, acknowledged (200) ${summary.acknowledged}, retried ${summary.retriedRequests} (${summary.retries} retries), unanswered ${summary.unanswered}`);
  for (const [answer, count] of Object.entries(summary.byAnswer).sort()) say(`  ${answer.padEnd(48)} ${count}`);
  say(`answers by gateway: ${Object.entries(answersByGateway).map(([url, n]) => `${url} ${n}`).join(', ')}`);
  const kinds: Record<string, number> = {};
  for (const f of faults) kinds[f.kind] = (kinds[f.kind] ?? 0) + 1;
  say(`faults ${faults.length}, SIGKILLs ${sigkills}: ${Object.entries(kinds).map(([k, n]) => `${k} ×${n}`).join(', ')}`);
  say(`processes that died on their own (restarted): ${crashes.length ? crashes.map((c) => `${c.role} at ${((c.at - startedAt) / 1000).toFixed(1)} s`).join(', ') : 'none'}`);
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
  fs.writeFileSync(reportFile, JSON.stringify({ options: o, summary, faults, crashes, settleMs, answersByGateway, violations, record }, null, 1));
  say(`\nfull record: ${reportFile}`);
  say(violations.length === 0 ? 'chaos: all invariants held' : `chaos: ${violations.length} violation(s)`);
  process.exit(violations.length === 0 ? 0 : 1);
}

main().catch((err) => {
  process.stderr.write(`chaos failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
