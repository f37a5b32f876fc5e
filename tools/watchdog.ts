/**
 * A launcher's processes go with it, however it ends. A launcher that is SIGKILLed cannot stop
 * anything, and its children live in process groups of their own (so that a terminal's Ctrl-C
 * reaches only the launcher, which stops them in order) or are servers that do not watch their
 * parent (PostgreSQL, Temporal's binaries). So each child gets a watchdog: a small shell loop in
 * a group of its own, which outlives the launcher's group and, once the launcher is gone, sends
 * the child its stop signal and, after a grace, SIGKILL. It ends by itself when the child does.
 * Linux: it reads /proc.
 */
import { type ChildProcess, spawn } from 'node:child_process';

const WATCH = `
owner=$1 target=$2 spec=$3 signal=$4 ticks=$5
while [ -d /proc/$owner ] && [ -d /proc/$target ]; do sleep 0.5; done
[ -d /proc/$target ] || exit 0
kill -s $signal -- $spec 2>/dev/null
while [ -d /proc/$target ] && [ $ticks -gt 0 ]; do sleep 0.5; ticks=$((ticks - 1)); done
kill -s KILL -- $spec 2>/dev/null
exit 0
`;

export interface WatchOptions {
  /** What stops the child cleanly (SIGTERM for the project's entries, SIGINT for PostgreSQL's fast shutdown). */
  signal: 'SIGTERM' | 'SIGINT';
  /** How long the child may take to stop before SIGKILL. */
  graceMs: number;
  /** Signal the child's whole process group (a child launched in a group of its own, with what it started). */
  group?: boolean;
}

/** Stops `child` once this process is gone. */
export function stopWithThisProcess(child: ChildProcess, { signal, graceMs, group = false }: WatchOptions): void {
  if (child.pid === undefined) return;
  const spec = group ? `-${child.pid}` : String(child.pid);
  const ticks = String(Math.ceil(graceMs / 500));
  const watchdog = spawn('sh', ['-c', WATCH, 'watchdog', String(process.pid), String(child.pid), spec, signal.slice(3), ticks], {
    stdio: 'ignore',
    detached: true,
  });
  watchdog.unref();
}
