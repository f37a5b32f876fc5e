/**
 * `npm run temporal:cluster` as a process, killed and started again on one DATA_DIR: a
 * launcher SIGKILLed alone, or with its whole process group, takes its services and its
 * PostgreSQL with it within 10 s (their watchdogs); every start comes back with the
 * workflows; a second launcher on the folder is refused; a stop during the start leaves
 * nothing running.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { freePort, portIsFree } from '../src/net';
import { type ProcessIdentity, identityOf, isRunning } from '../tools/proc';
import { eventually } from './helpers/eventually';
import { type Proc, startEntry } from './helpers/processes';
import { tempDir } from './helpers/servers';

jest.setTimeout(300_000);

let dataDir: string;
let env: Record<string, string>;
const launchers: Proc[] = [];

beforeAll(async () => {
  let port = await freePort();
  while (!(await portIsFree(port + 1000))) port = await freePort();
  // A root-only folder (mkdtemp) when the tests run as root, as the issue of PostgreSQL's user asks.
  dataDir = tempDir('launcher');
  env = { TEMPORAL_ADDRESS: `127.0.0.1:${port}`, DATA_DIR: dataDir, LOG_LEVEL: 'info' };
});

afterAll(async () => {
  for (const launcher of launchers) {
    launcher.kill('SIGTERM');
    await launcher.exited;
  }
  // The database may live in the postgres user's home, behind the link.
  const link = path.join(dataDir, 'temporal-postgres');
  if (fs.lstatSync(link, { throwIfNoEntry: false })?.isSymbolicLink()) fs.rmSync(fs.readlinkSync(link), { recursive: true, force: true });
});

function launch(extra: Record<string, string> = {}): Proc {
  const launcher = startEntry('tools/cluster/index.ts', { ...env, ...extra });
  launchers.push(launcher);
  return launcher;
}

/** Waits for the launcher to print `pattern`; fails at once, with its output, if it exits first. */
async function said(launcher: Proc, pattern: RegExp): Promise<void> {
  await eventually(
    `the launcher to say ${pattern}`,
    async () => {
      if (pattern.test(launcher.output())) return true;
      if (launcher.child.exitCode !== null) throw new Error(`the launcher exited before saying ${pattern}:\n${launcher.output()}`);
      return undefined;
    },
    { timeoutMs: 180_000, intervalMs: 200 },
  );
}

function services(): ProcessIdentity[] {
  const file = JSON.parse(fs.readFileSync(path.join(dataDir, 'temporal-cluster', 'pids.json'), 'utf8')) as {
    services: Record<string, ProcessIdentity>;
  };
  return Object.values(file.services);
}

function postmaster(): ProcessIdentity {
  const pid = Number(fs.readFileSync(path.join(dataDir, 'temporal-postgres', 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
  return identityOf(pid)!;
}

async function withClient<T>(body: (client: Client) => Promise<T>): Promise<T> {
  const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS! });
  try {
    return await body(new Client({ connection }));
  } finally {
    await connection.close();
  }
}

/** Within 10 s of the launcher's death, none of them runs. */
async function gone(processes: ProcessIdentity[]): Promise<void> {
  await eventually('the processes to be gone', async () => (processes.some(isRunning) ? undefined : true), {
    timeoutMs: 10_000,
    intervalMs: 100,
  });
}

const describeKept = () => withClient((client) => client.workflow.getHandle('kept').describe());

test('kills and restarts on one DATA_DIR: its processes go with the launcher, workflows kept, shards fixed, one launcher at a time', async () => {
  const first = launch();
  await said(first, /\[cluster\] ready: .* 4 history shards/);
  // A workflow no worker serves: it stays open, in the database.
  await withClient((client) => client.workflow.start('anything', { workflowId: 'kept', taskQueue: 'nobody-polls' }));

  // The launcher alone, SIGKILLed: its services and its PostgreSQL stop without it.
  const orphans = [...services(), postmaster()];
  expect(orphans).toHaveLength(6);
  first.child.kill('SIGKILL');
  await first.exited;
  await gone(orphans);

  // The next start says the shard count cannot change, and has the workflow.
  const second = launch({ TEMPORAL_HISTORY_SHARDS: '8' });
  await said(second, /\[cluster\] ready: .* 4 history shards/);
  expect(second.output()).toContain('TEMPORAL_HISTORY_SHARDS=8 is ignored: this database was created with 4 history shards');
  expect((await describeKept()).status.name).toBe('RUNNING');

  // A second launcher on the same folder is refused, and touches nothing.
  const intruder = launch();
  expect(await intruder.exited).toBe(1);
  expect(intruder.output()).toMatch(/a cluster launcher \(pid \d+\) already runs on/);
  expect((await describeKept()).status.name).toBe('RUNNING');

  // The launcher's whole process group SIGKILLed: the services go with it, and PostgreSQL, in a group of its own, after it.
  const inGroup = [...services(), postmaster()];
  second.kill('SIGKILL');
  await second.exited;
  await gone(inGroup);
  const third = launch();
  await said(third, /\[cluster\] ready: /);
  expect((await describeKept()).status.name).toBe('RUNNING');

  // SIGTERM: everything stops.
  const last = [...services(), postmaster()];
  third.child.kill('SIGTERM');
  expect(await third.exited).toBe(0);
  expect(last.filter(isRunning)).toEqual([]);
});

test('a SIGTERM while the cluster starts stops what it started', async () => {
  const launcher = launch();
  await said(launcher, /PostgreSQL for Temporal on/);
  const database = postmaster();
  launcher.child.kill('SIGTERM');
  expect(await launcher.exited).toBe(0);
  expect(launcher.output()).toContain('stopped before it was ready');
  expect(isRunning(database)).toBe(false);
  const pidFile = path.join(dataDir, 'temporal-cluster', 'pids.json');
  if (fs.existsSync(pidFile)) expect(services().filter(isRunning)).toEqual([]);
});
