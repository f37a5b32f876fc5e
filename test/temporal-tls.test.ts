/**
 * Worker and gateway reach Temporal over mutual TLS with an API key, as with a real cluster or
 * Temporal Cloud: the dev server behind a TLS front that demands a client certificate.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { newKey } from '../src/access/keys';
import { type Config, loadConfig } from '../src/config';
import { createGateway } from '../src/api';
import { openLedger } from '../src/ledger/open';
import { LedgerProvider } from '../src/providers/ledger';
import { createClient, temporalProblem } from '../src/temporal';
import { connectWorker } from '../src/worker';
import { createPaymentWorker } from '../src/worker';
import { call } from './helpers/gateway';
import { devServerEnv, tempDir, testDataConverter, workflowBundle } from './helpers/servers';
import { paymentCodec, paymentDataConverter } from '../src/codec/data-converter';
import { type Certificates, makeCertificates, startTlsProxy, type TlsProxy } from './helpers/tls-proxy';

const SERVER_NAME = 'temporal.payments.test';
const API_KEY = 'test-api-key';

let env: TestWorkflowEnvironment;
let certificates: Certificates;
let proxy: TlsProxy;
beforeAll(async () => {
  env = await devServerEnv();
  certificates = makeCertificates(tempDir('tls'), SERVER_NAME);
  proxy = await startTlsProxy(env.address, certificates);
});
afterAll(async () => {
  await proxy?.close();
  await env?.teardown();
});

function configFor(settings: Record<string, string>): Config {
  return loadConfig({
    TEMPORAL_ADDRESS: proxy.address,
    TEMPORAL_TLS_CA: certificates.ca,
    TEMPORAL_TLS_SERVER_NAME: SERVER_NAME,
    DATA_DIR: tempDir('tls-data'),
    TASK_QUEUE: `tls-${Date.now()}`,
    LOG_LEVEL: 'silent',
    ...settings,
  });
}

const OVER_TLS =
  'a payment goes through worker and gateway over mutual TLS, every call carrying the API key; the gateway asks callers for theirs';

test(OVER_TLS, async () => {
  const config = configFor({
    TEMPORAL_TLS_CERT: certificates.clientCert,
    TEMPORAL_TLS_KEY: certificates.clientKey,
    TEMPORAL_API_KEY: API_KEY,
    PORT: '0',
  });
  const ledger = await openLedger(config);
  // The gateway of createGateway(config) runs with AUTH=keys, as `npm run api` does.
  const key = newKey();
  await ledger.createKey({ id: key.id, tenant: 'default', scope: 'write', name: null, secretHash: key.secretHash });
  const caller = { authorization: `Bearer ${key.key}` };
  const connection = await connectWorker(config, () => undefined);
  let worker: Worker | undefined;
  const gateway = await createGateway(config);
  try {
    worker = await createPaymentWorker({
      connection,
      namespace: config.temporalNamespace,
      taskQueue: config.taskQueue,
      provider: new LedgerProvider(ledger),
      records: ledger,
      expiryMs: config.paymentExpiryMs,
      workflowBundle: workflowBundle(),
      // The gateway's own keys: the key file under this test's DATA_DIR.
      dataConverter: paymentDataConverter(paymentCodec(config)),
    });
    const { url } = await gateway.listen();
    await worker.runUntil(async () => {
      const paid = await call(url, 'POST', '/payments/tls-1/makePayment', {
        body: JSON.stringify({ accountId: 'acct-tls', amount: 250 }),
        contentType: 'application/json',
        headers: caller,
      });
      expect(paid).toMatchObject({ status: 200, body: { status: 'COMPLETED', replayed: false } });
      const cancelled = await call(url, 'POST', '/payments/tls-1/cancelPayment', { headers: caller });
      expect(cancelled.body).toEqual({ paymentId: 'tls-1', status: 'CANCELLED', refunded: true });
      expect((await call(url, 'GET', '/readyz')).status).toBe(200);
      expect((await ledger.entriesOf('tls-1')).map((entry) => entry.kind).sort()).toEqual(['charge', 'refund']);
    });
  } finally {
    await gateway.close();
    await connection.close();
    await ledger.close();
  }
  expect(proxy.authorizations.length).toBeGreaterThan(3);
  expect(new Set(proxy.authorizations)).toEqual(new Set([`Bearer ${API_KEY}`]));
});

test('without a client certificate the handshake is refused and the gateway reports Temporal unavailable', async () => {
  const refusedBefore = proxy.refusedHandshakes;
  const client = createClient(configFor({}), testDataConverter());
  try {
    expect(await temporalProblem(client)).toEqual(expect.any(String));
  } finally {
    await client.connection.close();
  }
  expect(proxy.refusedHandshakes).toBeGreaterThan(refusedBefore);
});

test('a server certificate from another CA is not trusted', async () => {
  const refusedBefore = proxy.refusedHandshakes;
  const other = makeCertificates(tempDir('tls-other'), SERVER_NAME);
  const client = createClient(
    configFor({ TEMPORAL_TLS_CA: other.ca, TEMPORAL_TLS_CERT: certificates.clientCert, TEMPORAL_TLS_KEY: certificates.clientKey }),
    testDataConverter(),
  );
  try {
    expect(await temporalProblem(client)).toEqual(expect.any(String));
  } finally {
    await client.connection.close();
  }
  // The client walked out of the handshake: the certificate, not the network, failed.
  expect(proxy.refusedHandshakes).toBeGreaterThan(refusedBefore);
});
