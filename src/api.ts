/** `npm run api`: the HTTP gateway on HOST:PORT. */
import { type Config, loadConfigOrExit } from './config';
import { buildApp, httpTimeouts } from './http/app';
import { describeLedger, openLedger } from './ledger/open';
import { Payments } from './payments';
import { createClient, describeTemporal, temporalProblem } from './temporal';

/** The gateway of a process: ledger, lazy Temporal client and app, ready to listen. */
export async function createGateway(config: Config) {
  const ledger = config.paymentProvider.kind === 'ledger' ? await openLedger(config) : undefined;
  const client = createClient(config);
  const payments = new Payments({ client, taskQueue: config.taskQueue, expiryMs: config.paymentExpiryMs, ledger });
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
    await ledger?.close();
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
  app.log.info(`gateway on http://${config.host}:${config.port}, Temporal ${describeTemporal(config)}, ${config.paymentProvider.kind === 'ledger' ? describeLedger(config) : 'no ledger (payments at Stripe)'}`);
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`gateway failed: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  });
}
