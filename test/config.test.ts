import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, loadConfig } from '../src/config';

test('defaults follow the SPEC', () => {
  expect(loadConfig({})).toEqual({
    temporalAddress: '127.0.0.1:7233',
    temporalNamespace: 'default',
    temporalTls: undefined,
    temporalApiKey: undefined,
    taskQueue: 'payments',
    host: '127.0.0.1',
    port: 8080,
    dataDir: path.resolve('.data'),
    paymentExpiryMs: 60 * 60 * 1000,
    openingBalance: 100_000,
    logLevel: 'info',
    workerMetricsAddress: undefined,
    ledgerFaultRate: 0,
    ledgerWriteDelayMs: 0,
    benchRoutes: false,
  });
});

test('ms-style expiry windows are read', () => {
  expect(loadConfig({ PAYMENT_EXPIRY: '90s' }).paymentExpiryMs).toBe(90_000);
  expect(loadConfig({ PAYMENT_EXPIRY: '15m' }).paymentExpiryMs).toBe(900_000);
  expect(loadConfig({ PAYMENT_EXPIRY: '2h' }).paymentExpiryMs).toBe(7_200_000);
});

test.each([
  ['TEMPORAL_ADDRESS', 'localhost'],
  ['TEMPORAL_ADDRESS', 'host:99999'],
  ['TEMPORAL_NAMESPACE', 'has space'],
  ['TASK_QUEUE', 'x'.repeat(201)],
  ['HOST', 'not a host'],
  ['PORT', '80a'],
  ['PORT', '70000'],
  ['PAYMENT_EXPIRY', 'soon'],
  ['PAYMENT_EXPIRY', '500ms'],
  ['OPENING_BALANCE', '-1'],
  ['OPENING_BALANCE', '10.5'],
  ['LOG_LEVEL', 'loud'],
  ['LEDGER_FAULT_RATE', '2'],
  ['LEDGER_WRITE_DELAY_MS', '-1'],
  ['BENCH_ROUTES', 'yes'],
  ['WORKER_METRICS_ADDRESS', '9464'],
])('%s=%j is refused with a message naming it', (variable, value) => {
  expect(() => loadConfig({ [variable]: value })).toThrow(ConfigError);
  expect(() => loadConfig({ [variable]: value })).toThrow(new RegExp(`^${variable}: `));
});

describe('TLS towards Temporal', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'payments-config-'));
  const pem = path.join(dir, 'some.pem');
  fs.writeFileSync(pem, '-----BEGIN CERTIFICATE-----\nMII=\n-----END CERTIFICATE-----\n');
  const notPem = path.join(dir, 'notes.txt');
  fs.writeFileSync(notPem, 'hello');

  test('an API key alone turns TLS on with the system roots', () => {
    expect(loadConfig({ TEMPORAL_API_KEY: 'k' })).toMatchObject({ temporalApiKey: 'k', temporalTls: {} });
  });

  test('certificates are read at start', () => {
    const config = loadConfig({ TEMPORAL_TLS_CERT: pem, TEMPORAL_TLS_KEY: pem, TEMPORAL_TLS_CA: pem, TEMPORAL_TLS_SERVER_NAME: 'temporal.example' });
    expect(config.temporalTls?.clientCertPair?.crt.toString()).toContain('BEGIN CERTIFICATE');
    expect(config.temporalTls?.serverNameOverride).toBe('temporal.example');
  });

  test.each([
    [{ TEMPORAL_TLS_CERT: pem }, 'TEMPORAL_TLS_KEY'],
    [{ TEMPORAL_TLS_KEY: pem }, 'TEMPORAL_TLS_CERT'],
    [{ TEMPORAL_TLS_CA: path.join(dir, 'missing.pem') }, 'TEMPORAL_TLS_CA'],
    [{ TEMPORAL_TLS_CA: notPem }, 'TEMPORAL_TLS_CA'],
    [{ TEMPORAL_TLS: 'false', TEMPORAL_API_KEY: 'k' }, 'TEMPORAL_TLS'],
    [{ TEMPORAL_TLS: 'on' }, 'TEMPORAL_TLS'],
    [{ TEMPORAL_TLS_SERVER_NAME: 'no such name!' }, 'TEMPORAL_TLS_SERVER_NAME'],
  ])('%j is refused naming %s', (env, variable) => {
    expect(() => loadConfig(env)).toThrow(new RegExp(`^${variable}: `));
  });
});
