/**
 * One chaos run: a stack of its own, a storm of colliding requests spread over its gateways
 * while the fault injector kills its processes, then everything settled and checked. Used by
 * `npm run chaos` and by the scale-out test.
 */
import { type Client, WorkflowNotFoundError } from '@temporalio/client';
import { loadConfig } from '../../src/config';
import { newKey } from '../../src/access/keys';
import { workflowIdFor } from '../../src/domain/contract';
import { DEFAULT_TENANT, scopedId } from '../../src/domain/tenancy';
import { createClient } from '../../src/temporal';
import { paymentCodec, paymentDataConverter } from '../../src/codec/data-converter';
import type { Ledger } from '../../src/ledger/ledger';
import { openLedger } from '../../src/ledger/open';
import { ThrowawayPostgres } from '../postgres';
import { LocalStack, type Role } from '../stack';
import { type ChaosRecord, type LedgerRow, type PaymentState, type RequestRecord, type Violation, checkInvariants } from './checker';
import { type FaultKind, type InjectedFault, faultKinds, injectFaults, planFaults } from './faults';
import { type PaymentSpec, authorization, paymentPool, runClients, send, serviceId } from './load';
import { seeded } from './random';

const SETTLE_LIMIT_MS = 180_000;

export interface ChaosOptions {
  durationMs: number;
  clients: number;
  ids: number;
  accounts: number;
  seed: number;
  openingBalance: number;
  /** The run's directory: data, logs, report. */
  dir: string;
  workers: number;
  gateways: number;
  /** The ledger on a throwaway PostgreSQL server rather than SQLite under the run's DATA_DIR. */
  postgres: boolean;
  /**
   * A Temporal cluster on PostgreSQL (frontend, history, matching and worker as processes of
   * their own) instead of the dev server: each service and the Temporal database are killed too.
   */
  cluster?: boolean;
  /** Which faults to inject (default: all a stack of these processes can suffer). */
  faults?: (kind: FaultKind) => boolean;
  /**
   * After settling, wait out every payment's window, delete its workflow as Temporal's
   * retention would, and ask again (the window is then the storm's length + 15 s).
   */
  retention: boolean;
}

/** The window of a run's payments when it ends with the retention phase: none ends during the storm. */
function expiryOf(o: ChaosOptions): string {
  return `${Math.ceil(o.durationMs / 1000) + 15}s`;
}

export interface ChaosResult {
  startedAt: number;
  requests: RequestRecord[];
  faults: InjectedFault[];
  crashes: LocalStack['crashes'];
  settleMs: number;
  /** Definitive answers each gateway gave, by its URL. */
  answersByGateway: Record<string, number>;
  record: ChaosRecord;
  violations: Violation[];
}

async function getJson(url: string, headers: Record<string, string>): Promise<{ status: number; body: any } | undefined> {
  try {
    const response = await fetch(url, { headers, signal: AbortSignal.timeout(10_000) });
    return { status: response.status, body: await response.json() };
  } catch {
    return undefined;
  }
}

/** Waits until no payment is PROCESSING (or the limit passes); returns each one's final state, by its service-wide id. */
async function settle(apiUrl: string, pool: PaymentSpec[]): Promise<Record<string, PaymentState | null>> {
  const finals: Record<string, PaymentState | null> = {};
  const deadline = Date.now() + SETTLE_LIMIT_MS;
  let pending = pool;
  while (pending.length > 0) {
    const still: PaymentSpec[] = [];
    for (const spec of pending) {
      const id = serviceId(spec);
      const answer = await getJson(`${apiUrl}/payments/${spec.paymentId}`, authorization(spec));
      if (answer?.status === 404) finals[id] = null;
      else if (answer?.status === 200) finals[id] = { status: answer.body.status, refunded: answer.body.refunded };
      if (!answer || answer.status >= 500 || finals[id]?.status === 'PROCESSING') still.push(spec);
    }
    pending = still;
    if (pending.length === 0 || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return finals;
}

/**
 * The pool's accounts, read through the Ledger interface (so either store will do), under
 * their service-wide names as the ledger keeps them. Rows are numbered in each account's
 * ledger order, which is all the checker compares.
 */
async function readLedger(ledger: Ledger, pool: PaymentSpec[]): Promise<Pick<ChaosRecord, 'ledger' | 'balances'>> {
  const rows: LedgerRow[] = [];
  const balances: Record<string, number> = {};
  for (const accountId of new Set(pool.map((spec) => scopedId(spec.tenant, spec.accountId)))) {
    // No limit that a broken build's extra rows could hide behind.
    const account = await ledger.account(accountId, Number.MAX_SAFE_INTEGER);
    balances[accountId] = account.balance;
    for (const entry of [...account.entries].reverse()) {
      rows.push({ id: rows.length + 1, paymentId: entry.paymentId, kind: entry.kind, accountId, amount: entry.amount });
    }
  }
  return { ledger: rows, balances };
}

/** The tenants every chaos run pays for: the default (ids as they are) and one more (ids scoped by the tenant). */
const TENANTS = [DEFAULT_TENANT, 'acme'];

/** A write key for each tenant, in the stack's database, before any request is sent. */
async function makeKeys(ledger: Ledger): Promise<{ tenant: string; key: string }[]> {
  return Promise.all(
    TENANTS.map(async (tenant) => {
      const { id, key, secretHash } = newKey();
      await ledger.createKey({ id, tenant, scope: 'write', name: 'chaos', secretHash });
      return { tenant, key };
    }),
  );
}

function openStackLedger(o: ChaosOptions, stack: LocalStack, ledgerUrl: string | undefined): Promise<Ledger> {
  return openLedger(
    loadConfig({ DATA_DIR: stack.dataDir, OPENING_BALANCE: String(o.openingBalance), ...(ledgerUrl ? { LEDGER_URL: ledgerUrl } : {}) }),
  );
}

export async function runChaos(o: ChaosOptions, say: (line: string) => void): Promise<ChaosResult> {
  const postgres = o.postgres ? await ThrowawayPostgres.create() : undefined;
  try {
    const ledgerUrl = await postgres?.createDatabase('ledger');
    const stack = new LocalStack({
      dir: o.dir,
      openingBalance: o.openingBalance,
      workers: o.workers,
      gateways: o.gateways,
      ledgerUrl,
      ...(o.cluster && { cluster: {} }),
      // Two tenants, each with its key, as real merchants call it.
      env: { AUTH: 'keys', ...(o.retention && { PAYMENT_EXPIRY: expiryOf(o) }) },
    });
    try {
      return await storm(o, stack, ledgerUrl, say);
    } finally {
      await stack.stop();
    }
  } finally {
    await postgres?.destroy();
  }
}

async function storm(o: ChaosOptions, stack: LocalStack, ledgerUrl: string | undefined, say: (line: string) => void): Promise<ChaosResult> {
  await stack.start();
  const keysLedger = await openStackLedger(o, stack, ledgerUrl);
  let pool: PaymentSpec[];
  try {
    pool = paymentPool({ paymentIds: o.ids, accounts: o.accounts, seed: o.seed }, await makeKeys(keysLedger));
  } finally {
    await keysLedger.close();
  }
  const gateways = stack.apiUrls;
  say(
    `stack up: Temporal ${o.cluster ? 'cluster' : 'dev server'} ${stack.temporalAddress}, gateways ${gateways.join(' ')}, ` +
      `${o.workers} workers, ledger ${ledgerUrl ? 'PostgreSQL' : 'SQLite'}, tenants ${TENANTS.join(' and ')} with API keys`,
  );

  const startedAt = Date.now();
  const until = startedAt + o.durationMs;
  let giveUpAt = until + SETTLE_LIMIT_MS;
  const plan = planFaults(o.seed, o.durationMs, faultKinds(stack.roles).filter(o.faults ?? (() => true)));
  say(`faults (${plan.length}):`);
  // Each client has a gateway, and retries on the next one, as a load balancer skips a dead backend.
  const gatewayOf = (client: number, attempt = 0) => gateways[(client + attempt) % gateways.length]!;
  const [requests, faults] = await Promise.all([
    runClients(
      { url: gatewayOf, clients: o.clients, paymentIds: o.ids, accounts: o.accounts, seed: o.seed, until, giveUpAt: () => giveUpAt },
      pool,
    ),
    injectFaults(stack, plan, startedAt, say).then((done: InjectedFault[]) => {
      giveUpAt = Date.now() + SETTLE_LIMIT_MS;
      return done;
    }),
  ]);
  const loadEndedAt = Date.now();

  const finals = await settle(stack.apiUrl, pool);
  const settleMs = Date.now() - loadEndedAt;

  // The same requests once more, now that everything has settled: they must answer as before.
  const random = seeded(o.seed);
  const resendAcknowledged = async (): Promise<ChaosRecord['resent']> => {
    const resent: ChaosRecord['resent'] = {};
    for (const [i, spec] of pool.entries()) {
      const id = serviceId(spec);
      const mine = requests.filter((r) => r.paymentId === id);
      const entry: ChaosRecord['resent'][string] = {};
      for (const op of ['makePayment', 'cancelPayment'] as const) {
        if (mine.some((r) => r.op === op && r.answer?.status === 200)) {
          entry[op] = (
            await send(
              (n) => gatewayOf(i, n),
              spec,
              op,
              -1,
              () => Date.now() + 30_000,
              random,
            )
          ).answer;
        }
      }
      resent[id] = entry;
    }
    return resent;
  };
  const resent = await resendAcknowledged();

  let afterRetention: ChaosRecord['afterRetention'];
  if (o.retention) {
    say('retention: waiting out every window, then deleting each closed workflow as retention would');
    const config = loadConfig({ TEMPORAL_ADDRESS: stack.temporalAddress, DATA_DIR: stack.dataDir, PAYLOAD_KEYS: process.env.PAYLOAD_KEYS });
    const client = createClient(config, paymentDataConverter(paymentCodec(config)));
    try {
      const forgotten = await forgetAll(client, pool);
      say(`retention: ${forgotten.length} workflows deleted; asking again`);
      const later = await resendAcknowledged();
      const laterFinals = await settle(stack.apiUrl, pool);
      afterRetention = { resent: later, finals: laterFinals, restarted: (await knownTo(client, pool)).map(serviceId) };
    } finally {
      await client.connection.close();
    }
  }

  const ledger = await openStackLedger(o, stack, ledgerUrl);
  let read;
  try {
    read = await readLedger(ledger, pool);
  } finally {
    await ledger.close();
  }
  const record: ChaosRecord = {
    openingBalance: o.openingBalance,
    requests,
    ...read,
    finals,
    resent,
    ...(afterRetention && { afterRetention }),
  };
  const answersByGateway: Record<string, number> = Object.fromEntries(gateways.map((url) => [url, 0]));
  for (const r of requests) if (r.answer) answersByGateway[gatewayOf(r.client, r.attempts.length - 1)]!++;
  // A cluster's services that died on their own were restarted by the cluster, not the stack.
  const clusterCrashes = (stack.cluster?.crashes ?? []).map(({ process, ...crash }) => ({ role: `temporal-${process}` as Role, ...crash }));
  const crashes = [...stack.crashes, ...clusterCrashes].sort((a, b) => a.at - b.at);
  return { startedAt, requests, faults, crashes, settleMs, answersByGateway, record, violations: checkInvariants(record) };
}

const RETENTION_LIMIT_MS = 300_000;

/** The payments whose workflow Temporal knows. */
async function knownTo(client: Client, pool: PaymentSpec[]): Promise<PaymentSpec[]> {
  const known: PaymentSpec[] = [];
  for (const spec of pool) {
    try {
      await client.workflow.getHandle(workflowIdFor(spec.paymentId, spec.tenant)).describe();
      known.push(spec);
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
  }
  return known;
}

/**
 * Waits until every payment's run has closed (its window ended), deletes each one as the
 * namespace's retention would, and waits until Temporal no longer knows any of them.
 * Deletion is asynchronous: the dev server acknowledges a closed run every 30 s or so.
 */
async function forgetAll(client: Client, pool: PaymentSpec[]): Promise<PaymentSpec[]> {
  const deadline = Date.now() + RETENTION_LIMIT_MS;
  const pause = () => new Promise((resolve) => setTimeout(resolve, 1000));
  const seen = await knownTo(client, pool);
  for (const spec of seen) {
    const handle = client.workflow.getHandle(workflowIdFor(spec.paymentId, spec.tenant));
    while ((await handle.describe()).status.name === 'RUNNING') {
      if (Date.now() > deadline) throw new Error(`payment ${handle.workflowId} still running after its window`);
      await pause();
    }
    await client.workflowService.deleteWorkflowExecution({ namespace: 'default', workflowExecution: { workflowId: handle.workflowId } });
  }
  while ((await knownTo(client, seen)).length > 0) {
    if (Date.now() > deadline) throw new Error('Temporal did not delete the closed workflows in time');
    await pause();
  }
  return seen;
}
