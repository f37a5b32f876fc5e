/**
 * A stack of its own for chaos and bench runs: the dev server (or a Temporal cluster on
 * PostgreSQL), workers and gateways as real processes (each `npm run X`'s entry), on free
 * ports with a fresh DATA_DIR, sharing the SQLite ledger there or a PostgreSQL one. Each can
 * be killed with SIGKILL (its whole process group; a cluster's service, or its PostgreSQL,
 * alone) and started again.
 */
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { temporalUiPort } from '../src/config';
import { freePort, portIsFree, waitForTcp } from '../src/net';
import { type ClusterProcess, type ClusterSettings, TemporalCluster, destroyCluster } from './cluster/cluster';
import { launchEntry, signalGroup } from './launch';

/** A cluster's processes that a fault may hit: the web UI serves no payment. */
const CLUSTER_ROLES = ['frontend', 'history', 'matching', 'worker', 'postgres'] as const satisfies readonly ClusterProcess[];
type ClusterRole = `temporal-${(typeof CLUSTER_ROLES)[number]}`;

export type Role = 'temporal' | ClusterRole | `worker-${number}` | `api-${number}`;

function clusterProcess(role: Role): ClusterProcess | undefined {
  return role.startsWith('temporal-') ? (role.slice('temporal-'.length) as ClusterProcess) : undefined;
}

/** The entry a role runs: `npm run temporal`'s, `npm run worker`'s and `npm run api`'s unless the stack names others. */
function entryOf(role: Role, entries: StackSettings['entries'], faulty: boolean): string {
  if (role === 'temporal') return 'tools/devserver.ts';
  if (role.startsWith('api')) return entries?.api ?? 'src/api.ts';
  return faulty ? 'tools/faults/worker.ts' : (entries?.worker ?? 'src/worker.ts');
}

export interface StackSettings {
  dir: string;
  openingBalance: number;
  workers: number;
  /** Gateways, each on a port of its own (default 1). */
  gateways?: number;
  /** A PostgreSQL ledger shared by every worker and gateway; unset: SQLite under DATA_DIR. */
  ledgerUrl?: string;
  /** More environment for every process (for example the dev server's or worker's tuning). */
  env?: Record<string, string>;
  /** Other entries for the workers and gateways (the bench's, which serve its ceiling). */
  entries?: { worker?: string; api?: string };
  /** Run on a Temporal cluster on PostgreSQL instead of the dev server, with these settings over the stack's. */
  cluster?: Partial<ClusterSettings>;
}

/** A free port whose port + 1000 (the dev server's web UI) is free too. */
async function temporalPort(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (temporalUiPort(port) <= 65535 && (await portIsFree(temporalUiPort(port)))) return port;
  }
}

export class LocalStack {
  private readonly processes = new Map<Role, ChildProcess>();
  private readonly expectedExit = new Set<ChildProcess>();
  private readonly faultRate = new Map<Role, number>();
  /** Exits nobody asked for (a process that died on its own), by role. */
  readonly crashes: { role: Role; at: number; code: number | null; signal: string | null }[] = [];
  temporalAddress = '';
  private readonly apiPorts = new Map<Role, number>();
  private stopping = false;
  /** The cluster, when the stack runs on one. */
  cluster: TemporalCluster | undefined;

  readonly roles: Role[];
  readonly gateways: Role[];
  readonly workers: Role[];

  constructor(private readonly settings: StackSettings) {
    this.gateways = Array.from({ length: settings.gateways ?? 1 }, (_, i): Role => `api-${i + 1}`);
    const temporal: Role[] = settings.cluster ? CLUSTER_ROLES.map((name): Role => `temporal-${name}`) : ['temporal'];
    this.workers = Array.from({ length: settings.workers }, (_, i): Role => `worker-${i + 1}`);
    this.roles = [...temporal, ...this.workers, ...this.gateways];
  }

  /** Each gateway's base URL, in role order. */
  get apiUrls(): string[] {
    return this.gateways.map((role) => `http://127.0.0.1:${this.apiPorts.get(role)}`);
  }

  get apiUrl(): string {
    return this.apiUrls[0]!;
  }

  get dataDir(): string {
    return path.join(this.settings.dir, 'data');
  }

  async start(): Promise<void> {
    fs.mkdirSync(path.join(this.settings.dir, 'logs'), { recursive: true });
    const temporal = await temporalPort();
    this.temporalAddress = `127.0.0.1:${temporal}`;
    // Nothing listens on these ports yet, so the system may hand out the same one twice.
    const taken = new Set([temporal, temporal + 1000]);
    for (const role of this.gateways) {
      let port = await freePort();
      while (taken.has(port)) port = await freePort();
      taken.add(port);
      this.apiPorts.set(role, port);
    }
    if (this.settings.cluster) {
      this.cluster = await TemporalCluster.start({
        dataDir: this.dataDir,
        address: this.temporalAddress,
        namespace: 'default',
        historyShards: 4,
        retentionMs: 24 * 3_600_000,
        logLevel: 'warn',
        ui: false,
        ...this.settings.cluster,
      });
    }
    for (const role of this.roles) if (!clusterProcess(role)) await this.launch(role);
  }

  private env(role: Role): Record<string, string> {
    const faultRate = this.faultRate.get(role) ?? 0;
    return {
      TEMPORAL_ADDRESS: this.temporalAddress,
      DATA_DIR: this.dataDir,
      ...(this.settings.ledgerUrl ? { LEDGER_URL: this.settings.ledgerUrl } : {}),
      PORT: String(this.apiPorts.get(role) ?? 0),
      HOST: '127.0.0.1',
      OPENING_BALANCE: String(this.settings.openingBalance),
      PAYMENT_EXPIRY: '1h',
      LOG_LEVEL: 'warn',
      // The crash test drives the gateway with no keys; chaos and bench ask for keys (their env below).
      AUTH: 'off',
      ...(faultRate > 0 ? { LEDGER_FAULT_RATE: String(faultRate) } : {}),
      ...this.settings.env,
    };
  }

  /** Starts a role and waits until it serves (the dev server and gateway accept connections). */
  async launch(role: Role): Promise<void> {
    const service = clusterProcess(role);
    if (service) return this.cluster!.restart(service);
    const log = fs.openSync(path.join(this.settings.dir, 'logs', `${role}.log`), 'a');
    const entry = entryOf(role, this.settings.entries, (this.faultRate.get(role) ?? 0) > 0);
    const child = launchEntry(entry, { env: this.env(role), stdio: ['ignore', log, log] });
    fs.closeSync(log);
    this.processes.set(role, child);
    child.once('exit', (code, signal) => {
      if (this.expectedExit.delete(child) || this.stopping) return;
      // Like a service manager would: note it, and start it again.
      this.crashes.push({ role, at: Date.now(), code, signal });
      setTimeout(() => {
        // A failed restart leaves the role down; the run's checks will show what that did.
        if (!this.stopping && this.processes.get(role) === child) this.launch(role).catch(() => undefined);
      }, 1000);
    });
    if (role === 'temporal') await waitForTcp('127.0.0.1', Number(this.temporalAddress.split(':')[1]), 60_000);
    const apiPort = this.apiPorts.get(role);
    if (apiPort) await waitForTcp('127.0.0.1', apiPort, 60_000);
  }

  /**
   * SIGKILL (or, to see a graceful shutdown, SIGTERM) to the role's whole process group;
   * resolves when it is gone.
   */
  async kill(role: Role, signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<void> {
    const service = clusterProcess(role);
    if (service) return this.cluster!.kill(service);
    const gone = this.exitOf(role);
    this.signal(role, signal);
    await gone;
  }

  /** Sends the signal to the role's process group, as an expected exit (not restarted), without waiting. */
  signal(role: Role, signal: 'SIGKILL' | 'SIGTERM'): void {
    const child = this.processes.get(role);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.expectedExit.add(child);
    signalGroup(child, signal);
  }

  /** How the role's current process ends (at once if it has). */
  exitOf(role: Role): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    const child = this.processes.get(role);
    if (!child || child.exitCode !== null || child.signalCode !== null)
      return Promise.resolve({ code: child?.exitCode ?? null, signal: child?.signalCode ?? null });
    return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** From the role's next launch on: a rate above 0 runs it as the fault-injecting worker. */
  setLedgerFaultRate(role: Role, rate: number): void {
    this.faultRate.set(role, rate);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.roles.filter((role) => !clusterProcess(role)).map((role) => this.kill(role)));
    if (this.cluster) await destroyCluster(this.cluster);
  }

  /** The process id of a role's process (its group leader), for CPU and memory readings. */
  pid(role: Role): number | undefined {
    const service = clusterProcess(role);
    if (service) return this.cluster?.pid(service);
    return this.processes.get(role)?.pid;
  }
}
