/**
 * `npm run bench`: how many payments per second one machine settles end to end (HTTP in,
 * ledger charged, answer out), at what latency and cost, against Temporal's own ceiling on
 * the same server, and whether latency grows as open payments pile up.
 *
 *   npm run bench -- --clients 1,8,32,64 --seconds 10 --open 1000,20000
 *   npm run bench -- --auth off                  (its own gateway without API keys; the default asks for one)
 *   npm run bench -- --cluster [--shards N] [--sql-plugin pgx|pq] [--server-metrics]   (a Temporal cluster on PostgreSQL)
 *   npm run bench -- --gogc 200                  (the Temporal server's Go GC setting, on either server)
 *   npm run bench -- --ceiling off               (payments only, for comparing levers in half the time)
 *   npm run bench -- --expiry 5s --open ''       (payments close inside each step: CPU per payment is their whole life)
 *   npm run bench -- --url http://127.0.0.1:8080 [--temporal 127.0.0.1:7233] [--key pk_...]   (a running stack)
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import Database from 'better-sqlite3';
import pg from 'pg';
import { newKey } from '../../src/access/keys';
import { loadConfig } from '../../src/config';
import { parseExpiry, workflowIdFor } from '../../src/domain/contract';
import { DEFAULT_TENANT } from '../../src/domain/tenancy';
import { openLedger } from '../../src/ledger/open';
import type { ClusterSettings } from '../cluster/cluster';
import { PROJECT_ROOT } from '../paths';
import { LocalStack } from '../stack';
import { chartSvg } from './chart';
import { type LoadResult, type Target, drive } from './load';
import { cpuSeconds, samplePeaks } from './procstats';

function options() {
  const { values } = parseArgs({
    options: {
      clients: { type: 'string', default: '1,8,32,64' },
      seconds: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '5' },
      open: { type: 'string', default: '1000,20000' },
      workers: { type: 'string', default: '1' },
      url: { type: 'string' },
      temporal: { type: 'string' },
      out: { type: 'string', default: path.join(PROJECT_ROOT, 'bench-results') },
      auth: { type: 'string', default: 'keys' },
      key: { type: 'string' },
      cluster: { type: 'boolean', default: false },
      shards: { type: 'string' },
      'sql-plugin': { type: 'string' },
      'server-metrics': { type: 'boolean', default: false },
      gogc: { type: 'string' },
      ceiling: { type: 'string', default: 'on' },
      expiry: { type: 'string' },
    },
  });
  if (values.auth !== 'keys' && values.auth !== 'off') throw new Error(`--auth must be keys or off, got ${JSON.stringify(values.auth)}`);
  if (values.ceiling !== 'on' && values.ceiling !== 'off')
    throw new Error(`--ceiling must be on or off, got ${JSON.stringify(values.ceiling)}`);
  const plugin = values['sql-plugin'];
  if (plugin !== undefined && plugin !== 'pgx' && plugin !== 'pq')
    throw new Error(`--sql-plugin must be pgx or pq, got ${JSON.stringify(plugin)}`);
  const shards = values.shards === undefined ? undefined : Number(values.shards);
  if (shards !== undefined && !(Number.isInteger(shards) && shards >= 1))
    throw new Error(`--shards must be a whole number from 1, got ${values.shards}`);
  if (!values.cluster && (shards !== undefined || plugin !== undefined || values['server-metrics'])) {
    throw new Error('--shards, --sql-plugin and --server-metrics are settings of the cluster: add --cluster');
  }
  if (values.gogc !== undefined && !/^(\d+|off)$/.test(values.gogc)) throw new Error(`--gogc must be a number or off, got ${values.gogc}`);
  if (values.url && (values.cluster || values.gogc !== undefined))
    throw new Error("--cluster and --gogc start a stack of the bench's own: not with --url");
  const expiryMs = values.expiry === undefined ? undefined : parseExpiry(values.expiry);
  if (values.expiry !== undefined && expiryMs === undefined)
    throw new Error(`--expiry must be a window of at least 1s, such as 5s, got ${JSON.stringify(values.expiry)}`);
  if (values.expiry !== undefined && values.url) throw new Error("--expiry sets the window of a stack of the bench's own: not with --url");
  const list = (text: string) => text.split(',').filter(Boolean).map(Number);
  return {
    clients: list(values.clients!),
    seconds: Number(values.seconds),
    warmup: Number(values.warmup),
    open: list(values.open!),
    workers: Number(values.workers),
    /** A running gateway to drive instead of a stack of the bench's own. */
    url: values.url,
    /** That stack's Temporal frontend, for the history cost and the open-payment counts. */
    temporal: values.temporal,
    out: values.out!,
    /** Its own stack's gateway asks for an API key (the default, as `npm run api`), or not. */
    auth: values.auth as 'keys' | 'off',
    /** The API key to send to a running gateway (--url) that asks for one. */
    key: values.key,
    /** Its own stack on a Temporal cluster on PostgreSQL (tools/cluster) instead of the dev server, with these settings. */
    cluster: values.cluster
      ? ({
          ...(shards !== undefined && { historyShards: shards }),
          ...(plugin && { plugin: plugin === 'pq' ? 'postgres12' : 'postgres12_pgx' }),
          metrics: values['server-metrics'],
        } satisfies Partial<ClusterSettings>)
      : undefined,
    /** GOGC for the Temporal server's processes (unset: Go's default, 100). */
    gogc: values.gogc,
    /** Whether to measure Temporal's ceiling beside the payments (off halves a run, for comparing levers). */
    ceiling: values.ceiling === 'on',
    /** PAYMENT_EXPIRY of its own stack (unset: an hour, so no payment closes while measured), and the text it was given as. */
    expiry: expiryMs === undefined ? undefined : { ms: expiryMs, text: values.expiry! },
  };
}

const say = (line = '') => process.stdout.write(`${line}\n`);
const run = randomUUID().slice(0, 8);
let counter = 0;
const next = () => counter++;

/** What the bench sends: payments, and Temporal's ceiling (both through the gateway's access check). */
function targets(key: string | undefined): { payment: Target; ceiling: Target } {
  const headers: Record<string, string> = key ? { authorization: `Bearer ${key}` } : {};
  return {
    payment: { path: (n) => `/payments/bench-${run}-${n}/makePayment`, body: (n) => `{"accountId":"bench-${n % 50}","amount":1}`, headers },
    ceiling: { path: (n) => `/bench/ceiling/${run}-${n}`, headers },
  };
}

/** A key of the tenant default in the stack's database, as `npm run keys -- create` makes one. */
async function benchKey(stack: LocalStack): Promise<string> {
  const ledger = await openLedger(loadConfig({ DATA_DIR: stack.dataDir }));
  try {
    const { id, key, secretHash } = newKey();
    await ledger.createKey({ id, tenant: DEFAULT_TENANT, scope: 'write', name: 'bench', secretHash });
    return key;
  } finally {
    await ledger.close();
  }
}

interface Measured extends LoadResult {
  cpu: Record<string, number>;
  cpuMsPerRequest: Record<string, number>;
  peakRssMiB: Record<string, number>;
}

/** What the bench drives: its own stack (processes it can measure), or a running gateway. */
interface Subject {
  apiUrl: string;
  stack?: LocalStack;
  client?: Client;
}

async function measure(subject: Subject, target: Target, clients: number, seconds: number): Promise<Measured> {
  const stack = subject.stack;
  const pids: Record<string, number> = stack ? Object.fromEntries(stack.roles.map((role) => [role, stack.pid(role)!])) : {};
  const before = Object.fromEntries(Object.entries(pids).map(([role, pid]) => [role, cpuSeconds(pid)]));
  const peaks = samplePeaks(pids);
  const result = await drive(subject.apiUrl, target, clients, seconds, next);
  const peakRssMiB = peaks();
  const cpu = Object.fromEntries(Object.entries(pids).map(([role, pid]) => [role, cpuSeconds(pid) - before[role]!]));
  const cpuMsPerRequest = Object.fromEntries(Object.entries(cpu).map(([role, s]) => [role, (s * 1000) / Math.max(1, result.ok)]));
  return { ...result, cpu, cpuMsPerRequest, peakRssMiB };
}

/** Whether the gateway serves the ceiling route (the bench gateway, tools/bench/gateway.ts, does). */
async function servesCeiling(apiUrl: string, ceilingTarget: Target): Promise<boolean> {
  const response = await fetch(`${apiUrl}${ceilingTarget.path(next())}`, { method: 'POST', headers: ceilingTarget.headers });
  await response.body?.cancel();
  return response.status !== 404;
}

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : '-');

/** The cluster's processes, in the order of their columns: its four services, then PostgreSQL. */
const CLUSTER_COLUMNS = [
  ['temporal-frontend', 'front'],
  ['temporal-history', 'hist'],
  ['temporal-matching', 'match'],
  ['temporal-worker', 't-wrkr'],
  ['temporal-postgres', 'pg'],
] as const;

/** CPU ms per request of the roles whose name starts so, summed (NaN when there are none). */
function cpuOf(r: Measured, prefix: string): number {
  const matching = Object.entries(r.cpuMsPerRequest).filter(([role]) => role.startsWith(prefix));
  return matching.length ? matching.reduce((s, [, v]) => s + v, 0) : NaN;
}

function row(label: string, r: Measured, ceiling: LoadResult | undefined, onCluster: boolean): string {
  const worker = cpuOf(r, 'worker');
  return [
    label.padEnd(10),
    String(r.clients).padStart(7),
    fmt(r.perSecond).padStart(9),
    (ceiling ? fmt(r.perSecond / ceiling.perSecond, 2) : '').padStart(7),
    fmt(r.p50).padStart(7),
    fmt(r.p90).padStart(7),
    fmt(r.p99).padStart(7),
    fmt(r.max).padStart(8),
    String(r.errors).padStart(6),
    fmt(r.cpuMsPerRequest['api-1']!, 2).padStart(8),
    fmt(worker, 2).padStart(8),
    // The dev server, or the cluster's services and its PostgreSQL together.
    fmt(cpuOf(r, 'temporal'), 2).padStart(9),
    fmt(r.peakRssMiB['api-1']!, 0).padStart(7),
    fmt(
      Math.max(
        ...Object.entries(r.peakRssMiB)
          .filter(([k]) => k.startsWith('worker'))
          .map(([, v]) => v),
      ),
      0,
    ).padStart(8),
    ...(onCluster ? CLUSTER_COLUMNS.map(([role, name]) => fmt(r.cpuMsPerRequest[role]!, 2).padStart(Math.max(6, name.length))) : []),
  ].join(' ');
}

function header(onCluster: boolean): string {
  const cluster = CLUSTER_COLUMNS.map(([, name]) => name.padStart(6)).join(' ');
  return (
    'what       clients  per sec  ×ceil   p50ms   p90ms   p99ms    maxms errors  cpu-api cpu-wrkr cpu-tmprl rss-api rss-wrkr' +
    (onCluster ? ` ${cluster}` : '') +
    '\n' +
    '                                                                            (CPU ms per request)         (peak MiB)' +
    (onCluster ? '  (CPU ms per request: cpu-tmprl split by process)' : '')
  );
}

/** History cost of a sample of payments: events and workflow tasks per payment. */
async function historyCost(client: Client, paymentIds: string[]) {
  let events = 0;
  let workflowTasks = 0;
  for (const id of paymentIds) {
    const history = await client.workflow.getHandle(workflowIdFor(id)).fetchHistory();
    events += history.events?.length ?? 0;
    workflowTasks +=
      history.events?.filter((e) => e.eventType === temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED).length ?? 0;
  }
  return {
    sample: paymentIds.length,
    eventsPerPayment: events / paymentIds.length,
    workflowTasksPerPayment: workflowTasks / paymentIds.length,
  };
}

/**
 * Rows in the server's history table, one per batch of events appended (one write): in the dev
 * server's SQLite file, or in the cluster's PostgreSQL database (the same table); undefined
 * when the cluster's database is not the bench's own.
 */
async function historyRows(stack: LocalStack): Promise<number | undefined> {
  if (stack.cluster) {
    const postgres = stack.cluster.postgres;
    if (!postgres) return undefined;
    const client = new pg.Client({ connectionString: postgres.url('temporal') });
    await client.connect();
    try {
      const result = await client.query<{ n: string }>('SELECT count(*) AS n FROM history_node');
      return Number(result.rows[0]!.n);
    } finally {
      await client.end();
    }
  }
  const db = new Database(path.join(stack.dataDir, 'temporal.db'), { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM history_node').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

async function main(): Promise<void> {
  const o = options();
  say(
    `bench: ${os.cpus().length} cores (${os.cpus()[0]?.model.trim()}), ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
  );
  let stack: LocalStack | undefined;
  let temporalAddress = o.temporal;
  if (!o.url) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'payments-bench-'));
    stack = new LocalStack({
      dir,
      openingBalance: 1e15,
      workers: o.workers,
      // The key's check is measured, not its rate limit, which one busy key would reach.
      // GOGC reaches the dev server through its launcher; the workers and gateways, being Node, ignore it.
      env: {
        LOG_LEVEL: 'error',
        AUTH: o.auth,
        RATE_LIMIT: 'off',
        ...(o.gogc !== undefined && !o.cluster && { GOGC: o.gogc }),
        ...(o.expiry && { PAYMENT_EXPIRY: o.expiry.text }),
      },
      entries: { worker: 'tools/bench/worker.ts', api: 'tools/bench/gateway.ts' },
      cluster: o.cluster && { ...o.cluster, ...(o.gogc !== undefined && { serverEnv: { GOGC: o.gogc } }) },
    });
    await stack.start();
    const server = stack.cluster
      ? `Temporal cluster (${stack.cluster.historyShards} history shards, ${o.cluster?.plugin === 'postgres12' ? 'lib/pq' : 'pgx'}, ` +
        `server metrics ${o.cluster?.metrics ? 'on' : 'off'}) on PostgreSQL in ${dir}/data`
      : `dev server persisted to ${dir}/data`;
    say(
      `stack: ${server}${o.gogc === undefined ? '' : `, GOGC=${o.gogc}`}, ${o.workers} worker(s), gateway (AUTH=${o.auth}); ` +
        `${o.seconds} s per step; payments expire after ${o.expiry?.text ?? '1h'}`,
    );
    temporalAddress = stack.temporalAddress;
  } else {
    say(
      `stack: the running gateway at ${o.url}${o.temporal ? `, Temporal at ${o.temporal}` : ''}; ` +
        `${o.seconds} s per step; no process figures`,
    );
  }
  const connection = temporalAddress ? await Connection.connect({ address: temporalAddress }) : undefined;
  const subject: Subject = { apiUrl: stack?.apiUrl ?? o.url!, stack, client: connection && new Client({ connection }) };
  try {
    const { payment: paymentTarget, ceiling: ceilingTarget } = targets(stack && o.auth === 'keys' ? await benchKey(stack) : o.key);
    const withCeiling = o.ceiling && (await servesCeiling(subject.apiUrl, ceilingTarget));
    if (o.ceiling && !withCeiling)
      say(
        'no Temporal ceiling: the gateway does not serve POST /bench/ceiling/:id ' +
          '(start it with node --require tsx/cjs tools/bench/gateway.ts, and its workers with tools/bench/worker.ts)',
      );
    say('warming up...');
    await drive(subject.apiUrl, paymentTarget, 8, o.warmup, next);
    if (withCeiling) await drive(subject.apiUrl, ceilingTarget, 8, Math.max(1, o.warmup / 2), next);

    const payments: Measured[] = [];
    const ceiling: Measured[] = [];
    say();
    const onCluster = stack?.cluster !== undefined;
    say(header(onCluster));
    for (const clients of o.clients) {
      const c = withCeiling ? await measure(subject, ceilingTarget, clients, o.seconds) : undefined;
      const p = await measure(subject, paymentTarget, clients, o.seconds);
      if (c) {
        ceiling.push(c);
        say(row('ceiling', c, undefined, onCluster));
      }
      payments.push(p);
      say(row('payments', p, c, onCluster));
    }

    // Cost: a sample of the payments just made, read back from Temporal (and its database, when it is the bench's own).
    const batchesBefore = stack && (await historyRows(stack));
    const costRun = await drive(subject.apiUrl, paymentTarget, 8, 3, next);
    const lastIds = Array.from({ length: 20 }, (_, i) => `bench-${run}-${counter - 1 - i * 3}`);
    // With a short window, the sample's whole lives: their closes too.
    if (o.expiry) await new Promise((resolve) => setTimeout(resolve, o.expiry!.ms + 3000));
    const cost = subject.client ? await historyCost(subject.client, lastIds) : undefined;
    const batchesAfter = stack && (await historyRows(stack));
    const batchesPerPayment =
      batchesBefore !== undefined && batchesAfter !== undefined ? (batchesAfter - batchesBefore) / Math.max(1, costRun.ok) : undefined;
    say();
    if (cost) {
      say(
        `cost per payment: ${fmt(cost.eventsPerPayment)} history events, ${fmt(cost.workflowTasksPerPayment)} workflow tasks` +
          (batchesPerPayment === undefined
            ? ''
            : `, ${fmt(batchesPerPayment, 2)} history writes (rows appended to the server's history table)`) +
          `, sample of ${cost.sample}`,
      );
    } else {
      say('no history cost: pass --temporal host:port of the running stack to read it');
    }

    // Scale: latency with N payments open (each lives for the expiry window), N growing.
    const scale: { open: number; result: LoadResult }[] = [];
    if (!connection && o.open.length > 0) say('no scale step: pass --temporal host:port to count open payments');
    for (const target of connection ? o.open : []) {
      const open = await connection!.workflowService.countWorkflowExecutions({
        namespace: 'default',
        query: 'ExecutionStatus = "Running"',
      });
      let openNow = Number(open.count ?? 0);
      if (openNow < target) {
        say(`opening payments: ${openNow} -> ${target}...`);
        const started = Date.now();
        while (openNow < target) {
          const fill = await drive(subject.apiUrl, paymentTarget, 32, Math.min(30, Math.max(2, (target - openNow) / 150)), next);
          openNow += fill.ok;
        }
        say(`  (${Math.round((Date.now() - started) / 1000)} s)`);
      }
      const result = await drive(subject.apiUrl, paymentTarget, 8, o.seconds, next);
      scale.push({ open: openNow, result });
      say(`with ${openNow} payments open: 8 clients ${fmt(result.perSecond)}/s, p50 ${fmt(result.p50)} ms, p99 ${fmt(result.p99)} ms`);
    }
    if (scale.length >= 2) {
      const [first, last] = [scale[0]!, scale[scale.length - 1]!];
      say(
        `latency ratio (${last.open} open vs ${first.open}): p50 ×${fmt(last.result.p50 / first.result.p50, 2)}, ` +
          `p99 ×${fmt(last.result.p99 / first.result.p99, 2)}`,
      );
    }

    fs.mkdirSync(o.out, { recursive: true });
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const machine = {
      cores: os.cpus().length,
      cpu: os.cpus()[0]?.model.trim(),
      memGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
    };
    const report = {
      at: new Date().toISOString(),
      machine,
      options: { ...o, key: o.key && '(given)' },
      server: stack?.cluster ? { cluster: true, historyShards: stack.cluster.historyShards } : { cluster: false },
      payments,
      ceiling,
      cost: cost && { ...cost, batchesPerPayment },
      scale,
    };
    fs.writeFileSync(path.join(o.out, `bench-${stamp}.json`), JSON.stringify(report, null, 1));
    fs.writeFileSync(path.join(o.out, 'bench.svg'), chartSvg(payments, ceiling, `payments/s and p99 vs clients (${machine.cores} cores)`));
    say();
    say(`wrote ${path.join(o.out, `bench-${stamp}.json`)} and ${path.join(o.out, 'bench.svg')}`);
  } finally {
    await connection?.close();
    await stack?.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
