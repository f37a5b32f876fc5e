/**
 * A Temporal cluster on PostgreSQL, as production runs it: frontend, history, matching and
 * the internal worker as separate processes of Temporal's own server binary, their state in
 * a PostgreSQL server kept under DATA_DIR (or one named by TEMPORAL_DB_URL), and the web UI.
 * `npm run temporal:cluster` runs one; the chaos run and a test start their own and kill
 * single services of it.
 */
import { status } from '@grpc/grpc-js';
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Connection, isGrpcServiceError } from '@temporalio/client';
import { type TemporalDatabase, splitAddress, temporalUiPort } from '../../src/config';
import { portIsFree } from '../../src/net';
import { registerSearchAttributes } from '../../src/search-attributes';
import { TEMPORAL_SERVER, TEMPORAL_UI_SERVER } from '../paths';
import { LocalPostgres } from '../postgres';
import { stopWithThisProcess } from '../watchdog';
import {
  type Databases,
  broadcastAddress,
  DEV_SERVER_DYNAMIC_CONFIG,
  SERVICES,
  type Service,
  type ServerConfigOptions,
  dynamicConfigFile,
  serverConfig,
} from './server-config';
import { ensureDatabases, forgetMembers, persistedShardCount } from './schema';
import { ensureNamespace } from './namespace';
import { claimFolder, recordServices, releaseFolder } from './pid-file';

export type { Service } from './server-config';
/** What a fault can hit: a Temporal service, the web UI, or the PostgreSQL server under them (local only). */
export type ClusterProcess = Service | 'ui' | 'postgres';

export interface ClusterSettings {
  /** DATA_DIR: the cluster's files go to DATA_DIR/temporal-cluster, a local database to DATA_DIR/temporal-postgres. */
  dataDir: string;
  /** TEMPORAL_ADDRESS: where the frontend serves clients. */
  address: string;
  namespace: string;
  historyShards: number;
  retentionMs: number;
  /** An existing PostgreSQL server (TEMPORAL_DB_URL); unset: a local one. */
  db?: TemporalDatabase;
  logLevel: ServerConfigOptions['logLevel'];
  /** The web UI on the frontend port + 1000 (default true). */
  ui?: boolean;
  /** Where the web UI reads payloads in clear: the gateway's codec endpoint. */
  codecEndpoint?: string;
  plugin?: ServerConfigOptions['plugin'];
  /** Serve each service's Prometheus metrics on a free port (a bench lever; off like the dev server's). */
  metrics?: boolean;
  /** More environment for the server processes (GOGC, a bench lever). */
  serverEnv?: Record<string, string>;
  /** Start a service again a second after it exits on its own, as a service manager would (default true). */
  supervise?: boolean;
  say?: (line: string) => void;
  /** Aborts a start in progress: what it started is stopped, and start() rejects. */
  signal?: AbortSignal;
}

const READY_TIMEOUT_MS = 180_000;
/** A service that exits this often while the cluster starts will not come up by retrying. */
const MAX_EXITS_AT_START = 5;

export class TemporalCluster {
  private readonly processes = new Map<Service | 'ui', ChildProcess>();
  private readonly expectedExit = new Set<ChildProcess>();
  private stopping = false;
  /** Exits nobody asked for, by process. */
  readonly crashes: { process: ClusterProcess; at: number; code: number | null; signal: string | null }[] = [];

  private constructor(
    private readonly settings: ClusterSettings,
    readonly dir: string,
    private readonly ports: ServerConfigOptions['ports'],
    private readonly ip: string,
    readonly postgres: LocalPostgres | undefined,
    /** The shard count the database was created with, which wins over the setting. */
    readonly historyShards: number,
    private readonly metricsPorts: ServerConfigOptions['metrics'],
  ) {}

  get address(): string {
    return this.settings.address;
  }

  get uiUrl(): string | undefined {
    return this.settings.ui === false ? undefined : `http://${this.ip}:${this.ports.frontend.grpc + 1000}`;
  }

  /** Starts everything and resolves once the namespace is registered, with the payments' search attributes. */
  static async start(settings: ClusterSettings): Promise<TemporalCluster> {
    const say = settings.say ?? (() => undefined);
    for (const binary of [TEMPORAL_SERVER, ...(settings.ui === false ? [] : [TEMPORAL_UI_SERVER])]) {
      if (!fs.existsSync(binary)) throw new Error(`${binary} is missing: npm install builds it (it needs Go)`);
    }
    const { host, port } = splitAddress(settings.address);
    const ip = host === 'localhost' ? '127.0.0.1' : host;
    const dir = path.join(settings.dataDir, 'temporal-cluster');
    fs.mkdirSync(path.join(dir, 'logs'), { recursive: true });
    await claimFolder(dir);

    let postgres: LocalPostgres | undefined;
    let cluster: TemporalCluster | undefined;
    try {
      // After the folder's leftovers are stopped: they may hold these ports.
      for (const [what, taken] of [
        ['TEMPORAL_ADDRESS', port],
        ...(settings.ui === false ? [] : [['the web UI (TEMPORAL_ADDRESS port + 1000)', temporalUiPort(port)] as const]),
      ] as const) {
        if (!(await portIsFree(taken, ip)))
          throw new Error(`port ${taken} of ${ip}, for ${what}, is taken: stop what listens there, or choose another`);
      }
      let db: Databases;
      if (settings.db) {
        db = { ...settings.db, persistence: settings.db.database, visibility: `${settings.db.database}_visibility` };
      } else {
        postgres = await LocalPostgres.open(path.join(settings.dataDir, 'temporal-postgres'));
        const { port: pgPort, superuser } = postgres;
        db = { host: '127.0.0.1', port: pgPort, user: superuser, password: '', persistence: 'temporal', visibility: 'temporal_visibility' };
        say(`PostgreSQL for Temporal on 127.0.0.1:${pgPort}, data in ${postgres.dir}`);
      }
      settings.signal?.throwIfAborted();
      await ensureDatabases(db, say);
      const persisted = await persistedShardCount(db);
      if (persisted !== undefined && persisted !== settings.historyShards) {
        say(
          `TEMPORAL_HISTORY_SHARDS=${settings.historyShards} is ignored: this database was created with ${persisted} history shards, ` +
            'and the count cannot change after creation (a new DATA_DIR or database takes another count)',
        );
      }
      await forgetMembers(db, broadcastAddress(ip));
      const { ports, metrics } = await choosePorts(ip, port, settings.metrics === true);
      cluster = new TemporalCluster(settings, dir, ports, ip, postgres, persisted ?? settings.historyShards, metrics);
      cluster.writeConfig(db);
      settings.signal?.throwIfAborted();
      if (persisted === undefined) {
        // On a new database every service would write the cluster's metadata at once, and all but one would exit.
        cluster.launch('frontend');
        await cluster.until('the cluster metadata to be written', async () => (await persistedShardCount(db)) !== undefined);
      }
      for (const service of SERVICES) cluster.launch(service);
      if (settings.ui !== false) cluster.launch('ui');
      const started = cluster;
      await cluster.until('the namespace and its search attributes', () => started.readyForPayments(say));
      return cluster;
    } catch (err) {
      if (cluster) await cluster.stop();
      else {
        await postgres?.stop();
        releaseFolder(dir);
      }
      throw err;
    }
  }

  private configOptions(db: Databases): ServerConfigOptions {
    return {
      ip: this.ip,
      ports: this.ports,
      db,
      historyShards: this.historyShards,
      dynamicConfigFile: path.join(this.dir, 'dynamicconfig.yaml'),
      logLevel: this.settings.logLevel,
      plugin: this.settings.plugin,
      metrics: this.metricsPorts,
    };
  }

  /** Each service's config file (JSON is YAML to the server), the dynamic config, and the UI's. */
  private writeConfig(db: Databases): void {
    const configDir = path.join(this.dir, 'config');
    fs.mkdirSync(configDir, { recursive: true });
    const options = this.configOptions(db);
    for (const service of SERVICES) {
      fs.writeFileSync(path.join(configDir, `${service}.yaml`), JSON.stringify(serverConfig(options, service), null, 2), { mode: 0o600 });
    }
    fs.writeFileSync(options.dynamicConfigFile, JSON.stringify(dynamicConfigFile(DEV_SERVER_DYNAMIC_CONFIG), null, 2));
    const ui = {
      temporalGrpcAddress: `${this.ip}:${this.ports.frontend.grpc}`,
      host: this.ip,
      port: this.ports.frontend.grpc + 1000,
      enableUi: true,
      defaultNamespace: this.settings.namespace,
      hideLogs: true,
      cors: { cookieInsecure: true },
      ...(this.settings.codecEndpoint && { codec: { endpoint: this.settings.codecEndpoint } }),
    };
    fs.writeFileSync(path.join(configDir, 'ui.yaml'), JSON.stringify(ui, null, 2));
  }

  /** Starts one service (again, after kill()), on the ports chosen at start; one that runs is left as it is. */
  launch(name: Service | 'ui'): void {
    const running = this.processes.get(name);
    if (running && running.exitCode === null && running.signalCode === null) return;
    const log = fs.openSync(path.join(this.dir, 'logs', `${name}.log`), 'a');
    const common = ['--root', this.dir, '--config', 'config', '--env', name];
    const [binary, args] =
      name === 'ui'
        ? [TEMPORAL_UI_SERVER, [...common, 'start']]
        : [TEMPORAL_SERVER, [...common, '--allow-no-auth', 'start', '--service', name]];
    // Not detached: a signal to the launcher's process group reaches every service; and the
    // watchdog stops it if the launcher is killed alone.
    const child = spawn(binary, args, { cwd: this.dir, stdio: ['ignore', log, log], env: { ...process.env, ...this.settings.serverEnv } });
    fs.closeSync(log);
    stopWithThisProcess(child, { signal: 'SIGTERM', graceMs: 5_000 });
    this.processes.set(name, child);
    recordServices(this.dir, Object.fromEntries([...this.processes].map(([service, process]) => [service, process.pid!])));
    child.once('exit', (code, signal) => {
      if (this.expectedExit.delete(child) || this.stopping) return;
      this.crashes.push({ process: name, at: Date.now(), code, signal });
      this.settings.say?.(`${name} exited (${signal ?? `code ${code}`}); see ${path.join(this.dir, 'logs', `${name}.log`)}`);
      if (this.settings.supervise === false) return;
      setTimeout(() => {
        if (!this.stopping && this.processes.get(name) === child) this.launch(name);
      }, 1000);
    });
  }

  /**
   * Polls `probe` until it answers true; fails at the deadline, when the start is aborted, or
   * when a service died and nothing restarts it (or it keeps dying).
   */
  private async until(what: string, probe: () => Promise<boolean>): Promise<void> {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      this.settings.signal?.throwIfAborted();
      let problem: string;
      try {
        if (await probe()) return;
        problem = 'not yet';
      } catch (err) {
        problem = (err as Error).message;
      }
      const dead = [...this.processes].filter(([, child]) => child.exitCode !== null || child.signalCode !== null).map(([name]) => name);
      const failing = SERVICES.filter((name) => this.crashes.filter((crash) => crash.process === name).length >= MAX_EXITS_AT_START);
      const given = this.settings.supervise === false ? dead : failing;
      if (Date.now() > deadline || given.length > 0) {
        const died = given.length > 0 ? `; ${given.join(', ')} exited` : '';
        throw new Error(`the cluster did not become ready: waited for ${what} (${problem})${died}; logs in ${path.join(this.dir, 'logs')}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  /** Registers what the payments need, then checks that history and matching answer. */
  private async readyForPayments(say: (line: string) => void): Promise<boolean> {
    const connection = await Connection.connect({ address: `${this.ip}:${this.ports.frontend.grpc}` });
    try {
      await ensureNamespace(connection, this.settings.namespace, this.settings.retentionMs, say);
      const added = await registerSearchAttributes(connection.operatorService, this.settings.namespace);
      if (added.length > 0) say(`registered search attributes ${added.join(', ')} on ${this.settings.namespace}`);
      await historyAndMatchingAnswer(connection, this.settings.namespace);
      return true;
    } finally {
      await connection.close();
    }
  }

  pid(name: ClusterProcess): number | undefined {
    if (name === 'postgres') return this.postgres?.pid;
    const child = this.processes.get(name);
    return child && child.exitCode === null && child.signalCode === null ? child.pid : undefined;
  }

  /** SIGKILL, as a crash would; resolves once it is gone. Not restarted until launch() (or start() for postgres). */
  async kill(name: ClusterProcess): Promise<void> {
    if (name === 'postgres') {
      if (!this.postgres) throw new Error('the cluster runs on TEMPORAL_DB_URL: its PostgreSQL is not this launcher to kill');
      return this.postgres.kill();
    }
    const child = this.processes.get(name);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.expectedExit.add(child);
    const gone = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await gone;
  }

  /** Starts a killed process again: the services on their ports, PostgreSQL on its own. */
  async restart(name: ClusterProcess): Promise<void> {
    if (name === 'postgres') return this.postgres!.start();
    this.launch(name);
  }

  /** SIGTERM to every service (the frontend first, so no new work enters), then PostgreSQL's fast shutdown. */
  async stop(graceMs = 15_000): Promise<void> {
    this.stopping = true;
    for (const group of [
      ['ui', 'frontend'],
      ['matching', 'worker', 'history'],
    ] as const) {
      await Promise.all(
        group.map(async (name) => {
          const child = this.processes.get(name);
          if (!child || child.exitCode !== null || child.signalCode !== null) return;
          const gone = new Promise((resolve) => child.once('exit', resolve));
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
          await gone;
          clearTimeout(timer);
        }),
      );
    }
    await this.postgres?.stop();
    releaseFolder(this.dir);
  }
}

/**
 * The frontend answers before the history service has joined the membership ring (its
 * requests fail with "Not enough hosts to serve the request"): a describe of a workflow that
 * does not exist is answered NotFound only by a history service, and a task queue's by matching.
 */
async function historyAndMatchingAnswer(connection: Connection, namespace: string): Promise<void> {
  try {
    await connection.workflowService.describeWorkflowExecution({ namespace, execution: { workflowId: 'cluster-readiness-probe' } });
  } catch (err) {
    if (!isGrpcServiceError(err) || err.code !== status.NOT_FOUND) throw err;
  }
  await connection.workflowService.describeTaskQueue({ namespace, taskQueue: { name: 'cluster-readiness-probe' } });
}

/**
 * The membership table keeps ports as SMALLINT, so every internal port is below 32768, out of
 * the system's range for ephemeral ports: a free one is found by trying.
 */
const INTERNAL_PORTS = { from: 20000, to: 32767 };

/** Stops the cluster and deletes its files and local database: for runs that made it in a folder of their own. */
export async function destroyCluster(cluster: TemporalCluster): Promise<void> {
  await cluster.stop();
  fs.rmSync(cluster.dir, { recursive: true, force: true });
  if (cluster.postgres) fs.rmSync(cluster.postgres.dir, { recursive: true, force: true });
}

/** The frontend on `frontendPort`; every other port free now. */
async function choosePorts(
  ip: string,
  frontendPort: number,
  withMetrics: boolean,
): Promise<{ ports: ServerConfigOptions['ports']; metrics: ServerConfigOptions['metrics'] }> {
  // Nothing listens on these yet, so a port must not be handed out twice.
  const taken = new Set([frontendPort, frontendPort + 1000]);
  let candidate = INTERNAL_PORTS.from + Math.floor(Math.random() * (INTERNAL_PORTS.to - INTERNAL_PORTS.from));
  const next = async () => {
    for (;;) {
      candidate = candidate >= INTERNAL_PORTS.to ? INTERNAL_PORTS.from : candidate + 1;
      if (!taken.has(candidate) && (await portIsFree(candidate, ip))) {
        taken.add(candidate);
        return candidate;
      }
    }
  };
  const ports: Partial<ServerConfigOptions['ports']> = {};
  for (const service of SERVICES) {
    ports[service] = { grpc: service === 'frontend' ? frontendPort : await next(), membership: await next() };
  }
  ports.frontendHttp = await next();
  const metrics: ServerConfigOptions['metrics'] = {};
  if (withMetrics) for (const service of SERVICES) metrics[service] = `127.0.0.1:${await next()}`;
  return { ports: ports as ServerConfigOptions['ports'], metrics };
}
