/**
 * `npm run temporal:cluster`: a Temporal cluster on PostgreSQL (see cluster.ts) on
 * TEMPORAL_ADDRESS, its web UI on that port + 1000, its state under DATA_DIR so workflows
 * survive a restart. A service that exits is started again; Ctrl-C or SIGTERM stops them all.
 */
import { loadClusterConfigOrExit } from '../../src/config';
import { TemporalCluster } from './cluster';

function say(line: string): void {
  process.stdout.write(`[cluster] ${line}\n`);
}

async function main(): Promise<void> {
  const config = loadClusterConfigOrExit();
  const { base } = config;
  let cluster: TemporalCluster | undefined;
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    say('stopping');
    await cluster?.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
  cluster = await TemporalCluster.start({
    dataDir: base.dataDir,
    address: base.temporalAddress,
    namespace: base.temporalNamespace,
    historyShards: config.historyShards,
    retentionMs: config.retentionMs,
    dbUrl: config.dbUrl,
    logLevel: base.logLevel === 'debug' || base.logLevel === 'trace' ? 'info' : 'warn',
    say,
  });
  if (stopping) return;
  say(
    `ready: frontend on ${cluster.address}, namespace ${base.temporalNamespace}, ${cluster.historyShards} history shards` +
      `${cluster.uiUrl ? `, web UI on ${cluster.uiUrl}` : ''}; services' logs in ${cluster.dir}/logs (Ctrl-C stops everything)`,
  );
}

main().catch((err: unknown) => {
  say(`failed: ${(err as Error).message}`);
  process.exit(1);
});
