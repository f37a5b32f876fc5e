/**
 * The service's own database: the ledger the activities move money in and the gateway reads
 * accounts from, and the record each payment leaves when its workflow closes. Async, so a
 * store over the network fits the same interface as the SQLite file.
 */
import type { PaymentView } from '../domain/contract';

export const ENTRY_KINDS = ['charge', 'refund'] as const;
export type EntryKind = (typeof ENTRY_KINDS)[number];

export interface LedgerEntry {
  paymentId: string;
  kind: EntryKind;
  accountId: string;
  amount: number;
  /** The workflow run that wrote the entry: tells a retried activity from an earlier run. */
  runId: string;
  /** The API key whose request asked for the charge or refund; null when none did (AUTH=off, the temporal CLI, entries from before keys). */
  keyId: string | null;
  at: string;
}

/** How a charge or refund is written. */
export interface WriteOptions {
  /**
   * The end of the activity attempt (ms since the epoch): a store over the network commits
   * nothing after it, so no transaction runs beside the attempt's retry.
   */
  deadline?: number;
  /** The API key that asked for it, kept on the entry (the audit trail). */
  keyId?: string | null;
}

export interface Account {
  accountId: string;
  balance: number;
  /** Newest first. */
  entries: LedgerEntry[];
}

/** A payment's final view, as its workflow recorded it while closing. */
export interface PaymentRecord extends PaymentView {
  /** The provider's name for the charge (a PaymentIntent id at Stripe), when there was one. */
  chargeReference: string | null;
}

export interface NotedAttempt {
  /** Another workflow run was noted charging the payment-id before. */
  earlierRun: boolean;
  /** This run's attempt was noted before: this is a repeated try of it. */
  repeated: boolean;
}

export interface ChargeOutcome {
  /** The payment's charge: written now, or the one written before (then `existing`). */
  charge: LedgerEntry;
  existing: boolean;
  /** Whether a refund of that charge is recorded too. */
  refunded: boolean;
}

export interface RefundOutcome {
  refund: LedgerEntry;
  existing: boolean;
}

/** Lowest first: a key may do what its scope and every scope before it allow. */
export const KEY_SCOPES = ['read', 'write', 'admin'] as const;
export type KeyScope = (typeof KEY_SCOPES)[number];

/** An API key as stored: never its secret, only a hash of it. */
export interface ApiKeyRecord {
  /** The key's public part, which also names it in logs, ledger entries and `npm run keys -- list`. */
  id: string;
  tenant: string;
  scope: KeyScope;
  name: string | null;
  /** sha256 of the secret part, hex. */
  secretHash: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** The API keys, in the service's database beside the ledger. */
export interface ApiKeys {
  /** Stores a new key; its id is unique (a clash throws). */
  createKey(key: Pick<ApiKeyRecord, 'id' | 'tenant' | 'scope' | 'name' | 'secretHash'>): Promise<ApiKeyRecord>;
  keyById(id: string): Promise<ApiKeyRecord | undefined>;
  /** Every key, oldest first. */
  listKeys(): Promise<ApiKeyRecord[]>;
  /** Marks the key revoked (once: a second revoke keeps the first time); undefined for an unknown id. */
  revokeKey(id: string): Promise<ApiKeyRecord | undefined>;
  /** Sets the key's last use (`at`, ISO 8601) when it is later than the one stored. */
  noteKeyUsed(id: string, at: string): Promise<void>;
}

export interface Ledger extends ApiKeys {
  /**
   * Debits the account once per payment-id. A repeated call returns the first charge and
   * moves nothing. Throws InsufficientFundsError when the balance would go below zero.
   */
  charge(paymentId: string, accountId: string, amount: number, runId: string, options?: WriteOptions): Promise<ChargeOutcome>;
  /** Credits the charge back once per payment-id. Throws NoChargeError when there is no charge. */
  refund(paymentId: string, runId: string, options?: WriteOptions): Promise<RefundOutcome>;
  account(accountId: string, limit?: number): Promise<Account>;
  /**
   * Keeps a payment's final view, written by its workflow as it closes. The first record of
   * a payment-id stands: a later run (one started after Temporal forgot the first) cannot
   * change it.
   */
  recordOutcome(record: PaymentRecord, runId: string): Promise<void>;
  /** The record a closed workflow left, or undefined while it runs or for an id never seen. */
  recordOf(paymentId: string): Promise<PaymentRecord | undefined>;
  /**
   * Notes, durably, that workflow run `runId` is about to make charge attempt `attempt` of the
   * payment-id at the provider (written before the provider is asked, and kept like the
   * records), and answers whether a try may have charged it before: another run noted for it
   * (one Temporal may have forgotten since), or this same attempt noted already (an earlier
   * try, say one a crashed worker made). Noting the same again changes nothing.
   */
  noteChargeAttempt(paymentId: string, runId: string, attempt: number): Promise<NotedAttempt>;
  entriesOf(paymentId: string): Promise<LedgerEntry[]>;
  /** Cheap round trip for readiness checks. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The part of the database that keeps closed payments' answers (and the runs that charged them), whichever provider moves the money. */
export type PaymentRecords = Pick<Ledger, 'recordOutcome' | 'recordOf' | 'noteChargeAttempt'>;

export class InsufficientFundsError extends Error {
  constructor(
    readonly accountId: string,
    readonly balance: number,
    readonly amount: number,
  ) {
    super(`account ${accountId} has ${balance}, less than the ${amount} asked`);
    this.name = 'InsufficientFundsError';
  }
}

export class NoChargeError extends Error {
  constructor(readonly paymentId: string) {
    super(`payment ${paymentId} has no charge to refund`);
    this.name = 'NoChargeError';
  }
}

/**
 * A change to a store's schema, applied once, in order; an applied one is never edited. `locks`
 * says what running it on a live database locks, and for how long: a migration that locks a
 * table charges write to must say so, since every charge waits behind it.
 */
export interface Migration {
  sql: string;
  locks: string;
}

/** A store's schema version before and after it was opened. */
export interface SchemaVersions {
  from: number;
  to: number;
}

/**
 * The database is at an older schema than this release: migrating it is a step of the deploy
 * (`npm run migrate`), not something every restarting process does under live traffic.
 */
export class LedgerSchemaBehind extends Error {
  constructor(where: string, found: number, wanted: number) {
    super(
      `the service's database (${where}) is at schema version ${found}, and this release needs ${wanted}: ` +
        'run `npm run migrate` (`node dist/migrate.js` from a build) once, then start workers and gateways',
    );
    this.name = 'LedgerSchemaBehind';
  }
}

/** An injected or passing fault: nothing is known to have failed for good, so retry. */
export class TransientLedgerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TransientLedgerError';
  }
}
