import * as path from 'node:path';
import { ConfigError, loadConfig } from '../src/config';

test('defaults follow the SPEC', () => {
  expect(loadConfig({})).toEqual({
    temporalAddress: '127.0.0.1:7233',
    temporalNamespace: 'default',
    taskQueue: 'payments',
    host: '127.0.0.1',
    port: 8080,
    dataDir: path.resolve('.data'),
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
])('%s=%j is refused with a message naming it', (variable, value) => {
  expect(() => loadConfig({ [variable]: value })).toThrow(ConfigError);
  expect(() => loadConfig({ [variable]: value })).toThrow(new RegExp(`^${variable}: `));
});
