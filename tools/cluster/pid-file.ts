/**
 * DATA_DIR/temporal-cluster/pids.json: which launcher runs the cluster of a folder, and its
 * services' processes. It lets a start refuse to run beside a live launcher, and stop what a
 * launcher that was SIGKILLed alone left running.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type ProcessIdentity, identityOf, isRunning, stopAll } from '../proc';

interface PidFile {
  launcher: ProcessIdentity;
  services: Record<string, ProcessIdentity>;
}

const file = (dir: string) => path.join(dir, 'pids.json');

function read(dir: string): PidFile | undefined {
  try {
    return JSON.parse(fs.readFileSync(file(dir), 'utf8')) as PidFile;
  } catch {
    return undefined;
  }
}

function write(dir: string, services: Record<string, ProcessIdentity>): void {
  fs.writeFileSync(file(dir), JSON.stringify({ launcher: identityOf(process.pid)!, services } satisfies PidFile));
}

/** Takes the folder for this process, first thing: refuses if another launcher runs there, and kills its leftovers. */
export async function claimFolder(dir: string): Promise<void> {
  const previous = read(dir);
  if (previous && previous.launcher.pid !== process.pid && isRunning(previous.launcher)) {
    throw new Error(`a cluster launcher (pid ${previous.launcher.pid}) already runs on ${path.dirname(dir)}: stop it first`);
  }
  write(dir, {});
  if (previous) await stopAll(Object.values(previous.services), 'SIGKILL');
}

export function recordServices(dir: string, pids: Record<string, number>): void {
  const services = Object.fromEntries(
    Object.entries(pids).flatMap(([name, pid]) => {
      const id = identityOf(pid);
      return id ? [[name, id]] : [];
    }),
  );
  write(dir, services);
}

/** Once every service has stopped; a file another launcher has taken over since is left alone. */
export function releaseFolder(dir: string): void {
  if (read(dir)?.launcher.pid === process.pid) fs.rmSync(file(dir), { force: true });
}
