/** `npm run api`: the HTTP gateway on HOST:PORT. */
import { type Config, loadConfigOrExit } from './config';
import { type AppDeps, type HttpTimeouts, buildApp, httpTimeouts } from './http/app';
import type { Ledger } from './ledger/ledger';
import { describeLedger, openLedger } from './ledger/open';
import { PaymentClient, type PaymentClientOptions } from './client/payment-client';
import { isLoopback } from './net';
import { createClient, describeTemporal, temporalProblem } from './temporal';

export interface GatewayParts extends Omit<PaymentClientOptions, 'ledger'> {
  /** The accounts' ledger; undefined when Stripe moves the money. */
  ledger: Ledger | undefined;
  logger: AppDeps['logger'];
  timeouts?: Partial<HttpTimeouts>;
  /** AUTH=off and no browser origins unless given. */
  access?: AppDeps['access'];
}

/** The gateway's app over its parts: what a process wires from its configuration, and a test from its own. */
export function gatewayApp({ ledger, logger, timeouts, access = { mode: 'off', allowedOrigins: [] }, ...client }: GatewayParts) {
  return buildApp({
    payments: new PaymentClient({ ...client, ledger }),
    ledger,
    temporalProblem: () => temporalProblem(client.client),
    logger,
    timeouts,
    access,
  });
}

/** The gateway of a process: its database, a lazy Temporal client and the app, ready to listen. */
export async function createGateway(config: Config) {
  // The database holds closed payments' records with either provider; accounts only when money moves in the ledger.
  const database = await openLedger(config);
  const client = createClient(config);
  const app = await gatewayApp({
    client,
    taskQueue: config.taskQueue,
    expiryMs: config.paymentExpiryMs,
    requestTimeoutMs: config.requestTimeoutMs,
    records: database,
    ledger: config.paymentProvider.kind === 'ledger' ? database : undefined,
    logger: { level: config.logLevel },
    timeouts: httpTimeouts(config.requestTimeoutMs),
    access: { mode: config.auth, keys: database, allowedOrigins: config.allowedOrigins },
  });
  app.addHook('onClose', async () => {
    // Runs after in-flight requests have finished.
    await client.connection.close();
    await database.close();
  });
  return app;
}

export type Gateway = Awaited<ReturnType<typeof createGateway>>;

/** A gateway process: serves until SIGINT or SIGTERM. `extend` adds a tool's routes (the bench gateway's). */
export async function runGateway(config: Config, extend?: (app: Gateway) => Promise<void>): Promise<void> {
  const app = await createGateway(config);
  if (extend) await extend(app);
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
  app.log.info(
    `gateway on http://${config.host}:${config.port}, Temporal ${describeTemporal(config)}, ` +
      `${config.paymentProvider.kind === 'ledger' ? describeLedger(config) : `payments at Stripe, records in ${describeLedger(config)}`}`,
  );
  if (config.auth === 'keys') app.log.info('access: API keys (AUTH=keys); make them with npm run keys -- create --tenant default');
  else if (isLoopback(config.host)) app.log.info("access control off (AUTH=off): every request is the tenant default's");
  else app.log.warn(`ACCESS CONTROL IS OFF (AUTH=off) on ${config.host}: anyone who reaches this address can move money`);
}

if (require.main === module) {
  runGateway(loadConfigOrExit()).catch((err) => {
    process.stderr.write(`gateway failed: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  });
}
