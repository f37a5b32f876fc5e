/**
 * Processes a launcher left behind, read from /proc (Linux): a pid alone may have been reused
 * by another process since, so a process is named by its pid and its start time.
 */
import * as fs from 'node:fs';

export interface ProcessIdentity {
  pid: number;
  /** Clock ticks after boot at which it started (field 22 of /proc/PID/stat). */
  startTime: string;
}

export function identityOf(pid: number): ProcessIdentity | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name, in parentheses, may hold spaces: fields are counted after it (the state is field 3).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { pid, startTime: fields[22 - 3]! };
  } catch {
    return undefined;
  }
}

/** Whether that very process still runs (a zombie counts as gone). */
export function isRunning(id: ProcessIdentity): boolean {
  const now = identityOf(id.pid);
  if (!now || now.startTime !== id.startTime) return false;
  try {
    return !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${id.pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

export function commandLine(pid: number): string | undefined {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return undefined;
  }
}

/** Sends the signal to those still running and waits until none is; SIGKILL after `graceMs`. */
export async function stopAll(ids: ProcessIdentity[], signal: NodeJS.Signals, graceMs = 15_000): Promise<void> {
  const send = (sig: NodeJS.Signals) => {
    for (const id of ids.filter(isRunning)) {
      try {
        process.kill(id.pid, sig);
      } catch {
        // gone meanwhile
      }
    }
  };
  send(signal);
  let killed = signal === 'SIGKILL';
  const deadline = Date.now() + graceMs;
  while (ids.some(isRunning)) {
    if (!killed && Date.now() > deadline) {
      send('SIGKILL');
      killed = true;
    }
    if (Date.now() > deadline + 10_000) throw new Error(`processes ${ids.filter(isRunning).map((id) => id.pid)} do not stop`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
