/**
 * Payments through a real Temporal cluster on PostgreSQL (`npm run temporal:cluster`'s), with
 * the worker and the gateway as real processes: the history service, which owns every
 * payment's state, is SIGKILLed with payments in flight and started again. Every payment ends
 * right, its money moved once; a request made while history is down is refused as retryable
 * and changes nothing.
 */
import * as path from 'node:path';
import { status } from '@grpc/grpc-js';
import { Connection, isGrpcServiceError } from '@temporalio/client';
import { SqliteLedger } from '../src/ledger/sqlite';
import { freePort, portIsFree } from '../src/net';
import { registerSearchAttributes } from '../src/search-attributes';
import { TemporalCluster, destroyCluster } from '../tools/cluster/cluster';
import { ensureNamespace } from '../tools/cluster/namespace';
import { eventually } from './helpers/eventually';
import { type Answer, cancel, call, pay } from './helpers/gateway';
import { type Proc, startEntry } from './helpers/processes';
import { tempDir } from './helpers/servers';

jest.setTimeout(240_000);

const OPENING = 100_000;
let cluster: TemporalCluster;
let worker: Proc;
let api: Proc;
let apiUrl: string;
let ledger: SqliteLedger;

beforeAll(async () => {
  let port = await freePort();
  while (!(await portIsFree(port + 1000))) port = await freePort();
  // A root-only folder (mkdtemp) as DATA_DIR when the tests run as root: the launcher must cope.
  cluster = await TemporalCluster.start({
    dataDir: tempDir('cluster'),
    address: `127.0.0.1:${port}`,
    namespace: 'default',
    historyShards: 4,
    retentionMs: 24 * 3_600_000,
    logLevel: 'error',
    ui: false,
    supervise: false,
  });
  const dataDir = tempDir('cluster-ledger');
  const apiPort = await freePort();
  const env = { TEMPORAL_ADDRESS: cluster.address, DATA_DIR: dataDir, OPENING_BALANCE: String(OPENING), LOG_LEVEL: 'warn' };
  worker = startEntry('src/worker.ts', env);
  api = startEntry('src/api.ts', { ...env, AUTH: 'off', PORT: String(apiPort), REQUEST_TIMEOUT: '60s' });
  apiUrl = `http://127.0.0.1:${apiPort}`;
  ledger = new SqliteLedger({ file: path.join(dataDir, 'ledger.db'), openingBalance: OPENING });
  await eventually(
    'the gateway to answer',
    () =>
      fetch(`${apiUrl}/healthz`).then(
        () => true,
        () => undefined,
      ),
    { timeoutMs: 60_000 },
  );
});

afterAll(async () => {
  for (const proc of [api, worker]) {
    proc?.kill();
    await proc?.exited;
  }
  await ledger?.close();
  if (cluster) await destroyCluster(cluster);
});

/** The same request again until it is final: what a client does on a 503 or a 202. */
async function untilFinal(request: () => Promise<Answer>): Promise<Answer> {
  return eventually(
    'a final answer',
    async () => {
      const answer = await request();
      if (answer.status === 503 || answer.status === 202) return undefined;
      return answer;
    },
    { timeoutMs: 120_000, intervalMs: 250 },
  );
}

test('the history service SIGKILLed with payments in flight, then restarted: each payment charged once, refunds once', async () => {
  expect((await pay(apiUrl, 'before', { accountId: 'acct', amount: 100 })).body).toMatchObject({ status: 'COMPLETED' });

  // Payments in flight as history dies: each answers, or is refused as retryable, and is asked again.
  const ids = Array.from({ length: 8 }, (_, i) => `during-${i}`);
  const inFlight = ids.map((id, i) => pay(apiUrl, id, { accountId: 'acct', amount: 10 + i }));
  await cluster.kill('history');
  const firstAnswers = await Promise.all(inFlight);
  for (const answer of firstAnswers) expect([200, 202, 503]).toContain(answer.status);

  // While history is down (killed above, not yet started), a new payment is refused and starts nothing.
  const refused = await pay(apiUrl, 'while-down', { accountId: 'acct', amount: 999 });
  expect(refused.status).toBe(503);
  expect(refused.body.error.code).toBe('temporal_unavailable');
  expect(await ledger.entriesOf('while-down')).toEqual([]);

  await cluster.restart('history');
  const finals = await Promise.all(ids.map((id, i) => untilFinal(() => pay(apiUrl, id, { accountId: 'acct', amount: 10 + i }))));
  finals.forEach((answer, i) => expect(answer.body).toMatchObject({ paymentId: ids[i], status: 'COMPLETED', amount: 10 + i }));
  expect((await untilFinal(() => pay(apiUrl, 'while-down', { accountId: 'acct', amount: 999 }))).body).toMatchObject({
    status: 'COMPLETED',
  });

  // A refund after the restart, asked twice: once in the ledger.
  expect((await untilFinal(() => cancel(apiUrl, 'during-0'))).body).toEqual({ paymentId: 'during-0', status: 'CANCELLED', refunded: true });
  expect((await cancel(apiUrl, 'during-0')).body).toEqual({ paymentId: 'during-0', status: 'CANCELLED', refunded: true });

  for (const id of ['before', ...ids, 'while-down']) {
    const kinds = (await ledger.entriesOf(id)).map((entry) => entry.kind);
    expect({ id, kinds }).toEqual({ id, kinds: id === 'during-0' ? ['charge', 'refund'] : ['charge'] });
  }
  const charged = 100 + ids.reduce((sum, _, i) => sum + 10 + i, 0) - 10 + 999;
  expect((await ledger.account('acct')).balance).toBe(OPENING - charged);
  expect((await call(apiUrl, 'GET', '/payments/during-0')).body).toMatchObject({ status: 'CANCELLED', refunded: true });
  expect(cluster.crashes).toEqual([]);
});

test('a worker started before its namespace exists waits, saying so, and polls once the namespace and its search attributes are registered', async () => {
  const early = startEntry('src/worker.ts', {
    TEMPORAL_ADDRESS: cluster.address,
    TEMPORAL_NAMESPACE: 'registered-later',
    DATA_DIR: tempDir('cluster-early'),
    LOG_LEVEL: 'info',
  });
  try {
    await eventually('the worker says why it waits', async () => (/worker waits before polling/.test(early.output()) ? true : undefined), {
      timeoutMs: 60_000,
    });
    expect(early.output()).toContain('namespace registered-later does not exist yet');
    expect(early.output()).not.toContain('worker polling');
    const connection = await Connection.connect({ address: cluster.address });
    try {
      await ensureNamespace(connection, 'registered-later', 24 * 3_600_000, () => undefined);
      // The frontend remembers for a moment that the namespace was not found.
      await eventually('the new namespace to take search attributes', () =>
        registerSearchAttributes(connection.operatorService, 'registered-later').catch((err: unknown) => {
          if (isGrpcServiceError(err) && err.code === status.NOT_FOUND) return undefined;
          throw err;
        }),
      );
    } finally {
      await connection.close();
    }
    await eventually('the worker polls', async () => (/worker polling/.test(early.output()) ? true : undefined), { timeoutMs: 60_000 });
  } finally {
    early.kill();
    await early.exited;
  }
});
