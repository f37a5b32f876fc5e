/**
 * `npm run chaos`: a storm of concurrent, colliding payment requests against a stack whose
 * processes are SIGKILLed and restarted at random, then a check of every invariant.
 * Exits 1 on any violation.
 *
 *   npm run chaos -- --duration 120 --clients 24 --ids 40 --accounts 6 --seed 7
 *   npm run chaos -- --postgres          # 3 workers and 2 gateways on a PostgreSQL ledger
 *   npm run chaos -- --cluster           # on a Temporal cluster on PostgreSQL: its services and database killed too
 *   npm run chaos -- --crash-test [--short] [--clients 32] [--down 2]   # what one crash costs (docs/recovery.md)
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { INVARIANTS, type RequestRecord } from './checker';
import { type CrashTestOptions, SCENARIOS, runCrashTest } from './crash-test';
import { faultImpact, seconds } from './impact';
import { type ChaosOptions, type ChaosResult, runChaos } from './run';

type Options = { crashTest: false; chaos: ChaosOptions } | { crashTest: true; crash: CrashTestOptions };

function options(): Options {
  const { values } = parseArgs({
    options: {
      duration: { type: 'string', default: '60' },
      clients: { type: 'string' },
      ids: { type: 'string', default: '40' },
      accounts: { type: 'string', default: '6' },
      seed: { type: 'string', default: '1' },
      'opening-balance': { type: 'string', default: '1500' },
      postgres: { type: 'boolean', default: false },
      cluster: { type: 'boolean', default: false },
      'skip-retention': { type: 'boolean', default: false },
      workers: { type: 'string' },
      gateways: { type: 'string' },
      dir: { type: 'string' },
      'crash-test': { type: 'boolean', default: false },
      short: { type: 'boolean', default: false },
      before: { type: 'string' },
      down: { type: 'string', default: '2' },
      after: { type: 'string' },
      only: { type: 'string' },
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
  const dir = values.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), values['crash-test'] ? 'payments-crash-' : 'payments-chaos-'));
  if (values['crash-test']) {
    // --short: the CI form, shorter stretches of load around each fault (timings only reported).
    const short = values.short!;
    const only = values.only?.split(',').map((name) => name.trim());
    const unknown = only?.filter((name) => !SCENARIOS.some((s) => s.name === name));
    if (unknown?.length) {
      process.stderr.write(`--only takes ${SCENARIOS.map((s) => `"${s.name}"`).join(', ')}; not ${unknown.join(', ')}\n`);
      process.exit(2);
    }
    return {
      crashTest: true,
      crash: {
        clients: number('clients', 1, '32'),
        beforeMs: number('before', 1, short ? '3' : '5') * 1000,
        downMs: number('down', 0) * 1000,
        afterMs: number('after', 1, short ? '8' : '15') * 1000,
        seed: number('seed', 0),
        dir,
        ...(only && { only }),
      },
    };
  }
  // One machine's stack by default; with --postgres, the scaled-out one the shared ledger is for.
  const postgres = values.postgres!;
  const chaos: ChaosOptions = {
    durationMs: number('duration', 5) * 1000,
    clients: number('clients', 1, '16'),
    ids: number('ids', 1),
    accounts: number('accounts', 1),
    seed: number('seed', 0),
    openingBalance: number('opening-balance', 0),
    workers: number('workers', 1, postgres ? '3' : '2'),
    gateways: number('gateways', 1, postgres ? '2' : '1'),
    postgres,
    cluster: values.cluster!,
    retention: !values['skip-retention'],
    dir,
  };
  return { crashTest: false, chaos };
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

/** For each fault: the longest stretch with no definitive answer, and the latency of the requests in flight across it. */
function faultCosts({ startedAt, requests, faults }: Pick<ChaosResult, 'startedAt' | 'requests' | 'faults'>, durationMs: number) {
  const timed = requests.map((r) => ({
    startedAt: r.startedAt ?? r.attempts[0]?.at ?? startedAt,
    answeredAt: r.answer ? r.attempts[r.attempts.length - 1]!.at : undefined,
  }));
  // Silences are counted while the clients still send: not in the settling after the storm.
  const loadEnd = startedAt + durationMs;
  return faults.map((f, i) => ({
    at: f.startedAt - startedAt,
    kind: f.kind,
    ...faultImpact(
      timed,
      { from: f.startedAt, to: f.endedAt },
      {
        from: Math.max(faults[i - 1]?.endedAt ?? startedAt, f.startedAt - 1000),
        to: Math.min(faults[i + 1]?.startedAt ?? loadEnd, loadEnd),
      },
    ),
  }));
}

async function crashTest(o: CrashTestOptions): Promise<void> {
  say(
    `crash test: ${o.clients} clients paying fresh payment-ids; ` +
      `each fault after ${o.beforeMs / 1000} s of load, ${o.downMs / 1000} s down, ${o.afterMs / 1000} s from kill to the next`,
  );
  say(`run directory: ${o.dir}`);
  const r = await runCrashTest(o, say);
  say('');
  say('| stopped | longest stretch with no answer | in flight across it | p50 / p99 / max latency of those | steady p99 before |');
  say('| --- | ---: | ---: | --- | ---: |');
  for (const s of r.scenarios) {
    say(
      `| ${s.scenario} | ${seconds(s.noAnswerMs)} | ${s.inFlight} | ` +
        `${seconds(s.p50Ms)} / ${seconds(s.p99Ms)} / ${seconds(s.maxMs)} | ${seconds(s.steadyP99Ms)} |`,
    );
  }
  say('');
  say(`worker start-up (src/worker.ts to "worker polling"): ${r.workerStartupMs.map((ms) => `${ms} ms`).join(', ')}`);
  say(`requests ${r.requests}, sent again ${r.resent}, lost ${r.lost.length}, changed ${r.changed.length}`);
  for (const line of [...r.lost, ...r.changed].slice(0, 20)) say(`  ${line}`);
  say(`\nfull record: ${path.join(o.dir, 'crash-test.json')}`);
  const failed = r.lost.length + r.changed.length > 0;
  say(failed ? 'crash test: answers lost or changed' : 'crash test: every answer came, and none changed');
  process.exit(failed ? 1 : 0);
}

async function main(): Promise<void> {
  const parsed = options();
  if (parsed.crashTest) return crashTest(parsed.crash);
  const o = parsed.chaos;
  say(
    `chaos: ${o.durationMs / 1000} s, ${o.clients} clients, ${o.ids} payment-ids, ${o.accounts} accounts, ` +
      `seed ${o.seed}, opening balance ${o.openingBalance}, ` +
      `${o.workers} workers, ${o.gateways} gateways, ${o.postgres ? 'PostgreSQL' : 'SQLite'} ledger, ` +
      `Temporal ${o.cluster ? 'cluster on PostgreSQL' : 'dev server'}`,
  );
  say(`run directory: ${o.dir}`);
  const { startedAt, requests, faults, crashes, settleMs, answersByGateway, record, violations } = await runChaos(o, say);
  const rows = record.ledger;
  const summary = summarize(requests);
  const sigkills = faults.reduce((sum, f) => sum + f.sigkills, 0);

  say('');
  say(
    `requests ${summary.requests}, acknowledged (200) ${summary.acknowledged}, ` +
      `retried ${summary.retriedRequests} (${summary.retries} retries), unanswered ${summary.unanswered}`,
  );
  for (const [answer, count] of Object.entries(summary.byAnswer).sort()) say(`  ${answer.padEnd(48)} ${count}`);
  say(
    `answers by gateway: ${Object.entries(answersByGateway)
      .map(([url, n]) => `${url} ${n}`)
      .join(', ')}`,
  );
  const kinds: Record<string, number> = {};
  for (const f of faults) kinds[f.kind] = (kinds[f.kind] ?? 0) + 1;
  say(
    `faults ${faults.length}, SIGKILLs ${sigkills}: ${Object.entries(kinds)
      .map(([k, n]) => `${k} ×${n}`)
      .join(', ')}`,
  );
  say(
    'processes that died on their own (restarted): ' +
      `${crashes.length ? crashes.map((c) => `${c.role} at ${((c.at - startedAt) / 1000).toFixed(1)} s`).join(', ') : 'none'}`,
  );
  say(
    `ledger: ${rows.filter((r) => r.kind === 'charge').length} charges, ${rows.filter((r) => r.kind === 'refund').length} refunds; ` +
      `settled in ${(settleMs / 1000).toFixed(1)} s`,
  );
  const costs = faultCosts({ startedAt, requests, faults }, o.durationMs);
  say('');
  say('what each fault cost: longest stretch with no answer; requests in flight across it, their p99 / max latency');
  for (const c of costs) {
    say(
      `${(c.at / 1000).toFixed(1).padStart(6)} s  ${c.kind.padEnd(26)} ${seconds(c.noAnswerMs).padStart(7)}   ` +
        `${String(c.inFlight).padStart(3)} in flight, ${seconds(c.p99Ms)} / ${seconds(c.maxMs)}`,
    );
  }
  say('');
  for (const invariant of INVARIANTS) {
    const failed = violations.filter((v) => v.invariant === invariant);
    say(`${failed.length === 0 ? 'PASS' : 'FAIL'}  ${invariant}${failed.length ? ` (${failed.length})` : ''}`);
  }
  for (const v of violations.slice(0, 20)) {
    say(`\nviolation: ${v.invariant}: ${v.detail} (${v.paymentId ? `payment ${v.paymentId}` : `account ${v.accountId}`})`);
    if (v.paymentId) {
      for (const r of requests.filter((q) => q.paymentId === v.paymentId)) {
        say(
          `  client ${r.client} ${r.op}: ` +
            `${r.attempts.map((a) => `${a.outcome}@${((a.at - startedAt) / 1000).toFixed(2)}s`).join(' ')} ` +
            `-> ${JSON.stringify(r.answer?.body ?? null)}`,
        );
      }
      for (const row of rows.filter((x) => x.paymentId === v.paymentId))
        say(`  ledger #${row.id} ${row.kind} ${row.amount} ${row.accountId}`);
    }
  }

  const reportFile = path.join(o.dir, 'chaos-report.json');
  fs.writeFileSync(
    reportFile,
    JSON.stringify({ options: o, summary, faults, faultCosts: costs, crashes, settleMs, answersByGateway, violations, record }, null, 1),
  );
  say(`\nfull record: ${reportFile}`);
  say(violations.length === 0 ? 'chaos: all invariants held' : `chaos: ${violations.length} violation(s)`);
  process.exit(violations.length === 0 ? 0 : 1);
}

main().catch((err) => {
  process.stderr.write(`chaos failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
