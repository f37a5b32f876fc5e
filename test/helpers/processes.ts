/** Real processes for end-to-end tests: started like `npm run X`, killed as a whole group. */
import { type ChildProcess, spawn } from 'node:child_process';
import * as path from 'node:path';
import { PROJECT_ROOT } from '../../tools/paths';

export interface Proc {
  child: ChildProcess;
  output: () => string;
  /** Signals the whole process group (the launcher and what it started). */
  kill: (signal?: NodeJS.Signals) => void;
  exited: Promise<number | null>;
}

/** Runs a TypeScript entry point (relative to the project root) the way package.json's scripts do. */
export function startEntry(entry: string, env: Record<string, string>): Proc {
  return startNode(['--import', 'tsx', path.join(PROJECT_ROOT, entry)], env);
}

/** Runs Node with these arguments (a compiled script: plain Node, as in production). */
export function startNode(args: string[], env: Record<string, string>): Proc {
  const child = spawn(process.execPath, args, {
    cwd: PROJECT_ROOT,
    env: { ...process.env, ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk) => (output += chunk));
  child.stderr!.on('data', (chunk) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => output,
    kill: (signal = 'SIGKILL') => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // already gone
      }
    },
    exited,
  };
}
