/**
 * Local PostgreSQL servers on the server binaries of Debian's `postgresql` package (.ci/run
 * installs it when missing), each on a free loopback port:
 * - ThrowawayPostgres, for tests and chaos runs: initdb into a temporary folder, deleted when done;
 * - LocalPostgres.open, for the Temporal cluster: a folder kept across restarts.
 * initdb and postgres refuse to run as root, so as root they run as the `postgres` user that
 * the package creates.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pg from 'pg';
import { freePort } from '../src/net';
import { commandLine, identityOf, stopAll } from './proc';
import { stopWithThisProcess } from './watchdog';

const SUPERUSER = 'payments';
const MISSING =
  'PostgreSQL server binaries (initdb, postgres) not found: install them with ' +
  '`apt-get install -y postgresql` (Debian), as .ci/run does when they are missing';

/** Debian keeps each major version's server binaries in /usr/lib/postgresql/N/bin; else PATH. */
function binary(name: 'initdb' | 'postgres'): string {
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  const packaged = versions.map((v) => path.join(root, v, 'bin', name)).find((file) => fs.existsSync(file));
  const chosen = packaged ?? name;
  try {
    execFileSync(chosen, ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error(MISSING);
  }
  return chosen;
}

/** The user the server runs as: this one, or `postgres` when this one is root. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    throw new Error('running as root, and there is no `postgres` user to run the PostgreSQL server as (the postgresql package creates it)');
  }
}

type User = { uid: number; gid: number } | undefined;

/** Whether `user` may enter `dir` (every folder on its path searchable). */
function canEnter(dir: string, user: User): boolean {
  if (!user) return true;
  return spawnSync('test', ['-x', dir], { ...user, stdio: 'ignore' }).status === 0;
}

/** The postgres user's home (Debian: /var/lib/postgresql), where that user may always keep data. */
function homeOf(user: { uid: number }): string {
  const entry = execFileSync('getent', ['passwd', String(user.uid)], { encoding: 'utf8' })
    .trim()
    .split(':');
  return entry[5]!;
}

export class LocalPostgres {
  private server: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  protected constructor(
    readonly dir: string,
    readonly port: number,
    private readonly user: User,
    /** Settings a server that is thrown away can afford. */
    private readonly settings: string[],
  ) {}

  /**
   * The server kept in `dir` (made with initdb on first use), started on a free port. As root,
   * when the postgres user cannot enter `dir` (a root-only folder such as `mktemp -d` makes),
   * the data lives in a new folder of that user's home, and `dir` is a link to it: the link is
   * the only record, so a later `dir` at the same path never finds an older one's data. A
   * server left running from this folder by a launcher that was killed is stopped first.
   */
  static async open(dir: string): Promise<LocalPostgres> {
    const user = serverUser();
    const home = LocalPostgres.homeFor(dir, user);
    if (user) fs.chownSync(home, user.uid, user.gid);
    const server = new LocalPostgres(home, await freePort(), user, []);
    await server.stopLeftover();
    if (!fs.existsSync(path.join(server.dataDir, 'PG_VERSION'))) server.initdb([]);
    await server.start();
    return server;
  }

  private static homeFor(dir: string, user: User): string {
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    const link = fs.lstatSync(dir, { throwIfNoEntry: false });
    if (link?.isSymbolicLink()) {
      const target = fs.readlinkSync(dir);
      if (fs.existsSync(target)) return target;
      // Its data was deleted: a new database, as for a new folder.
      fs.rmSync(dir);
    }
    if (!user || canEnter(path.dirname(dir), user)) {
      fs.mkdirSync(dir, { recursive: true });
      return dir;
    }
    const homes = path.join(homeOf(user), 'payments-temporal');
    fs.mkdirSync(homes, { recursive: true });
    const home = fs.mkdtempSync(path.join(homes, `${path.basename(path.dirname(dir))}-`));
    fs.symlinkSync(home, dir);
    return home;
  }

  protected initdb(extra: string[]): void {
    execFileSync(binary('initdb'), ['-D', this.dataDir, '-U', SUPERUSER, '-A', 'trust', '-E', 'UTF8', ...extra], {
      cwd: this.dir,
      stdio: 'pipe',
      ...this.user,
    });
  }

  /** A postmaster still running on this data (its launcher was SIGKILLed): fast shutdown, so the new one can start. */
  private async stopLeftover(): Promise<void> {
    let pid: number;
    try {
      pid = Number(fs.readFileSync(path.join(this.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    } catch {
      return;
    }
    const leftover = pid ? identityOf(pid) : undefined;
    if (leftover && commandLine(pid)?.includes(this.dataDir)) await stopAll([leftover], 'SIGINT');
  }

  protected get dataDir(): string {
    return path.join(this.dir, 'data');
  }

  /** The superuser the servers are made with (trust authentication, loopback only). */
  readonly superuser = SUPERUSER;

  url(database: string): string {
    return `postgres://${SUPERUSER}@127.0.0.1:${this.port}/${database}`;
  }

  /**
   * Starts the server (again, after stop() or kill(), on the same data and port); resolves once
   * it answers. After a kill(), the old server's backends hold its shared memory until each
   * sees the postmaster gone (one in the middle of a query, once that query ends), and a new
   * postmaster refuses to start beside them: it is started again until they have exited.
   */
  async start(): Promise<void> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const logFile = path.join(this.dir, 'server.log');
      const logFrom = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
      const server = this.spawn();
      for (;;) {
        if (server.exitCode !== null || server.signalCode !== null) break;
        const client = new pg.Client({ connectionString: this.url('postgres'), connectionTimeoutMillis: 1000 });
        try {
          await client.connect();
          await client.end();
          return;
        } catch (err) {
          await client.end().catch(() => undefined);
          if (Date.now() > deadline)
            throw new Error(`PostgreSQL server did not answer within 30 s (${(err as Error).message}):\n${this.logTail()}`);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      const oldBackends = this.logSince(logFrom).includes('pre-existing shared memory block');
      if (!oldBackends || Date.now() > deadline) throw new Error(`PostgreSQL server exited at start:\n${this.logTail()}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  private spawn(): ChildProcess {
    const log = fs.openSync(path.join(this.dir, 'server.log'), 'a');
    // TCP only: a Unix socket's path must be short, and DATA_DIR may be deep.
    // Messages in English whatever the locale: start() reads one of them.
    const settings = [
      'unix_socket_directories=',
      'max_connections=200',
      'log_min_messages=warning',
      'lc_messages=C',
      ...this.settings,
    ].flatMap((s) => ['-c', s]);
    const server = spawn(binary('postgres'), ['-D', this.dataDir, '-h', '127.0.0.1', '-p', String(this.port), ...settings], {
      cwd: this.dir,
      stdio: ['ignore', log, log],
      // A group of its own: a terminal's Ctrl-C reaches the processes that use the database, and
      // whoever started it stops it after them, or its watchdog once that process is gone; one
      // left running all the same is stopped by the next open().
      detached: true,
      ...this.user,
    });
    fs.closeSync(log);
    // Its group outlives a launcher killed with its own; the watchdog does not.
    stopWithThisProcess(server, { signal: 'SIGINT', graceMs: 5_000 });
    this.server = server;
    this.exited = new Promise((resolve) => server.once('exit', () => resolve()));
    return server;
  }

  /** A fresh, empty database; resolves with its URL. */
  async createDatabase(name: string): Promise<string> {
    const client = new pg.Client({ connectionString: this.url('postgres') });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE "${name}"`);
    } finally {
      await client.end();
    }
    return this.url(name);
  }

  /** Fast shutdown (open connections are cut), keeping the data. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server || server.exitCode !== null || server.signalCode !== null) return;
    server.kill('SIGINT');
    const timer = setTimeout(() => server.kill('SIGKILL'), 15_000);
    await this.exited;
    clearTimeout(timer);
  }

  /** The postmaster's process id while it runs (for faults and CPU readings). */
  get pid(): number | undefined {
    return this.server?.exitCode === null && this.server.signalCode === null ? this.server.pid : undefined;
  }

  /** SIGKILL to the postmaster, as a crash would; its backends exit when they see it gone. */
  async kill(): Promise<void> {
    const server = this.server;
    if (!server || server.exitCode !== null || server.signalCode !== null) return;
    server.kill('SIGKILL');
    await this.exited;
  }

  /** What the server log gained after `offset` bytes. */
  private logSince(offset: number): string {
    try {
      const log = fs.readFileSync(path.join(this.dir, 'server.log'));
      return log.subarray(offset).toString('utf8');
    } catch {
      return '';
    }
  }

  protected logTail(): string {
    try {
      return fs.readFileSync(path.join(this.dir, 'server.log'), 'utf8').split('\n').slice(-20).join('\n');
    } catch {
      return '(no server log)';
    }
  }
}

/** A server in a temporary folder, deleted by destroy(). */
export class ThrowawayPostgres extends LocalPostgres {
  /** A new cluster, started; call destroy() when done. */
  static async create(): Promise<ThrowawayPostgres> {
    const user = serverUser();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'payments-pg-'));
    if (user) fs.chownSync(dir, user.uid, user.gid);
    // Nothing here outlives the run, so fsync buys nothing but I/O on a shared machine.
    const cluster = new ThrowawayPostgres(dir, await freePort(), user, ['fsync=off']);
    try {
      cluster.initdb(['--no-sync']);
      await cluster.start();
    } catch (err) {
      await cluster.destroy();
      throw err;
    }
    return cluster;
  }

  async destroy(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
