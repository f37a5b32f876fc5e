/**
 * `npm run temporal`: the Temporal dev server on TEMPORAL_ADDRESS, its web UI on that
 * port + 1000, its state in DATA_DIR/temporal.db so workflows survive a restart.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Connection } from '@temporalio/client';
import { type Config, codecEndpoint, loadConfigOrExit, splitAddress, temporalUiPort } from '../src/config';
import { waitForTcp } from '../src/net';
import { registerSearchAttributes } from '../src/search-attributes';
import { TEMPORAL_CLI } from './paths';
import { stopWithThisProcess } from './watchdog';

export function devServerArgs(config: Config): string[] {
  const { host, port } = splitAddress(config.temporalAddress);
  return [
    'server',
    'start-dev',
    '--ip',
    host,
    '--port',
    String(port),
    '--ui-port',
    String(temporalUiPort(port)),
    // The UI shows payloads in clear through the gateway's codec endpoint (with AUTH=off, as npm start runs it).
    '--ui-codec-endpoint',
    codecEndpoint(config),
    '--db-filename',
    path.join(config.dataDir, 'temporal.db'),
    '--namespace',
    config.temporalNamespace,
    // WAL with NORMAL sync: a commit survives the server being killed (what the SPEC asks),
    // without the journal's several fsyncs per write that make the default crawl.
    '--sqlite-pragma',
    'journal_mode=wal',
    '--sqlite-pragma',
    'synchronous=normal',
    // One partition per task queue instead of four, which spread a worker's few pollers thin:
    // measured with the bench, this costs the server less CPU per payment and ends the
    // occasional stall of a second or two.
    '--dynamic-config-value',
    'matching.numTaskqueueReadPartitions=1',
    '--dynamic-config-value',
    'matching.numTaskqueueWritePartitions=1',
    // The charge starts on the worker that scheduled it, in the answer to its workflow task,
    // instead of a trip through the activity queue: a single client's payment 150 -> 100 ms.
    '--dynamic-config-value',
    'system.enableActivityEagerExecution=true',
    // The history service reads its transfer queue (each workflow task handed to matching) at
    // most 20 times a second per shard by default, and the dev server has one shard: a lone
    // client's payment, two workflow tasks, waited about 50 ms for each read. Measured with the
    // bench: one client's p50 100 -> 48 ms; under load, where a read takes many tasks, no change.
    '--dynamic-config-value',
    'history.transferProcessorMaxPollRPS=1000',
    '--log-level',
    config.logLevel === 'debug' || config.logLevel === 'trace' ? 'info' : 'error',
  ];
}

function main(): void {
  const config = loadConfigOrExit();
  if (!fs.existsSync(TEMPORAL_CLI)) {
    process.stderr.write(`${TEMPORAL_CLI} is missing: run npm install first\n`);
    process.exit(1);
  }
  fs.mkdirSync(config.dataDir, { recursive: true });
  const args = devServerArgs(config);
  process.stdout.write(`starting ${TEMPORAL_CLI} ${args.join(' ')}\n`);
  const child = spawn(TEMPORAL_CLI, args, { stdio: 'inherit' });
  stopWithThisProcess(child, { signal: 'SIGTERM', graceMs: 5_000 });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => child.kill(signal));
  }
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
  registerOnceUp(config).catch((err: unknown) => {
    process.stderr.write(`registering the payments' search attributes failed: ${(err as Error).message}\n`);
    child.kill('SIGTERM');
  });
}

/**
 * The payments' search attributes, on every start: the dev server's own --search-attribute
 * applies only when it creates the namespace, and the database may be older than them.
 */
async function registerOnceUp(config: Config): Promise<void> {
  const { host, port } = splitAddress(config.temporalAddress);
  const deadline = Date.now() + REGISTER_WAIT_MS;
  await waitForTcp(host, port, REGISTER_WAIT_MS);
  // Listening comes a little before the namespace answers.
  for (;;) {
    try {
      const connection = await Connection.connect({ address: config.temporalAddress });
      try {
        const added = await registerSearchAttributes(connection.operatorService, config.temporalNamespace);
        if (added.length > 0) process.stdout.write(`registered search attributes ${added.join(', ')} on ${config.temporalNamespace}\n`);
        return;
      } finally {
        await connection.close();
      }
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

const REGISTER_WAIT_MS = 60_000;

if (require.main === module) main();
