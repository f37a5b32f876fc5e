/**
 * `npm start` as a user runs it, on free ports and a fresh DATA_DIR: it serves a payment, and
 * when its process group is SIGKILLed (a terminal closed hard, a CI job killed) none of the
 * processes it started runs 5 s later and its ports are free: nothing is left to hold them or
 * the database for the next start.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { freePort, portIsFree } from '../src/net';
import { PROJECT_ROOT } from '../tools/paths';
import { type ProcessIdentity, identityOf, isRunning } from '../tools/proc';
import { eventually } from './helpers/eventually';
import { tempDir } from './helpers/servers';

jest.setTimeout(180_000);

/** Every process under `pid`, read from /proc. */
function descendantsOf(pid: number): ProcessIdentity[] {
  const parentOf = new Map<number, number>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      parentOf.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  const visit = (parent: number) => {
    for (const [child, ppid] of parentOf) {
      if (ppid !== parent) continue;
      found.push(child);
      visit(child);
    }
  };
  visit(pid);
  return found.map(identityOf).filter((id): id is ProcessIdentity => id !== undefined);
}

let npm: ChildProcess | undefined;
afterAll(() => {
  try {
    if (npm?.pid) process.kill(-npm.pid, 'SIGKILL');
  } catch {
    // gone, as the test wants
  }
});

test('npm start SIGKILLed with its process group: within 5 s none of its processes runs, and its ports are free', async () => {
  let temporalPort = await freePort();
  while (!(await portIsFree(temporalPort + 1000))) temporalPort = await freePort();
  const port = await freePort();
  let output = '';
  npm = spawn('npm', ['start'], {
    cwd: PROJECT_ROOT,
    env: {
      ...process.env,
      DATA_DIR: tempDir('start'),
      PORT: String(port),
      TEMPORAL_ADDRESS: `127.0.0.1:${temporalPort}`,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  npm.stdout!.on('data', (chunk) => (output += chunk));
  npm.stderr!.on('data', (chunk) => (output += chunk));
  await eventually(
    'npm start to say the gateway is up',
    async () => {
      if (/\[start\] gateway on /.test(output)) return true;
      if (npm!.exitCode !== null) throw new Error(`npm start exited:\n${output}`);
      return undefined;
    },
    { timeoutMs: 120_000, intervalMs: 200 },
  );
  const paid = await fetch(`http://127.0.0.1:${port}/payments/start-1/makePayment`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ accountId: 'acct-start', amount: 100 }),
  });
  expect(paid.status).toBe(200);

  const started = descendantsOf(npm.pid!);
  const commands = started.map((id) => fs.readFileSync(`/proc/${id.pid}/cmdline`, 'utf8'));
  // The dev server (the temporal binary and its launcher), the worker and the gateway, at least.
  for (const entry of ['tools/devserver.ts', 'src/worker.ts', 'src/api.ts', 'server\0start-dev'])
    expect(commands.some((command) => command.includes(entry))).toBe(true);

  process.kill(-npm.pid!, 'SIGKILL');
  await eventually('every process npm start started to be gone', async () => (started.some(isRunning) ? undefined : true), {
    timeoutMs: 5_000,
    intervalMs: 100,
  });
  for (const free of [port, temporalPort, temporalPort + 1000]) expect(await portIsFree(free)).toBe(true);
});
