/** `npm run api`: the HTTP gateway on HOST:PORT, and its metrics and docs on HOST:ADMIN_PORT when that is set. */
import type { FastifyInstance } from 'fastify';
import { type Config, loadConfigOrExit, temporalUiOrigins } from './config';
import { buildAdminApp } from './http/admin';
import { type AppDeps, buildApp } from './http/app';
import { GatewayMetrics } from './http/metrics';
import { RATE_LIMIT_WINDOW_MS } from './http/rate-limit';
import { type HttpTimeouts, httpTimeouts } from './http/server';
import { GatewayShutdown } from './http/shutdown';
import type { Ledger } from './ledger/ledger';
import { describeLedger, openLedger } from './ledger/open';
import { PaymentClient, type PaymentClientOptions } from './client/payment-client';
import { isLoopback } from './net';
import { createClient, describeTemporal, temporalProblem } from './temporal';
import { paymentCodec, paymentDataConverter } from './codec/data-converter';
import { failureText } from './start-failure';

export interface GatewayParts extends Omit<PaymentClientOptions, 'ledger'> {
  /** The accounts' ledger; undefined when Stripe moves the money. */
  ledger: Ledger | undefined;
  logger: AppDeps['logger'];
  timeouts?: Partial<HttpTimeouts>;
  /** AUTH=off and no browser origins unless given. */
  access?: AppDeps['access'];
  /** No limit unless given. */
  rateLimit?: AppDeps['rateLimit'];
  adminApart?: AppDeps['adminApart'];
  /** A registry of its own unless given. */
  metrics?: GatewayMetrics;
  /** One of its own unless given. */
  shutdown?: GatewayShutdown;
  codec: AppDeps['codec'];
  /** What the app's close releases once its requests and their Temporal calls are done (the connection, the database). */
  release?: () => Promise<void>;
}

/** The gateway's app over its parts: what a process wires from its configuration, and a test from its own. */
export async function gatewayApp({
  ledger,
  logger,
  timeouts,
  access = { mode: 'off', allowedOrigins: [] },
  rateLimit,
  adminApart,
  metrics = new GatewayMetrics(),
  shutdown = new GatewayShutdown(),
  codec,
  release,
  ...client
}: GatewayParts) {
  const payments = new PaymentClient({ ...client, ledger, settleNow: shutdown.settleNow });
  const app = await buildApp({
    payments,
    ledger,
    temporalProblem: () => temporalProblem(client.client),
    logger,
    timeouts,
    access,
    rateLimit,
    adminApart,
    metrics,
    shutdown,
    codec,
  });
  app.addHook('onClose', async () => {
    // Runs after the requests in flight have been answered.
    await payments.settled();
    await release?.();
  });
  return app;
}

/** A gateway process's listeners: the public app, and with ADMIN_PORT the admin app. */
export interface Gateway {
  /** The public app; a tool may add its routes before listen(). */
  app: FastifyInstance;
  /** Listens on HOST:PORT, and with ADMIN_PORT on HOST:ADMIN_PORT; the addresses listened on. */
  listen(): Promise<{ url: string; adminUrl: string | undefined }>;
  /** Lets requests in flight finish and closes both listeners, then the Temporal connection and the database. */
  close(): Promise<void>;
  /** SIGTERM's sequence (http/shutdown.ts): readiness 503 and the drain, then close(). */
  shutDown(): Promise<void>;
}

/** The gateway of a process: its database, a lazy Temporal client and the apps, ready to listen. */
export async function createGateway(config: Config): Promise<Gateway> {
  // The database holds closed payments' records with either provider; accounts only when money moves in the ledger.
  const database = await openLedger(config);
  const codec = paymentCodec(config);
  const client = createClient(config, paymentDataConverter(codec));
  const shutdown = new GatewayShutdown();
  // What both listeners share, who may call them included.
  const server = {
    logger: { level: config.logLevel },
    timeouts: { ...httpTimeouts(config.requestTimeoutMs), closeGraceMs: GatewayShutdown.closeGraceMs(config.shutdownDrainMs) },
    metrics: new GatewayMetrics(),
    shutdown,
    access: { mode: config.auth, keys: database, allowedOrigins: config.allowedOrigins },
    codec: { codec, origins: [...temporalUiOrigins(config), ...config.allowedOrigins] },
  };
  const app = await gatewayApp({
    client,
    taskQueue: config.taskQueue,
    expiryMs: config.paymentExpiryMs,
    requestTimeoutMs: config.requestTimeoutMs,
    records: database,
    ledger: config.paymentProvider.kind === 'ledger' ? database : undefined,
    ...server,
    rateLimit: config.rateLimit === undefined ? undefined : { max: config.rateLimit, windowMs: RATE_LIMIT_WINDOW_MS },
    adminApart: config.adminPort !== undefined,
    release: async () => {
      await client.connection.close();
      await database.close();
    },
  });
  let admin: FastifyInstance | undefined;
  const close = async () => {
    await Promise.all([app.close(), admin?.close()]);
  };
  return {
    app,
    async listen() {
      const url = await app.listen({ host: config.host, port: config.port });
      if (config.adminPort === undefined) return { url, adminUrl: undefined };
      // Built only now: the public app's OpenAPI document is complete once it is ready, after any routes a tool adds.
      admin = await buildAdminApp(app, server);
      return { url, adminUrl: await admin.listen({ host: config.host, port: config.adminPort }) };
    },
    close,
    async shutDown() {
      await shutdown.drain(config.shutdownDrainMs);
      await close();
    },
  };
}

/** A gateway process: serves until SIGINT or SIGTERM. `extend` adds a tool's routes (the bench gateway's). */
export async function runGateway(config: Config, extend?: (app: FastifyInstance) => Promise<void>): Promise<void> {
  const gateway = await createGateway(config);
  const { log } = gateway.app;
  if (extend) await extend(gateway.app);
  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    log.info(
      { signal, drainMs: config.shutdownDrainMs },
      'shutting down: readiness 503, answering for the drain, then finishing requests in flight',
    );
    await gateway.shutDown();
    log.info('shut down');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));

  const { url, adminUrl } = await gateway.listen();
  log.info(
    `gateway on ${url}${adminUrl === undefined ? '' : ` (metrics and docs on ${adminUrl})`}, Temporal ${describeTemporal(config)}, ` +
      `${config.paymentProvider.kind === 'ledger' ? describeLedger(config) : `payments at Stripe, records in ${describeLedger(config)}`}`,
  );
  if (config.auth === 'keys') {
    const limit =
      config.rateLimit === undefined ? 'no rate limit (RATE_LIMIT=off)' : `${config.rateLimit} requests a second per key (RATE_LIMIT)`;
    log.info(`access: API keys (AUTH=keys), ${limit}; make them with npm run keys -- create --tenant default`);
  } else if (isLoopback(config.host)) log.info("access control off (AUTH=off): every request is the tenant default's");
  else log.warn(`ACCESS CONTROL IS OFF (AUTH=off) on ${config.host}: anyone who reaches this address can move money`);
}

if (require.main === module) {
  runGateway(loadConfigOrExit()).catch((err) => {
    process.stderr.write(`gateway failed: ${failureText(err)}\n`);
    process.exit(1);
  });
}
