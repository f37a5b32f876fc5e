/**
 * `npm run chaos -- --crash-test`: what one crash costs under steady load. Keep-alive clients
 * pay fresh payment-ids through the gateway without pause, each retrying its own request on
 * network errors, 5xx, 202 and 429 (as `npm run chaos`'s clients do); meanwhile one process at
 * a time is stopped, left down for a while, and started again. For each, the longest stretch
 * with no payment answered and the latency of the requests in flight across it; then every
 * answer is checked (none lost, none changed: the ledger holds one charge per answer, and the
 * requests that lived through a fault, sent again, answer the same).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { loadConfig } from '../../src/config';
import { openLedger } from '../../src/ledger/open';
import { DEFAULT_TENANT } from '../../src/domain/tenancy';
import { launchEntry, signalGroup } from '../launch';
import { LocalStack, type Role } from '../stack';
import type { RequestRecord } from './checker';
import { type FaultImpact, type Span, faultImpact, percentile } from './impact';
import { type PaymentSpec, send } from './load';
import { seeded } from './random';

export interface CrashTestOptions {
  clients: number;
  /** Steady load before each fault, ms (the first fault's also warms the stack up). */
  beforeMs: number;
  /** How long the process stays down, ms. */
  downMs: number;
  /** Load after the kill before the next fault, ms (longer than Temporal's default task timeout, 10 s, to show it). */
  afterMs: number;
  seed: number;
  dir: string;
  /** Scenario names to run (default: all). */
  only?: string[];
}

interface Scenario {
  name: string;
  workers: number;
  role: Role;
  signal: 'SIGKILL' | 'SIGTERM';
}

export const SCENARIOS: readonly Scenario[] = [
  { name: 'worker', workers: 1, role: 'worker-1', signal: 'SIGKILL' },
  { name: 'gateway', workers: 1, role: 'api-1', signal: 'SIGKILL' },
  { name: 'Temporal dev server', workers: 1, role: 'temporal', signal: 'SIGKILL' },
  { name: 'worker, one of two', workers: 2, role: 'worker-1', signal: 'SIGKILL' },
  { name: 'worker SIGTERM, one of two', workers: 2, role: 'worker-1', signal: 'SIGTERM' },
];

const OPENING_BALANCE = 1_000_000_000;
const ACCOUNTS = 20;
const GIVE_UP_AFTER_MS = 120_000;

export interface ScenarioResult extends FaultImpact {
  scenario: string;
  /** When the signal was sent and when the process was started again, ms after the load began. */
  killedAtMs: number;
  restartedAtMs: number;
  /** How long the process took to exit after the signal (a SIGTERM drains first). */
  exitMs: number;
  /** p99 of the requests answered in the steady stretch before the fault. */
  steadyP99Ms: number;
}

export interface CrashTestResult {
  options: CrashTestOptions;
  scenarios: ScenarioResult[];
  /** ms from starting `src/worker.ts` to its "worker polling" line, each try. */
  workerStartupMs: number[];
  requests: number;
  /** Requests a fault touched or that were retried, sent again after the load. */
  resent: number;
  lost: string[];
  changed: string[];
}

interface Sent {
  spec: PaymentSpec;
  record: RequestRecord;
}

const answeredAt = (r: RequestRecord): number | undefined => (r.answer ? r.attempts[r.attempts.length - 1]!.at : undefined);

/** Clients paying fresh payment-ids, one request after another, until `until()` has passed. */
function steadyLoad(url: () => string, clients: number, seed: number, until: () => number): { sent: Sent[]; done: Promise<void> } {
  const run = randomUUID().slice(0, 8);
  const sent: Sent[] = [];
  const done = Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      const random = seeded(seed * 1000 + client + 1);
      for (let n = 0; Date.now() < until(); n++) {
        const spec: PaymentSpec = {
          tenant: DEFAULT_TENANT,
          paymentId: `crash-${run}-${client}-${n}`,
          accountId: `acct-${(client + n) % ACCOUNTS}`,
          amount: 1 + ((client * 31 + n) % 500),
          cancellable: false,
        };
        const entry: Sent = { spec, record: { client, op: 'makePayment', paymentId: spec.paymentId, attempts: [] } };
        sent.push(entry);
        entry.record = await send(url, spec, 'makePayment', client, () => Date.now() + GIVE_UP_AFTER_MS, random);
      }
    }),
  ).then(() => undefined);
  return { sent, done };
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** ms from starting a worker process to its "worker polling" line (it is then killed). */
async function workerStartup(stack: LocalStack): Promise<number> {
  const started = Date.now();
  const child = launchEntry('src/worker.ts', {
    env: { TEMPORAL_ADDRESS: stack.temporalAddress, DATA_DIR: stack.dataDir, TASK_QUEUE: 'startup-probe', LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    return await new Promise<number>((resolve, reject) => {
      let output = '';
      const look = (chunk: Buffer) => {
        output += chunk.toString();
        if (/worker polling/.test(output)) resolve(Date.now() - started);
      };
      child.stdout!.on('data', look);
      child.stderr!.on('data', look);
      child.once('exit', () => reject(new Error(`worker exited before polling:\n${output}`)));
    });
  } finally {
    signalGroup(child, 'SIGKILL');
  }
}

/** One stack, the scenarios of its shape one after another under one continuous load. */
async function runStack(o: CrashTestOptions, workers: number, scenarios: Scenario[], say: (line: string) => void) {
  const stack = new LocalStack({ dir: path.join(o.dir, `workers-${workers}`), openingBalance: OPENING_BALANCE, workers, gateways: 1 });
  try {
    await stack.start();
    say(`stack up: ${workers} worker(s), gateway ${stack.apiUrl}, Temporal ${stack.temporalAddress}`);
    let stopAt = Infinity;
    const loadStart = Date.now();
    const load = steadyLoad(
      () => stack.apiUrl,
      o.clients,
      o.seed + workers,
      () => stopAt,
    );
    const faults: { scenario: Scenario; kill: number; exited: number; restarted: number; from: number; to: number }[] = [];
    let phaseStart = loadStart;
    for (const scenario of scenarios) {
      await pause(phaseStart + o.beforeMs - Date.now());
      const kill = Date.now();
      await stack.kill(scenario.role, scenario.signal);
      const exited = Date.now();
      await pause(kill + o.downMs - Date.now());
      const restarted = Date.now();
      await stack.launch(scenario.role);
      const to = kill + o.afterMs;
      say(
        `  ${scenario.signal} ${scenario.name} at ${((kill - loadStart) / 1000).toFixed(1)} s, exited after ${exited - kill} ms, ` +
          `started again at ${((restarted - loadStart) / 1000).toFixed(1)} s`,
      );
      faults.push({ scenario, kill, exited, restarted, from: phaseStart, to });
      await pause(to - Date.now());
      phaseStart = to;
    }
    stopAt = Date.now();
    await load.done;
    const startup: number[] = [];
    for (let i = 0; i < 3; i++) startup.push(await workerStartup(stack));
    const timed = load.sent.map(({ record }) => ({ startedAt: record.startedAt!, answeredAt: answeredAt(record) }));
    const results: ScenarioResult[] = faults.map(({ scenario, kill, exited, restarted, from, to }) => {
      const steady = timed
        .filter((r) => r.startedAt >= from + 1000 && r.answeredAt !== undefined && r.answeredAt < kill)
        .map((r) => r.answeredAt! - r.startedAt)
        .sort((a, b) => a - b);
      const span: Span = { from: kill, to: restarted };
      return {
        scenario: scenario.name,
        killedAtMs: kill - loadStart,
        restartedAtMs: restarted - loadStart,
        exitMs: exited - kill,
        steadyP99Ms: percentile(steady, 99),
        ...faultImpact(timed, span, { from: Math.max(from, kill - 1000), to }),
      };
    });
    const verdict = await check(
      stack,
      load.sent,
      faults.map((f) => ({ from: f.kill, to: f.restarted })),
    );
    return { results, startup, sent: load.sent.length, ...verdict };
  } finally {
    await stack.stop();
  }
}

/** None lost, none changed: one charge per answer in the ledger, and the requests that lived through a fault answer the same again. */
async function check(stack: LocalStack, sent: Sent[], faults: Span[]): Promise<{ lost: string[]; changed: string[]; resent: number }> {
  const lost: string[] = [];
  const changed: string[] = [];
  const expected = new Map<string, PaymentSpec>();
  for (const { spec, record } of sent) {
    const body = record.answer?.body;
    if (!record.answer) lost.push(`${spec.paymentId}: no answer after ${record.attempts.length} attempts`);
    else if (
      record.answer.status !== 200 ||
      body?.status !== 'COMPLETED' ||
      body.paymentId !== spec.paymentId ||
      body.accountId !== spec.accountId ||
      body.amount !== spec.amount
    ) {
      changed.push(`${spec.paymentId}: answered ${record.answer.status} ${JSON.stringify(body)}`);
    }
    expected.set(spec.paymentId, spec);
  }

  const ledger = await openLedger(loadConfig({ DATA_DIR: stack.dataDir, OPENING_BALANCE: String(OPENING_BALANCE) }));
  try {
    const charged = new Map<string, number>();
    for (let a = 0; a < ACCOUNTS; a++) {
      const accountId = `acct-${a}`;
      const account = await ledger.account(accountId, Number.MAX_SAFE_INTEGER);
      let moved = 0;
      for (const entry of account.entries) {
        const spec = expected.get(entry.paymentId);
        moved += entry.kind === 'charge' ? entry.amount : -entry.amount;
        if (entry.kind !== 'charge') changed.push(`${entry.paymentId}: a ${entry.kind} in the ledger`);
        else if (!spec || spec.accountId !== accountId || spec.amount !== entry.amount)
          changed.push(`${entry.paymentId}: a charge of ${entry.amount} to ${accountId} nobody asked for`);
        charged.set(entry.paymentId, (charged.get(entry.paymentId) ?? 0) + 1);
      }
      if (account.balance !== OPENING_BALANCE - moved)
        changed.push(`${accountId}: balance ${account.balance}, entries say ${OPENING_BALANCE - moved}`);
    }
    for (const { spec, record } of sent) {
      const times = charged.get(spec.paymentId) ?? 0;
      if (record.answer?.status === 200 && times !== 1) changed.push(`${spec.paymentId}: answered COMPLETED, charged ${times} times`);
    }
  } finally {
    await ledger.close();
  }

  // The requests a fault touched (and any that were retried), sent again: the same payment, as a replay.
  const touched = sent.filter(
    ({ record }) => record.attempts.length > 1 || faults.some((f) => record.startedAt! < f.to && (answeredAt(record) ?? Infinity) > f.from),
  );
  const queue = touched.filter(({ record }) => record.answer);
  await Promise.all(
    Array.from({ length: 8 }, async (_, lane) => {
      const random = seeded(lane + 1);
      for (let next = queue.shift(); next; next = queue.shift()) {
        const { spec } = next;
        const again = await send(
          () => stack.apiUrl,
          spec,
          'makePayment',
          -1,
          () => Date.now() + 30_000,
          random,
        );
        const body = again.answer?.body;
        if (again.answer?.status !== 200 || body?.replayed !== true || body.accountId !== spec.accountId || body.amount !== spec.amount) {
          changed.push(`${spec.paymentId}: sent again, answered ${again.answer?.status ?? 'nothing'} ${JSON.stringify(body ?? null)}`);
        }
      }
    }),
  );
  return { lost, changed, resent: touched.length };
}

export async function runCrashTest(o: CrashTestOptions, say: (line: string) => void): Promise<CrashTestResult> {
  const chosen = SCENARIOS.filter((s) => !o.only || o.only.includes(s.name));
  const shapes = [...new Set(chosen.map((s) => s.workers))];
  const result: CrashTestResult = { options: o, scenarios: [], workerStartupMs: [], requests: 0, resent: 0, lost: [], changed: [] };
  for (const workers of shapes) {
    const done = await runStack(
      o,
      workers,
      chosen.filter((s) => s.workers === workers),
      say,
    );
    result.scenarios.push(...done.results);
    result.workerStartupMs.push(...done.startup);
    result.requests += done.sent;
    result.resent += done.resent;
    result.lost.push(...done.lost);
    result.changed.push(...done.changed);
  }
  fs.writeFileSync(path.join(o.dir, 'crash-test.json'), JSON.stringify(result, null, 1));
  return result;
}
