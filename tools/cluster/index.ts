/**
 * `npm run temporal:cluster`: a Temporal cluster on PostgreSQL (see cluster.ts) on
 * TEMPORAL_ADDRESS, its web UI on that port + 1000, its state under DATA_DIR so workflows
 * survive a restart. A service that exits is started again; Ctrl-C or SIGTERM stops them all,
 * during the start too, and so does the end of the process that started the launcher.
 */
import { codecEndpoint, loadClusterConfigOrExit } from '../../src/config';
import { TemporalCluster } from './cluster';

function say(line: string): void {
  process.stdout.write(`[cluster] ${line}\n`);
}

/** Exits once what was said has left: writes to a pipe are asynchronous, and an exit would cut the last lines. */
function exit(code: number): void {
  process.stdout.write('', () => process.exit(code));
}

async function main(): Promise<void> {
  const config = loadClusterConfigOrExit();
  const { base } = config;
  const aborted = new AbortController();
  let cluster: TemporalCluster | undefined;
  let stopping = false;
  const stop = (why: string) => {
    if (stopping) return;
    stopping = true;
    say(why);
    // During the start, the start stops what it began, then rejects (below).
    aborted.abort();
    if (cluster) void cluster.stop().then(() => exit(0));
  };
  process.on('SIGINT', () => stop('stopping'));
  process.on('SIGTERM', () => stop('stopping'));
  // `npm start` runs the launcher in a process group of its own: if it is killed, nobody else stops the cluster.
  // Its output was a pipe to it: writing there fails then, and must not end the launcher before the cluster.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  const parent = process.ppid;
  setInterval(() => process.ppid !== parent && stop('the process that started the launcher is gone; stopping'), 1000).unref();
  try {
    cluster = await TemporalCluster.start({
      dataDir: base.dataDir,
      address: base.temporalAddress,
      namespace: base.temporalNamespace,
      historyShards: config.historyShards,
      retentionMs: config.retentionMs,
      db: config.db,
      logLevel: base.logLevel === 'debug' || base.logLevel === 'trace' ? 'info' : 'warn',
      codecEndpoint: codecEndpoint(base),
      say,
      signal: aborted.signal,
    });
  } catch (err) {
    if (!stopping) throw err;
    say('stopped before it was ready');
    return exit(0);
  }
  if (stopping) {
    // The start ended just as the signal came: never announced ready, so stopped before it was.
    await cluster.stop();
    say('stopped before it was ready');
    return exit(0);
  }
  say(
    `ready: frontend on ${cluster.address}, namespace ${base.temporalNamespace}, ${cluster.historyShards} history shards` +
      `${cluster.uiUrl ? `, web UI on ${cluster.uiUrl}` : ''}; services' logs in ${cluster.dir}/logs (Ctrl-C stops everything)`,
  );
}

main().catch((err: unknown) => {
  say(`failed: ${(err as Error).message}`);
  exit(1);
});
