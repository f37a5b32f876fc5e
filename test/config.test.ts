import * as path from 'node:path';
import { ConfigError, loadConfig, redactUrl } from '../src/config';

test('defaults follow the SPEC', () => {
  expect(loadConfig({})).toEqual({
    temporalAddress: '127.0.0.1:7233',
    temporalNamespace: 'default',
    taskQueue: 'payments',
    host: '127.0.0.1',
    port: 8080,
    dataDir: path.resolve('.data'),
    ledgerUrl: undefined,
    paymentExpiryMs: 60 * 60 * 1000,
    openingBalance: 100_000,
    logLevel: 'info',
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

test('LEDGER_URL takes a PostgreSQL URL; a refusal does not repeat the password', () => {
  for (const url of ['postgres://ledger:secret@db.internal:5432/payments', 'postgresql://ledger@127.0.0.1/payments?sslmode=require']) {
    expect(loadConfig({ LEDGER_URL: url }).ledgerUrl).toBe(url);
  }
  expect(redactUrl('postgres://ledger:secret@db.internal:5432/payments')).toBe('postgres://ledger:***@db.internal:5432/payments');
  for (const url of ['mysql://ledger:secret@db/payments', 'ledger:secret@db/payments']) {
    expect(() => loadConfig({ LEDGER_URL: url })).toThrow(/^LEDGER_URL: expected a postgres:\/\/ or postgresql:\/\/ URL/);
    expect(() => loadConfig({ LEDGER_URL: url })).not.toThrow(/secret/);
  }
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
  ['LEDGER_URL', 'file:///tmp/ledger.db'],
])('%s=%j is refused with a message naming it', (variable, value) => {
  expect(() => loadConfig({ [variable]: value })).toThrow(ConfigError);
  expect(() => loadConfig({ [variable]: value })).toThrow(new RegExp(`^${variable}: `));
});
