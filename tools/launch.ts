/**
 * The one way the project's tools start its entries (`npm start`, the chaos and bench stacks,
 * the end-to-end tests): a TypeScript file under the project root run by Node with tsx, as
 * package.json's scripts do, in a process group of its own, so that a terminal's Ctrl-C
 * reaches only the launcher and a signal to the group reaches the entry and all it started.
 */
import { type ChildProcess, type StdioOptions, spawn } from 'node:child_process';
import * as path from 'node:path';
import { PROJECT_ROOT } from './paths';

/**
 * How Node runs a TypeScript entry here, as package.json's scripts do: tsx's CommonJS hook alone
 * (the project compiles to CommonJS). `--import tsx` would also start tsx's ES module loader on
 * a thread of its own, which costs each process about 200 ms before its first line runs.
 */
export const TYPESCRIPT = ['--require', 'tsx/cjs'];

export function launchEntry(
  entry: string,
  { env = {}, stdio = 'pipe' }: { env?: Record<string, string>; stdio?: StdioOptions } = {},
): ChildProcess {
  return launchNode([...TYPESCRIPT, path.join(PROJECT_ROOT, entry)], { env, stdio });
}

/** Node with these arguments (a compiled script: plain Node, as in production), launched the same way. */
export function launchNode(
  args: string[],
  { env = {}, stdio = 'pipe' }: { env?: Record<string, string>; stdio?: StdioOptions } = {},
): ChildProcess {
  return spawn(process.execPath, args, { cwd: PROJECT_ROOT, env: { ...process.env, ...env }, stdio, detached: true });
}

/** Sends the signal to the child's whole process group; false when it is already gone. */
export function signalGroup(child: ChildProcess, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-child.pid!, signal);
    return true;
  } catch {
    return false;
  }
}
