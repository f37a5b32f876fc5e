/**
 * `npm run build`, then the compiled worker and gateway started with plain Node (no tsx, no
 * bundler): the worker runs the build's workflow bundle, and a payment goes through.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort, waitForTcp } from '../src/net';
import { PROJECT_ROOT } from '../tools/paths';
import { type Proc, startNode } from './helpers/processes';
import { devServerPerFile, tempDir } from './helpers/servers';
import { eventually } from './helpers/eventually';
import { TYPESCRIPT } from '../tools/launch';

jest.setTimeout(180_000);

const server = devServerPerFile();

test('the compiled worker and gateway run with plain node: the bundle comes from the build, a payment is charged, and the migration step runs', async () => {
  // Inside the project, where the compiled files find node_modules.
  const out = path.join(PROJECT_ROOT, '.cache', `build-test-${randomUUID()}`);
  const processes: Proc[] = [];
  try {
    execFileSync(process.execPath, [...TYPESCRIPT, path.join(PROJECT_ROOT, 'tools/build.ts'), '--out', out], { stdio: 'pipe' });
    expect(fs.existsSync(path.join(out, 'workflows.bundle.js'))).toBe(true);

    const port = await freePort();
    const processEnv = {
      TEMPORAL_ADDRESS: server.env.address,
      TASK_QUEUE: `build-${randomUUID()}`,
      DATA_DIR: tempDir('build'),
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'info',
      AUTH: 'off',
    };
    const worker = startNode([path.join(out, 'worker.js')], processEnv);
    const gateway = startNode([path.join(out, 'api.js')], processEnv);
    processes.push(worker, gateway);
    await waitForTcp('127.0.0.1', port, 60_000).catch((err: Error) => {
      throw new Error(`${err.message}\n--- gateway:\n${gateway.output()}\n--- worker:\n${worker.output()}`);
    });
    await eventually('the worker polling', async () => (worker.output().includes('worker polling') ? true : undefined), {
      timeoutMs: 60_000,
    });
    expect(worker.output()).toContain('workflow bundle from the build');

    const response = await fetch(`http://127.0.0.1:${port}/payments/built-1/makePayment`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ accountId: 'acct', amount: 250 }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ paymentId: 'built-1', status: 'COMPLETED', amount: 250 });

    // The migration step of a deploy, from the build: the database the processes made is current.
    const migrated = execFileSync(process.execPath, [path.join(out, 'migrate.js')], { env: { ...process.env, ...processEnv } }).toString();
    expect(migrated).toMatch(/: at schema version \d+, nothing to do\n$/);
  } finally {
    for (const proc of processes) proc.kill('SIGKILL');
    fs.rmSync(out, { recursive: true, force: true });
  }
});
