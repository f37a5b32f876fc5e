/**
 * The only reader of process.env. Every setting is validated here, once, so that a bad
 * value stops a process at start with a message naming the variable, not later mid-payment.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import ms from 'ms';
import { DEFAULT_EXPIRY, ID_REGEX, parseExpiry } from './domain/contract';
import { isLoopback } from './net';
import { type PayloadKeys, parsePayloadKeys } from './codec/payload-keys';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** TLS towards Temporal: certificates as read from their files at start. */
export interface TemporalTls {
  /** PEM of the CA that signed the server's certificate; the system's roots when absent. */
  serverRootCACertificate?: Buffer;
  /** The name the server's certificate must carry, when it differs from the address's host. */
  serverNameOverride?: string;
  /** For mutual TLS (self-hosted clusters, Temporal Cloud with certificates). */
  clientCertPair?: { crt: Buffer; key: Buffer };
}
export const PAYMENT_PROVIDERS = ['ledger', 'stripe'] as const;
/** `keys`: every request but the probes and docs carries an API key; `off`: none does, and all are the tenant `default`'s. */
export const AUTH_MODES = ['keys', 'off'] as const;
export type AuthMode = (typeof AUTH_MODES)[number];
/** `on`: payloads are written encrypted; `decrypt-only`: in clear, for the first deploy beside an older release. */
export const PAYLOAD_ENCRYPTION = ['on', 'decrypt-only'] as const;
export type PayloadEncryption = (typeof PAYLOAD_ENCRYPTION)[number];

/** Where charges and refunds go: the built-in ledger, or Stripe. */
export type ProviderConfig =
  | { kind: 'ledger' }
  | {
      kind: 'stripe';
      apiKey: string;
      /** Another base address than Stripe's (a local stripe-mock); undefined for Stripe itself. */
      apiBase: string | undefined;
      /** ISO code, lower case. */
      currency: string;
    };

export interface Config {
  /** The gateway's access control (AUTH). */
  auth: AuthMode;
  /** Origins (scheme://host[:port]) whose browsers may POST (ALLOWED_ORIGINS); a POST from any other Origin is refused. */
  allowedOrigins: string[];
  temporalAddress: string;
  temporalNamespace: string;
  /** Absent: plain-text gRPC, as the local dev server speaks. */
  temporalTls: TemporalTls | undefined;
  /** Sent as a bearer token on every call (Temporal Cloud API keys). */
  temporalApiKey: string | undefined;
  taskQueue: string;
  host: string;
  port: number;
  /** Where /metrics and /docs are served instead of `port`, on the same host; undefined: on `port`. */
  adminPort: number | undefined;
  /** Requests a second one API key may make at one gateway process; undefined: no limit. */
  rateLimit: number | undefined;
  /** Absolute path: ledger database and dev server database live here. */
  dataDir: string;
  /** A PostgreSQL ledger shared by every worker and gateway; unset: the SQLite file under dataDir. */
  ledgerUrl: string | undefined;
  paymentExpiryMs: number;
  /** How long the gateway waits for a payment to settle before answering 202 with its view. */
  requestTimeoutMs: number;
  /** After SIGTERM, how long the gateway keeps answering (readiness 503, `Connection: close`) before it stops listening. */
  shutdownDrainMs: number;
  /** Minor units (cents) an account opens with on first use. */
  openingBalance: number;
  logLevel: LogLevel;
  /** host:port where the worker serves Temporal's own worker metrics (Prometheus); off when absent. */
  workerMetricsAddress: string | undefined;
  paymentProvider: ProviderConfig;
  /** PAYLOAD_KEYS: the first encrypts, each decrypts; undefined: the key file under dataDir (codec/payload-keys.ts). */
  payloadKeys: PayloadKeys | undefined;
  /** PAYLOAD_ENCRYPTION: `decrypt-only` writes payloads in clear while reading encrypted ones (the first deploy of encryption). */
  payloadEncryption: PayloadEncryption;
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`${variable}: ${problem}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

const HOSTNAME = /^(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:.]+)$/;

function port(variable: string, text: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value > 65535) {
    throw new ConfigError(variable, `expected a port number 0-65535, got ${JSON.stringify(text)}`);
  }
  return value;
}

function hostPort(variable: string, text: string): string {
  const match = text.match(/^(.+):(\d+)$/);
  if (!match || !HOSTNAME.test(match[1]!)) {
    throw new ConfigError(variable, `expected host:port (for example 127.0.0.1:7233), got ${JSON.stringify(text)}`);
  }
  port(variable, match[2]!);
  return text;
}

function name(variable: string, text: string): string {
  // Namespaces and task queues take the same alphabet as payment-ids.
  if (!ID_REGEX.test(text)) {
    throw new ConfigError(variable, `expected 1-200 characters of A-Z a-z 0-9 . _ : -, got ${JSON.stringify(text)}`);
  }
  return text;
}

/** A duration of at least 1s, ms-style (90s, 15m, 1h) or plain milliseconds. */
function duration(variable: string, text: string): number {
  const value = parseExpiry(text);
  if (value === undefined) {
    throw new ConfigError(variable, `expected a duration of at least 1s such as 90s, 15m or 1h, got ${JSON.stringify(text)}`);
  }
  return value;
}

/** From SIGTERM to exit, whatever is in flight (http/shutdown.ts): an orchestrator's termination grace (30 s by default) must exceed it. */
export const SHUTDOWN_BOUND_MS = 10_000;
/** The longest drain SHUTDOWN_DRAIN may ask for: it leaves requests in flight a few seconds of the bound. */
export const MAX_SHUTDOWN_DRAIN_MS = 5_000;

/**
 * The gateway's drain: 0 (a gateway no load balancer stands in front of), or a duration that
 * leaves requests in flight a few seconds of the shutdown's bound to finish in.
 */
function drain(variable: string, text: string): number {
  const value = text === '0' ? 0 : ms(text as ms.StringValue);
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_SHUTDOWN_DRAIN_MS) {
    throw new ConfigError(
      variable,
      `expected 0 or a duration up to ${ms(MAX_SHUTDOWN_DRAIN_MS)} (the gateway exits within ${ms(SHUTDOWN_BOUND_MS)} of SIGTERM), such as 2s; got ${JSON.stringify(text)}`,
    );
  }
  return value;
}

function integer(variable: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max) {
    throw new ConfigError(variable, `expected a whole number from ${min} to ${max}, got ${JSON.stringify(text)}`);
  }
  return value;
}

/** A valid URL with its password replaced: for logs. */
export function redactUrl(text: string): string {
  const url = new URL(text);
  if (url.password) url.password = '***';
  // node-postgres also takes a password (or a key's passphrase) from the query string.
  for (const name of [...url.searchParams.keys()]) {
    if (/pass|secret|key|token/i.test(name)) url.searchParams.set(name, '***');
  }
  return url.toString();
}

/** The URL in `text`, or undefined when it is none. */
function parsedUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

function postgresUrl(variable: string, text: string): string {
  const url = parsedUrl(text);
  if (!url || (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:')) {
    // Not echoed: it may hold a password.
    throw new ConfigError(variable, 'expected a postgres:// or postgresql:// URL such as postgres://user:password@host:5432/database');
  }
  return text;
}

function boolean(variable: string, text: string): boolean {
  if (text !== 'true' && text !== 'false') throw new ConfigError(variable, `expected true or false, got ${JSON.stringify(text)}`);
  return text === 'true';
}

/** Comma-separated origins, each `scheme://host[:port]` as browsers send it in `Origin`. */
function origins(variable: string, text: string): string[] {
  return text
    .split(',')
    .map((origin) => origin.trim())
    .filter(Boolean)
    .map((origin) => {
      let url: URL | undefined;
      try {
        url = new URL(origin);
      } catch {
        // refused below
      }
      if (!url || !/^https?:$/.test(url.protocol) || url.origin !== origin) {
        throw new ConfigError(
          variable,
          `expected origins such as https://shop.example.com, comma-separated; got ${JSON.stringify(origin)}`,
        );
      }
      return origin;
    });
}

function oneOf<T extends string>(choices: readonly T[]) {
  return (variable: string, text: string): T => {
    if (!(choices as readonly string[]).includes(text)) {
      throw new ConfigError(variable, `expected one of ${choices.join(', ')}, got ${JSON.stringify(text)}`);
    }
    return text as T;
  };
}

/** Never echoed in the message: it is a secret. */
function stripeKey(variable: string, text: string): string {
  if (text === '') throw new ConfigError(variable, 'required when PAYMENT_PROVIDER=stripe');
  if (!/^(sk|rk)_(test|live)_[A-Za-z0-9]+$/.test(text)) {
    throw new ConfigError(variable, 'expected a Stripe secret or restricted key (sk_test_..., sk_live_..., rk_...)');
  }
  return text;
}

/** Plain http only to this machine: to any other host the secret key would cross a network in clear. */
function stripeApiBase(variable: string, text: string): string {
  const url = parsedUrl(text);
  if (!url || !['http:', 'https:'].includes(url.protocol) || url.username || url.pathname !== '/' || url.search || url.hash) {
    const shown = url ? redactUrl(text) : text;
    throw new ConfigError(
      variable,
      `expected an http or https URL of a host (for example http://127.0.0.1:12111), got ${JSON.stringify(shown)}`,
    );
  }
  if (url.protocol === 'http:' && !isLoopback(url.hostname.replace(/^\[(.*)\]$/, '$1'))) {
    throw new ConfigError(
      variable,
      `plain http is accepted only for this machine (127.0.0.0/8, ::1, localhost): to ${url.host} the Stripe key would cross ` +
        `the network in clear; use https://${url.host}`,
    );
  }
  return url.origin;
}

const MAX_RATE_LIMIT = 1_000_000;

function rateLimit(variable: string, text: string): number | undefined {
  if (text === 'off') return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < 1 || value > MAX_RATE_LIMIT) {
    throw new ConfigError(variable, `expected requests a second per API key, 1 to ${MAX_RATE_LIMIT}, or off; got ${JSON.stringify(text)}`);
  }
  return value;
}

/** Never echoed: the value is keys. */
function payloadKeys(variable: string, text: string): PayloadKeys {
  try {
    return parsePayloadKeys(text);
  } catch (err) {
    throw new ConfigError(
      variable,
      `${(err as Error).message}; expected id:base64key[,id:base64key...] (npm run keys -- payload-key makes one)`,
    );
  }
}

function currency(variable: string, text: string): string {
  if (!/^[a-z]{3}$/.test(text))
    throw new ConfigError(variable, `expected a lower-case ISO currency code such as usd, got ${JSON.stringify(text)}`);
  return text;
}

function host(variable: string, text: string): string {
  if (!HOSTNAME.test(text)) throw new ConfigError(variable, `expected a host name or IP address, got ${JSON.stringify(text)}`);
  return text;
}

function pemFile(variable: string, text: string): Buffer {
  let content: Buffer;
  try {
    content = fs.readFileSync(text);
  } catch (err) {
    throw new ConfigError(
      variable,
      `cannot read ${JSON.stringify(text)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  if (!content.includes('-----BEGIN ')) throw new ConfigError(variable, `${JSON.stringify(text)} is not a PEM file`);
  return content;
}

/**
 * TLS is on when asked for, or when a certificate or an API key is given (an API key over
 * plain text would travel in the clear); asking for it off while giving certificates is a mistake.
 */
function temporalTls(
  optional: <T>(variable: string, parse: (variable: string, text: string) => T) => T | undefined,
  apiKey: boolean,
): TemporalTls | undefined {
  const crt = optional('TEMPORAL_TLS_CERT', pemFile);
  const key = optional('TEMPORAL_TLS_KEY', pemFile);
  if ((crt === undefined) !== (key === undefined)) {
    const missing = crt === undefined ? 'TEMPORAL_TLS_CERT' : 'TEMPORAL_TLS_KEY';
    throw new ConfigError(missing, 'TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together: set both or neither');
  }
  const tls: TemporalTls = {
    serverRootCACertificate: optional('TEMPORAL_TLS_CA', pemFile),
    serverNameOverride: optional('TEMPORAL_TLS_SERVER_NAME', host),
    clientCertPair: crt && key ? { crt, key } : undefined,
  };
  const implied = apiKey || Object.values(tls).some((value) => value !== undefined);
  const wanted = optional('TEMPORAL_TLS', boolean);
  if (wanted === false && implied) {
    throw new ConfigError('TEMPORAL_TLS', 'is false, but TLS settings or TEMPORAL_API_KEY are given: they need TLS');
  }
  return wanted || implied ? tls : undefined;
}

/** Reads the configuration from `env` (the process environment by default); throws ConfigError. */
export function loadConfig(env: Env = process.env): Config {
  const read = <T>(variable: string, fallback: string, parse: (variable: string, text: string) => T): T => {
    const raw = env[variable];
    return parse(variable, raw === undefined || raw === '' ? fallback : raw.trim());
  };
  const optional = <T>(variable: string, parse: (variable: string, text: string) => T): T | undefined => {
    const raw = env[variable]?.trim();
    return raw ? parse(variable, raw) : undefined;
  };
  const temporalApiKey = optional('TEMPORAL_API_KEY', (_v, text) => text);
  const publicPort = read('PORT', '8080', port);
  const adminPort = optional('ADMIN_PORT', port);
  // 0 asks the system for a free port, as many times as it is given.
  if (adminPort !== undefined && adminPort !== 0 && adminPort === publicPort) {
    throw new ConfigError('ADMIN_PORT', `must differ from PORT (${publicPort}): it is the port that serves metrics and docs instead`);
  }
  return {
    auth: read('AUTH', 'keys', oneOf(AUTH_MODES)),
    allowedOrigins: read('ALLOWED_ORIGINS', '', origins),
    temporalAddress: read('TEMPORAL_ADDRESS', '127.0.0.1:7233', hostPort),
    temporalNamespace: read('TEMPORAL_NAMESPACE', 'default', name),
    temporalTls: temporalTls(optional, temporalApiKey !== undefined),
    temporalApiKey,
    taskQueue: read('TASK_QUEUE', 'payments', name),
    host: read('HOST', '127.0.0.1', host),
    port: publicPort,
    adminPort,
    rateLimit: read('RATE_LIMIT', '100', rateLimit),
    dataDir: path.resolve(read('DATA_DIR', '.data', (_v, text) => text)),
    ledgerUrl: optional('LEDGER_URL', postgresUrl),
    paymentExpiryMs: read('PAYMENT_EXPIRY', DEFAULT_EXPIRY, duration),
    requestTimeoutMs: read('REQUEST_TIMEOUT', '30s', duration),
    shutdownDrainMs: read('SHUTDOWN_DRAIN', '2s', drain),
    openingBalance: read('OPENING_BALANCE', '100000', (v, text) => integer(v, text, 0, 1e15)),
    logLevel: read('LOG_LEVEL', 'info', oneOf(LOG_LEVELS)),
    workerMetricsAddress: optional('WORKER_METRICS_ADDRESS', hostPort),
    paymentProvider:
      read('PAYMENT_PROVIDER', 'ledger', oneOf(PAYMENT_PROVIDERS)) === 'ledger'
        ? { kind: 'ledger' }
        : {
            kind: 'stripe',
            apiKey: read('STRIPE_API_KEY', '', stripeKey),
            apiBase: optional('STRIPE_API_BASE', stripeApiBase),
            currency: read('STRIPE_CURRENCY', 'usd', currency),
          },
    payloadKeys: optional('PAYLOAD_KEYS', payloadKeys),
    payloadEncryption: read('PAYLOAD_ENCRYPTION', 'on', oneOf(PAYLOAD_ENCRYPTION)),
  };
}

/** For entry points: what `load` reads, or exit(2) with the message naming the bad variable. */
function orExit<T>(load: () => T): T {
  try {
    return load();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`configuration error: ${err.message}\n`);
    process.exit(2);
  }
}

export function loadConfigOrExit(env: Env = process.env): Config {
  return orExit(() => loadConfig(env));
}

/** Where Temporal's databases live: a database name, and that name + `_visibility` beside it. */
export interface TemporalDatabase {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

/** `npm run temporal:cluster`'s own settings, beside the shared ones (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, DATA_DIR). */
export interface ClusterConfig {
  base: Config;
  /** Fixed when the database is created: the history service refuses to start on a database made with another count. */
  historyShards: number;
  /** An existing PostgreSQL server for Temporal's databases; unset: a local one kept under DATA_DIR. */
  db: TemporalDatabase | undefined;
  /** How long the namespace keeps a closed payment's workflow. */
  retentionMs: number;
}

const HOUR_MS = 3_600_000;
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** The launcher passes it to the server and its SQL tool as separate fields: options it would drop are refused, not ignored. */
function temporalDatabase(variable: string, text: string): TemporalDatabase {
  const url = new URL(postgresUrl(variable, text));
  if (url.search) {
    throw new ConfigError(variable, 'takes no query parameters (such as sslmode): the launcher connects to PostgreSQL without TLS');
  }
  if (!url.username) throw new ConfigError(variable, 'names no user: expected postgres://user:password@host:5432/database');
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(url.port || 5432),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    database: decodeURIComponent(url.pathname.slice(1)) || 'temporal',
  };
}

/** Reads ClusterConfig from `env`; throws ConfigError. */
export function loadClusterConfig(env: Env = process.env): ClusterConfig {
  const base = loadConfig(env);
  // Each service binds to it and gives it to the others as its address.
  const { host } = splitAddress(base.temporalAddress);
  if (host !== 'localhost' && !IPV4.test(host)) {
    throw new ConfigError('TEMPORAL_ADDRESS', `the cluster binds to an IPv4 address or localhost, got ${JSON.stringify(host)}`);
  }
  const raw = (variable: string) => env[variable]?.trim() || undefined;
  const retention = raw('TEMPORAL_RETENTION') ?? '24h';
  const retentionMs = duration('TEMPORAL_RETENTION', retention);
  // The server refuses a local namespace's retention under an hour.
  if (retentionMs < HOUR_MS) throw new ConfigError('TEMPORAL_RETENTION', `must be at least 1h, got ${JSON.stringify(retention)}`);
  const dbUrl = raw('TEMPORAL_DB_URL');
  return {
    base,
    historyShards: integer('TEMPORAL_HISTORY_SHARDS', raw('TEMPORAL_HISTORY_SHARDS') ?? '4', 1, 16384),
    db: dbUrl === undefined ? undefined : temporalDatabase('TEMPORAL_DB_URL', dbUrl),
    retentionMs,
  };
}

export function loadClusterConfigOrExit(env: Env = process.env): ClusterConfig {
  return orExit(() => loadClusterConfig(env));
}

/** The local Temporal's web UI (the dev server's, the cluster launcher's) listens on its frontend's port + 1000. */
export function temporalUiPort(frontendPort: number): number {
  return frontendPort + 1000;
}

/** Where a browser calling the codec endpoint from the local Temporal's web UI comes from. */
export function temporalUiOrigins(config: Pick<Config, 'temporalAddress'>): string[] {
  const { host, port } = splitAddress(config.temporalAddress);
  const names = new Set([host.includes(':') ? `[${host}]` : host, 'localhost', '127.0.0.1']);
  return [...names].map((name) => `http://${name}:${temporalUiPort(port)}`);
}

/** The gateway's codec endpoint as a browser or the CLI on this machine reaches it: on ADMIN_PORT when set. */
export function codecEndpoint(config: Pick<Config, 'host' | 'port' | 'adminPort'>): string {
  const host =
    config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host.includes(':') ? `[${config.host}]` : config.host;
  return `http://${host}:${config.adminPort ?? config.port}/codec`;
}

/** Host and port of TEMPORAL_ADDRESS, for the dev server launcher. */
export function splitAddress(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port: Number(address.slice(at + 1)) };
}
