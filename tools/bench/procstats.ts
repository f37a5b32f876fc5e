/** CPU time and memory of processes, read from /proc (Linux). */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';

const TICKS_PER_SECOND = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** /proc/PID/stat's fields after the command name (which may hold spaces). */
function statFields(pid: number): string[] {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** The process and all its descendants (a launcher and the server it started). */
function tree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const parent = Number(statFields(Number(entry))[1]);
      children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
    } catch {
      // exited while we looked
    }
  }
  const all = [root];
  for (let i = 0; i < all.length; i++) all.push(...(children.get(all[i]!) ?? []));
  return all;
}

/**
 * User + system CPU seconds the process and its descendants have used so far: those running
 * now, and those that exited and were waited for by one of them (a PostgreSQL server's
 * short-lived backends and autovacuum workers, counted in their parent's children's times).
 */
export function cpuSeconds(pid: number): number {
  let total = 0;
  for (const p of tree(pid)) {
    try {
      const fields = statFields(p);
      total += (Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / TICKS_PER_SECOND;
    } catch {
      // exited while we looked
    }
  }
  return total;
}

/** Resident memory of the process and its descendants. */
export function rssMiB(pid: number): number {
  let kib = 0;
  for (const p of tree(pid)) {
    try {
      kib += Number(fs.readFileSync(`/proc/${p}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)?.[1] ?? 0);
    } catch {
      // exited while we looked
    }
  }
  return kib / 1024;
}

/** Samples the resident set of some processes until stopped; reports each one's peak. */
export function samplePeaks(pids: Record<string, number>, everyMs = 200): () => Record<string, number> {
  const peaks: Record<string, number> = Object.fromEntries(Object.keys(pids).map((name) => [name, 0]));
  const sample = () => {
    for (const [name, pid] of Object.entries(pids)) {
      try {
        peaks[name] = Math.max(peaks[name]!, rssMiB(pid));
      } catch {
        // the process is gone; its peak so far stands
      }
    }
  };
  sample();
  const timer = setInterval(sample, everyMs);
  return () => {
    clearInterval(timer);
    sample();
    return peaks;
  };
}
