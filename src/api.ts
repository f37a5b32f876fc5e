/** `npm run api`: the HTTP gateway on HOST:PORT. */
import { loadConfigOrExit } from './config';
import { buildApp } from './http/app';
import { openLedger } from './ledger/sqlite';
import { createClient, temporalReachable } from './temporal';

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const ledger = openLedger(config);
  const client = createClient(config);
  const app = buildApp({ ledger, temporalReachable: () => temporalReachable(client), logLevel: config.logLevel });

  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down: finishing in-flight requests');
    await app.close();
    await client.connection.close();
    await ledger.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  await app.listen({ host: config.host, port: config.port });
  app.log.info(`gateway on http://${config.host}:${config.port}, Temporal ${config.temporalAddress}, data in ${config.dataDir}`);
}

main().catch((err) => {
  process.stderr.write(`gateway failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
