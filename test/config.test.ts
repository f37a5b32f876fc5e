import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, loadClusterConfig, loadConfig, redactUrl } from '../src/config';
import { newPayloadKey } from '../src/codec/payload-keys';
import { startEntry } from './helpers/processes';
import { tempDir } from './helpers/servers';

test('defaults follow the SPEC', () => {
  expect(loadConfig({})).toEqual({
    auth: 'keys',
    allowedOrigins: [],
    temporalAddress: '127.0.0.1:7233',
    temporalNamespace: 'default',
    temporalTls: undefined,
    temporalApiKey: undefined,
    taskQueue: 'payments',
    host: '127.0.0.1',
    port: 8080,
    adminPort: undefined,
    rateLimit: 100,
    dataDir: path.resolve('.data'),
    ledgerUrl: undefined,
    paymentExpiryMs: 60 * 60 * 1000,
    openingBalance: 100_000,
    logLevel: 'info',
    workerMetricsAddress: undefined,
    paymentProvider: { kind: 'ledger' },
    requestTimeoutMs: 30_000,
    shutdownDrainMs: 2_000,
    payloadKeys: undefined,
    payloadEncryption: 'on',
  });
});

test('ms-style expiry windows are read', () => {
  expect(loadConfig({ PAYMENT_EXPIRY: '90s' }).paymentExpiryMs).toBe(90_000);
  expect(loadConfig({ PAYMENT_EXPIRY: '15m' }).paymentExpiryMs).toBe(900_000);
  expect(loadConfig({ PAYMENT_EXPIRY: '2h' }).paymentExpiryMs).toBe(7_200_000);
  expect(loadConfig({ REQUEST_TIMEOUT: '5s' }).requestTimeoutMs).toBe(5_000);
  expect(loadConfig({ SHUTDOWN_DRAIN: '0' }).shutdownDrainMs).toBe(0);
  expect(loadConfig({ SHUTDOWN_DRAIN: '500ms' }).shutdownDrainMs).toBe(500);
  expect(loadConfig({ SHUTDOWN_DRAIN: '5s' }).shutdownDrainMs).toBe(5_000);
});

test('LEDGER_URL takes a PostgreSQL URL; a refusal does not repeat the password', () => {
  for (const url of ['postgres://ledger:secret@db.internal:5432/payments', 'postgresql://ledger@127.0.0.1/payments?sslmode=require']) {
    expect(loadConfig({ LEDGER_URL: url }).ledgerUrl).toBe(url);
  }
  expect(redactUrl('postgres://ledger:secret@db.internal:5432/payments')).toBe('postgres://ledger:***@db.internal:5432/payments');
  expect(redactUrl('postgres://ledger@db.internal/payments?password=secret&sslmode=require')).toBe(
    'postgres://ledger@db.internal/payments?password=***&sslmode=require',
  );
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
  ['REQUEST_TIMEOUT', 'never'],
  ['SHUTDOWN_DRAIN', '6s'],
  ['SHUTDOWN_DRAIN', '-1s'],
  ['SHUTDOWN_DRAIN', 'soon'],
  ['OPENING_BALANCE', '-1'],
  ['OPENING_BALANCE', '10.5'],
  ['LOG_LEVEL', 'loud'],
  ['AUTH', 'none'],
  ['ALLOWED_ORIGINS', 'shop.example.com'],
  ['ALLOWED_ORIGINS', 'https://shop.example.com/'],
  ['ALLOWED_ORIGINS', 'ftp://shop.example.com'],
  ['WORKER_METRICS_ADDRESS', '9464'],
  ['PAYMENT_PROVIDER', 'paypal'],
  ['LEDGER_URL', 'file:///tmp/ledger.db'],
  ['RATE_LIMIT', '0'],
  ['RATE_LIMIT', '2.5'],
  ['RATE_LIMIT', 'fast'],
  ['RATE_LIMIT', '1000001'],
  ['ADMIN_PORT', 'metrics'],
  ['ADMIN_PORT', '70000'],
  ['ADMIN_PORT', '8080'],
  ['PAYLOAD_ENCRYPTION', 'off'],
])('%s=%j is refused with a message naming it', (variable, value) => {
  expect(() => loadConfig({ [variable]: value })).toThrow(ConfigError);
  expect(() => loadConfig({ [variable]: value })).toThrow(new RegExp(`^${variable}: `));
});

describe('TLS towards Temporal', () => {
  const dir = tempDir('config');
  const pem = path.join(dir, 'some.pem');
  fs.writeFileSync(pem, '-----BEGIN CERTIFICATE-----\nMII=\n-----END CERTIFICATE-----\n');
  const notPem = path.join(dir, 'notes.txt');
  fs.writeFileSync(notPem, 'hello');

  test('an API key alone turns TLS on with the system roots', () => {
    expect(loadConfig({ TEMPORAL_API_KEY: 'k' })).toMatchObject({ temporalApiKey: 'k', temporalTls: {} });
  });

  test('certificates are read at start', () => {
    const config = loadConfig({
      TEMPORAL_TLS_CERT: pem,
      TEMPORAL_TLS_KEY: pem,
      TEMPORAL_TLS_CA: pem,
      TEMPORAL_TLS_SERVER_NAME: 'temporal.example',
    });
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

describe('PAYMENT_PROVIDER=stripe', () => {
  const stripe = { PAYMENT_PROVIDER: 'stripe', STRIPE_API_KEY: 'sk_test_123' };

  test('reads the key, an optional base address and the currency', () => {
    expect(loadConfig(stripe).paymentProvider).toEqual({ kind: 'stripe', apiKey: 'sk_test_123', apiBase: undefined, currency: 'usd' });
    expect(loadConfig({ ...stripe, STRIPE_API_BASE: 'http://127.0.0.1:12111', STRIPE_CURRENCY: 'eur' }).paymentProvider).toEqual({
      kind: 'stripe',
      apiKey: 'sk_test_123',
      apiBase: 'http://127.0.0.1:12111',
      currency: 'eur',
    });
    expect(loadConfig({ ...stripe, STRIPE_API_BASE: 'https://stripe.internal/' }).paymentProvider).toMatchObject({
      apiBase: 'https://stripe.internal',
    });
  });

  test('without STRIPE_API_KEY it is refused, naming the variable', () => {
    expect(() => loadConfig({ PAYMENT_PROVIDER: 'stripe' })).toThrow(/^STRIPE_API_KEY: required when PAYMENT_PROVIDER=stripe$/);
  });

  test('a refused STRIPE_API_BASE is echoed without its password', () => {
    expect(() => loadConfig({ ...stripe, STRIPE_API_BASE: 'http://user:pw-secret@127.0.0.1' })).toThrow(/^STRIPE_API_BASE: /);
    expect(() => loadConfig({ ...stripe, STRIPE_API_BASE: 'http://user:pw-secret@127.0.0.1' })).not.toThrow(/pw-secret/);
  });

  test('STRIPE_API_BASE takes plain http only to this machine: elsewhere the key would cross the network in clear', () => {
    for (const base of ['http://127.0.0.1:12111', 'http://127.8.9.10:12111', 'http://localhost:12111', 'http://[::1]:12111']) {
      expect(loadConfig({ ...stripe, STRIPE_API_BASE: base }).paymentProvider).toMatchObject({ apiBase: base });
    }
    for (const base of ['https://stripe.internal', 'https://10.0.0.5:12111']) {
      expect(loadConfig({ ...stripe, STRIPE_API_BASE: base }).paymentProvider).toMatchObject({ apiBase: base });
    }
    for (const base of [
      'http://stripe.internal',
      'http://10.0.0.5:12111',
      'http://192.168.1.20',
      'http://[fe80::1]:12111',
      'http://localhost.example.com',
      'http://127.0.0.1.example.com',
    ]) {
      expect(() => loadConfig({ ...stripe, STRIPE_API_BASE: base })).toThrow(
        /^STRIPE_API_BASE: plain http is accepted only for this machine \(127\.0\.0\.0\/8, ::1, localhost\): .* in clear; use https:\/\//,
      );
    }
  });

  test('a malformed key is refused without echoing it', () => {
    expect(() => loadConfig({ ...stripe, STRIPE_API_KEY: 'pk_test_secretish' })).toThrow(/^STRIPE_API_KEY: /);
    expect(() => loadConfig({ ...stripe, STRIPE_API_KEY: 'pk_test_secretish' })).not.toThrow(/secretish/);
  });

  test.each([
    ['STRIPE_API_BASE', 'localhost:12111'],
    ['STRIPE_API_BASE', 'ftp://127.0.0.1:12111'],
    ['STRIPE_API_BASE', 'http://127.0.0.1:12111/v1'],
    ['STRIPE_API_BASE', 'http://user:pw@127.0.0.1'],
    ['STRIPE_API_BASE', 'not a url'],
    ['STRIPE_CURRENCY', 'USD'],
    ['STRIPE_CURRENCY', 'euro'],
  ])('%s=%j is refused with a message naming it', (variable, value) => {
    expect(() => loadConfig({ ...stripe, [variable]: value })).toThrow(new RegExp(`^${variable}: `));
  });

  test('the ledger provider reads no Stripe settings', () => {
    expect(loadConfig({ STRIPE_API_BASE: 'nonsense' }).paymentProvider).toEqual({ kind: 'ledger' });
  });
});

describe('faults are no setting of the service', () => {
  test('the service reads no fault settings: they change nothing in its configuration', () => {
    expect(loadConfig({ LEDGER_FAULT_RATE: '0.5', LEDGER_WRITE_DELAY_MS: '1000' })).toEqual(loadConfig({}));
  });

  test.each([
    ['LEDGER_FAULT_RATE', '2'],
    ['LEDGER_WRITE_DELAY_MS', '-1'],
  ])('the fault-injecting worker refuses %s=%j, naming it, before it connects anywhere', async (variable, value) => {
    const worker = startEntry('tools/faults/worker.ts', { [variable]: value, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    expect(await worker.exited).toBe(2);
    expect(worker.output()).toContain(`configuration error: ${variable}: expected a number from 0 to`);
  });
});

describe('PAYLOAD_KEYS', () => {
  const k1 = newPayloadKey('k1');
  const k2 = newPayloadKey('k2');

  test('id:base64key, comma-separated: the first encrypts, each decrypts', () => {
    const keys = loadConfig({ PAYLOAD_KEYS: `${k2}, ${k1}` }).payloadKeys!;
    expect(keys.map(({ id }) => id)).toEqual(['k2', 'k1']);
    expect(keys.map(({ key }) => key.length)).toEqual([32, 32]);
    expect(keys[1]!.key.toString('base64')).toBe(k1.split(':')[1]);
  });

  test.each([
    ['no id', k1.slice(k1.indexOf(':') + 1)],
    ['an id outside the alphabet', `k 1:${k1.split(':')[1]}`],
    ['a 16-byte key', `k1:${Buffer.alloc(16, 7).toString('base64')}`],
    ['a key that is not base64', `k1:${'!'.repeat(43)}=`],
    ['an id given twice', `${k1},${k1.replace(/:.*/, '')}:${k2.split(':')[1]}`],
    ['nothing but commas', ',,'],
  ])('%s is refused, naming the variable and showing no key', (_what, value) => {
    let refusal: Error | undefined;
    try {
      loadConfig({ PAYLOAD_KEYS: value });
    } catch (err) {
      refusal = err as Error;
    }
    expect(refusal).toBeInstanceOf(ConfigError);
    expect(refusal!.message).toMatch(/^PAYLOAD_KEYS: /);
    // What was given where a key goes (after the id, or the whole entry when it names no id).
    const given = value
      .split(',')
      .map((entry) => entry.slice(entry.indexOf(':') + 1))
      .filter((key) => key.length > 8);
    for (const secret of given) expect(refusal!.message).not.toContain(secret);
  });

  test('a worker given a bad value stops at once, naming it', async () => {
    const worker = startEntry('src/worker.ts', { PAYLOAD_KEYS: 'k1:short', TEMPORAL_ADDRESS: '127.0.0.1:1', DATA_DIR: tempDir('keys') });
    expect(await worker.exited).toBe(2);
    expect(worker.output()).toContain('PAYLOAD_KEYS: key k1 is not 32 bytes in base64');
  });
});

test('ALLOWED_ORIGINS: origins as browsers send them, comma-separated', () => {
  expect(loadConfig({ ALLOWED_ORIGINS: 'https://shop.example.com, http://127.0.0.1:3000' }).allowedOrigins).toEqual([
    'https://shop.example.com',
    'http://127.0.0.1:3000',
  ]);
});

test('RATE_LIMIT: requests a second per API key, or off', () => {
  expect(loadConfig({ RATE_LIMIT: '5' }).rateLimit).toBe(5);
  expect(loadConfig({ RATE_LIMIT: 'off' }).rateLimit).toBeUndefined();
});

test('ADMIN_PORT: a port other than PORT', () => {
  expect(loadConfig({ ADMIN_PORT: '9464' })).toMatchObject({ port: 8080, adminPort: 9464 });
  expect(loadConfig({ PORT: '0', ADMIN_PORT: '0' })).toMatchObject({ port: 0, adminPort: 0 });
  expect(() => loadConfig({ PORT: '9000', ADMIN_PORT: '9000' })).toThrow(/^ADMIN_PORT: must differ from PORT \(9000\)/);
});

describe('npm run temporal:cluster', () => {
  test('defaults: 4 history shards, a day of retention, a local database; the shared settings beside them', () => {
    const cluster = loadClusterConfig({});
    expect(cluster).toEqual({ base: loadConfig({}), historyShards: 4, db: undefined, retentionMs: 24 * 3_600_000 });
    expect(
      loadClusterConfig({
        TEMPORAL_HISTORY_SHARDS: '16',
        TEMPORAL_RETENTION: '7d',
        TEMPORAL_DB_URL: 'postgres://t:secret@db:5432/temporal',
      }),
    ).toMatchObject({
      historyShards: 16,
      retentionMs: 7 * 24 * 3_600_000,
      db: { host: 'db', port: 5432, user: 't', password: 'secret', database: 'temporal' },
    });
    expect(loadClusterConfig({ TEMPORAL_DB_URL: 'postgresql://t@[::1]/' }).db).toEqual({
      host: '::1',
      port: 5432,
      user: 't',
      password: '',
      database: 'temporal',
    });
  });

  test.each([
    ['TEMPORAL_HISTORY_SHARDS', '0', /whole number from 1/],
    ['TEMPORAL_HISTORY_SHARDS', 'four', /whole number from 1/],
    ['TEMPORAL_RETENTION', '30m', /at least 1h/],
    ['TEMPORAL_RETENTION', 'soon', /duration/],
    ['TEMPORAL_DB_URL', 'mysql://t:secret@db/temporal', /postgres:\/\//],
    ['TEMPORAL_DB_URL', 'postgres://t:secret@db/temporal?sslmode=require', /without TLS/],
    ['TEMPORAL_DB_URL', 'postgres://db/temporal', /names no user/],
    ['TEMPORAL_ADDRESS', 'temporal.internal:7233', /IPv4 address or localhost/],
  ])('%s=%s is refused, naming the variable', (variable, value, problem) => {
    const refused = () => loadClusterConfig({ [variable]: value });
    expect(refused).toThrow(ConfigError);
    expect(refused).toThrow(new RegExp(`^${variable}: `));
    expect(refused).toThrow(problem);
    expect(refused).not.toThrow(/secret/);
  });
});
