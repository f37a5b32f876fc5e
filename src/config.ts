/**
 * The only reader of process.env. Every setting is validated here, once, so that a bad
 * value stops a process at start with a message naming the variable, not later mid-payment.
 */
import * as path from 'node:path';
import { DEFAULT_EXPIRY, parseExpiry } from './domain/payment';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface Config {
  temporalAddress: string;
  temporalNamespace: string;
  taskQueue: string;
  host: string;
  port: number;
  /** Absolute path: ledger database and dev server database live here. */
  dataDir: string;
  /** A PostgreSQL ledger shared by every worker and gateway; unset: the SQLite file under dataDir. */
  ledgerUrl: string | undefined;
  paymentExpiryMs: number;
  /** Minor units (cents) an account opens with on first use. */
  openingBalance: number;
  logLevel: LogLevel;
  /** Share of ledger writes that fail with a transient fault (0 in production). */
  ledgerFaultRate: number;
  /** Pause after each ledger write commits (0 in production): widens crash windows in fault tests. */
  ledgerWriteDelayMs: number;
  /** Serve POST /bench/ceiling/:id, the benchmark's measure of Temporal alone (off in production). */
  benchRoutes: boolean;
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

const NAME = /^[A-Za-z0-9._:-]{1,200}$/;
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
  if (!NAME.test(text)) {
    throw new ConfigError(variable, `expected 1-200 characters of A-Z a-z 0-9 . _ : -, got ${JSON.stringify(text)}`);
  }
  return text;
}

function expiry(variable: string, text: string): number {
  const value = parseExpiry(text);
  if (value === undefined) {
    throw new ConfigError(variable, `expected a duration of at least 1s such as 90s, 15m or 1h, got ${JSON.stringify(text)}`);
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

function fraction(variable: string, text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < 0 || value > 1) {
    throw new ConfigError(variable, `expected a number from 0 to 1, got ${JSON.stringify(text)}`);
  }
  return value;
}

/** A valid URL with its password replaced: for logs. */
export function redactUrl(text: string): string {
  const url = new URL(text);
  if (url.password) url.password = '***';
  return url.toString();
}

function postgresUrl(variable: string, text: string): string | undefined {
  if (text === '') return undefined;
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    // refused below
  }
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

function logLevel(variable: string, text: string): LogLevel {
  if (!(LOG_LEVELS as readonly string[]).includes(text)) {
    throw new ConfigError(variable, `expected one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(text)}`);
  }
  return text as LogLevel;
}

function host(variable: string, text: string): string {
  if (!HOSTNAME.test(text)) throw new ConfigError(variable, `expected a host name or IP address, got ${JSON.stringify(text)}`);
  return text;
}

/** Reads the configuration from `env` (the process environment by default); throws ConfigError. */
export function loadConfig(env: Env = process.env): Config {
  const read = <T>(variable: string, fallback: string, parse: (variable: string, text: string) => T): T => {
    const raw = env[variable];
    return parse(variable, raw === undefined || raw === '' ? fallback : raw.trim());
  };
  return {
    temporalAddress: read('TEMPORAL_ADDRESS', '127.0.0.1:7233', hostPort),
    temporalNamespace: read('TEMPORAL_NAMESPACE', 'default', name),
    taskQueue: read('TASK_QUEUE', 'payments', name),
    host: read('HOST', '127.0.0.1', host),
    port: read('PORT', '8080', port),
    dataDir: path.resolve(read('DATA_DIR', '.data', (_v, text) => text)),
    ledgerUrl: read('LEDGER_URL', '', postgresUrl),
    paymentExpiryMs: read('PAYMENT_EXPIRY', DEFAULT_EXPIRY, expiry),
    openingBalance: read('OPENING_BALANCE', '100000', (v, text) => integer(v, text, 0, 1e15)),
    logLevel: read('LOG_LEVEL', 'info', logLevel),
    ledgerFaultRate: read('LEDGER_FAULT_RATE', '0', fraction),
    ledgerWriteDelayMs: read('LEDGER_WRITE_DELAY_MS', '0', (v, text) => integer(v, text, 0, 60_000)),
    benchRoutes: read('BENCH_ROUTES', 'false', boolean),
  };
}

/** For entry points: the configuration, or exit(2) with the message naming the bad variable. */
export function loadConfigOrExit(env: Env = process.env): Config {
  try {
    return loadConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`configuration error: ${err.message}\n`);
    process.exit(2);
  }
}

/** Host and port of TEMPORAL_ADDRESS, for the dev server launcher. */
export function splitAddress(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at).replace(/^\[(.*)\]$/, '$1'), port: Number(address.slice(at + 1)) };
}
