/** Real processes for end-to-end tests: started like `npm run X`, killed as a whole group. */
import type { ChildProcess } from 'node:child_process';
import { launchEntry, launchNode, signalGroup } from '../../tools/launch';

export interface Proc {
  child: ChildProcess;
  output: () => string;
  /** Signals the whole process group (the launcher and what it started). */
  kill: (signal?: NodeJS.Signals) => void;
  exited: Promise<number | null>;
}

/** Runs a TypeScript entry point (relative to the project root) the way package.json's scripts do. */
export function startEntry(entry: string, env: Record<string, string>): Proc {
  return collected(launchEntry(entry, { env, stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** Runs Node with these arguments (a compiled script: plain Node, as in production). */
export function startNode(args: string[], env: Record<string, string>): Proc {
  return collected(launchNode(args, { env, stdio: ['ignore', 'pipe', 'pipe'] }));
}

/** The process with its output kept for the test to read. */
function collected(child: ChildProcess): Proc {
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => output, kill: (signal = 'SIGKILL') => void signalGroup(child, signal), exited };
}
