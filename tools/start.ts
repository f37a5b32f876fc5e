/**
 * `npm start`: the whole local stack in one command. The dev server first (the worker and
 * gateway need it), then the worker and the gateway. Ctrl-C or SIGTERM stops them in the
 * reverse order: gateway and worker finish what they are doing, then the dev server. Killed
 * outright, it takes them with it all the same (watchdog.ts).
 * `npm start -- --cluster` runs it on a Temporal cluster on PostgreSQL (`npm run temporal:cluster`).
 */
import type { ChildProcess } from 'node:child_process';
import { parseArgs } from 'node:util';
import { loadConfigOrExit, splitAddress, temporalUiPort } from '../src/config';
import { waitForTcp } from '../src/net';
import { launchEntry, signalGroup } from './launch';
import { stopWithThisProcess } from './watchdog';

const STOP_GRACE_MS = 15_000;
/** A cluster's services hand their shards and queues over as they stop, which takes longer. */
const CLUSTER_STOP_GRACE_MS = 60_000;

interface Child {
  name: string;
  process: ChildProcess;
  exited: Promise<void>;
  graceMs: number;
}

let stopping = false;

function say(line: string): void {
  process.stdout.write(`[start] ${line}\n`);
}

function prefixLines(name: string, stream: NodeJS.ReadableStream, out: NodeJS.WritableStream): void {
  let pending = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const lines = (pending + chunk).split('\n');
    pending = lines.pop()!;
    for (const line of lines) out.write(`[${name}] ${line}\n`);
  });
  stream.on('end', () => pending && out.write(`[${name}] ${pending}\n`));
}

function run(name: string, entry: string, env: Record<string, string> = {}, graceMs = STOP_GRACE_MS): Child {
  // Own process group: a terminal's Ctrl-C reaches only this supervisor, which stops the children in order.
  const child = launchEntry(entry, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  // And if this supervisor is killed (SIGKILL: no handler runs), its children stop by themselves.
  stopWithThisProcess(child, { signal: 'SIGTERM', graceMs, group: true });
  prefixLines(name, child.stdout!, process.stdout);
  prefixLines(name, child.stderr!, process.stderr);
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      if (!stopping) {
        say(`${name} exited unexpectedly (${signal ?? `code ${code}`}); stopping the stack`);
        void stopAll(1);
      }
      resolve();
    }),
  );
  return { name, process: child, exited, graceMs };
}

const children: Child[] = [];

/** Resolves when the cluster launcher says it is ready; never if it exits first (which stops the stack). */
function launcherReady(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    let seen = '';
    const watch = (chunk: string) => {
      seen = (seen + chunk).slice(-4096);
      if (/\[cluster\] ready: /.test(seen)) {
        child.stdout!.off('data', watch);
        resolve();
      }
    };
    child.stdout!.on('data', watch);
  });
}

async function stop(child: Child): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return;
  child.process.kill('SIGTERM');
  const timer = setTimeout(() => {
    say(`${child.name} did not stop within ${child.graceMs / 1000} s; killing it`);
    // The whole group: a cluster launcher's services with it.
    signalGroup(child.process, 'SIGKILL');
  }, child.graceMs);
  await child.exited;
  clearTimeout(timer);
}

async function stopAll(code: number): Promise<never> {
  stopping = true;
  const [temporal, ...rest] = children;
  await Promise.all(rest.map(stop));
  if (temporal) await stop(temporal);
  say('stopped');
  process.exit(code);
}

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  const { cluster } = parseArgs({ options: { cluster: { type: 'boolean', default: false } } }).values;
  const { host, port } = splitAddress(config.temporalAddress);
  if (cluster) {
    const launcher = run('temporal', 'tools/cluster/index.ts', {}, CLUSTER_STOP_GRACE_MS);
    children.push(launcher);
    // Its own word, not an open port: another server could hold the port, and the launcher would refuse to start.
    await launcherReady(launcher.process);
    say(`Temporal cluster on ${config.temporalAddress}, web UI on http://${host}:${temporalUiPort(port)}`);
  } else {
    children.push(run('temporal', 'tools/devserver.ts'));
    await waitForTcp(host, port, 60_000);
    say(`Temporal dev server on ${config.temporalAddress}, web UI on http://${host}:${temporalUiPort(port)}`);
  }

  // One machine for development: no API keys, so the README's curl commands work as they are.
  const auth = process.env.AUTH || 'off';
  // No load balancer to drain for: Ctrl-C stops the gateway at once.
  const drain = process.env.SHUTDOWN_DRAIN || '0';
  children.push(run('worker', 'src/worker.ts'), run('api', 'src/api.ts', { AUTH: auth, SHUTDOWN_DRAIN: drain }));
  await waitForTcp(config.host, config.port, 60_000);
  say(`gateway on http://${config.host}:${config.port} (Ctrl-C stops everything)`);
  if (auth === 'off') say('access control off (AUTH=off), as for development: npm run api alone asks for API keys (npm run keys)');
}

main().catch((err) => {
  say(`failed: ${(err as Error).message}`);
  void stopAll(1);
});
