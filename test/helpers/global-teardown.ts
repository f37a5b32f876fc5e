import * as fs from 'node:fs';
import { RUN_DIR_VARIABLE } from './servers';

/** Deletes what the run wrote: every test's directory is inside the one the global setup made. */
export default async function globalTeardown(): Promise<void> {
  const dir = process.env[RUN_DIR_VARIABLE];
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
}
