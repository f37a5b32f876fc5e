/**
 * A throwaway PostgreSQL server for tests and chaos runs: initdb into a temporary folder,
 * served on a free loopback port with its socket in that folder, deleted when done. It uses
 * the server binaries of Debian's `postgresql` package (.ci/run installs it when missing).
 * initdb and postgres refuse to run as root, so as root they run as the `postgres` user that
 * the package creates.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import pg from 'pg';
import { freePort } from '../src/net';

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

export class ThrowawayPostgres {
  private server: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly user: { uid: number; gid: number } | undefined,
  ) {}

  /** A new cluster, started; call destroy() when done. */
  static async create(): Promise<ThrowawayPostgres> {
    const initdb = binary('initdb');
    const user = serverUser();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'payments-pg-'));
    if (user) fs.chownSync(dir, user.uid, user.gid);
    const cluster = new ThrowawayPostgres(dir, await freePort(), user);
    try {
      execFileSync(initdb, ['-D', cluster.dataDir, '-U', SUPERUSER, '-A', 'trust', '-E', 'UTF8', '--no-sync'], {
        cwd: dir,
        stdio: 'pipe',
        ...user,
      });
      await cluster.start();
    } catch (err) {
      await cluster.destroy();
      throw err;
    }
    return cluster;
  }

  private get dataDir(): string {
    return path.join(this.dir, 'data');
  }

  url(database: string): string {
    return `postgres://${SUPERUSER}@127.0.0.1:${this.port}/${database}`;
  }

  /** Starts the server (again, after stop(), on the same data and port); resolves once it answers. */
  async start(): Promise<void> {
    const log = fs.openSync(path.join(this.dir, 'server.log'), 'a');
    // Nothing here outlives the run, so fsync buys nothing but I/O on a shared machine.
    const settings = ['fsync=off', 'max_connections=200', 'log_min_messages=warning'].flatMap((s) => ['-c', s]);
    const server = spawn(
      binary('postgres'),
      ['-D', this.dataDir, '-k', this.dir, '-h', '127.0.0.1', '-p', String(this.port), ...settings],
      {
        cwd: this.dir,
        stdio: ['ignore', log, log],
        ...this.user,
      },
    );
    fs.closeSync(log);
    this.server = server;
    this.exited = new Promise((resolve) => server.once('exit', () => resolve()));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (server.exitCode !== null) throw new Error(`PostgreSQL server exited at start:\n${this.logTail()}`);
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

  async destroy(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private logTail(): string {
    try {
      return fs.readFileSync(path.join(this.dir, 'server.log'), 'utf8').split('\n').slice(-20).join('\n');
    } catch {
      return '(no server log)';
    }
  }
}
