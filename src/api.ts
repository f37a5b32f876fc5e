/** `npm run api`: the HTTP gateway on HOST:PORT. */
import { type Config, loadConfigOrExit } from './config';
import { buildApp, httpTimeouts } from './http/app';
import { describeLedger, openLedger } from './ledger/open';
import { PaymentClient } from './client/payment-client';
import { createClient, describeTemporal, temporalProblem } from './temporal';

/** The gateway of a process: ledger, lazy Temporal client and app, ready to listen. */
export async function createGateway(config: Config) {
  // The database holds closed payments' records with either provider; accounts only when money moves in the ledger.
  const database = await openLedger(config);
  const ledger = config.paymentProvider.kind === 'ledger' ? database : undefined;
  const client = createClient(config);
  const payments = new PaymentClient({
    client,
    taskQueue: config.taskQueue,
    expiryMs: config.paymentExpiryMs,
    requestTimeoutMs: config.requestTimeoutMs,
    records: database,
    ledger,
  });
  const app = await buildApp({
    payments,
    ledger,
    temporalProblem: () => temporalProblem(client),
    logger: { level: config.logLevel },
    timeouts: httpTimeouts(config.requestTimeoutMs),
    ...(config.benchRoutes ? { bench: { client, taskQueue: config.taskQueue } } : {}),
  });
  app.addHook('onClose', async () => {
    // Runs after in-flight requests have finished.
    await client.connection.close();
    await database.close();
  });
  return app;
}

async function main(): Promise<void> {
  const config = loadConfigOrExit();
  const app = await createGateway(config);
  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down: finishing in-flight requests');
    await app.close();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  await app.listen({ host: config.host, port: config.port });
  app.log.info(`gateway on http://${config.host}:${config.port}, Temporal ${describeTemporal(config)}, ${config.paymentProvider.kind === 'ledger' ? describeLedger(config) : `payments at Stripe, records in ${describeLedger(config)}`}`);
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`gateway failed: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  });
}
