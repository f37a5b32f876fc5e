/**
 * The gateway's Fastify instance: the route plugins, validation that refuses rather than
 * repairs, one error handler for the documented error shape, metrics and the OpenAPI docs.
 */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Ajv from 'ajv';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Ledger } from '../ledger/ledger';
import type { PaymentClient } from '../client/payment-client';
import { type AccessDeps, registerAccess } from './access';
import { accountRoutes } from './accounts';
import { errorHandler, notFoundHandler } from './errors';
import { GatewayMetrics } from './metrics';
import { opsRoutes } from './ops';
import { paymentRoutes } from './payment-routes';
import { errorBody } from './schemas';

export interface AppDeps {
  payments: PaymentClient;
  /** The ledger the accounts are read from; absent when Stripe is the provider. */
  ledger: Ledger | undefined;
  /** Why Temporal does not answer right now, undefined when it does (for /readyz). */
  temporalProblem: () => Promise<string | undefined>;
  logger: FastifyServerOptions['logger'];
  /** Who may call: API keys (AUTH=keys) or everyone as the tenant `default` (AUTH=off), and the allowed browser origins. */
  access: AccessDeps;
  /** How long a client may take; httpTimeouts() when absent. */
  timeouts?: Partial<HttpTimeouts>;
}

/** Limits on what a client, or a request in flight at shutdown, may hold. */
export interface HttpTimeouts {
  /**
   * The whole request must arrive within this (Node's requestTimeout), and a socket with a
   * request open may stay silent no longer (connectionTimeout): longer than REQUEST_TIMEOUT,
   * at which the gateway answers 202.
   */
  requestMs: number;
  /** The request line and headers must arrive within this (Node's headersTimeout); else 408 and the connection is closed. */
  headersMs: number;
  /** An idle keep-alive connection is closed after this: longer than a load balancer's usual 60 s idle timeout. */
  keepAliveMs: number;
  /** app.close() lets requests in flight finish for this long, then cuts their connections. */
  closeGraceMs: number;
}

/** The gateway's limits for a REQUEST_TIMEOUT of `requestTimeoutMs`. */
export function httpTimeouts(requestTimeoutMs = 30_000): HttpTimeouts {
  return { requestMs: requestTimeoutMs + 10_000, headersMs: 10_000, keepAliveMs: 72_000, closeGraceMs: 10_000 };
}

export const BODY_LIMIT = 16 * 1024;

/**
 * Bodies are validated as sent: a string is not an amount, and an extra field is an error,
 * not something to drop. Query strings arrive as text, so `?limit=10` is coerced to a number.
 */
function validators() {
  return {
    body: new Ajv({ coerceTypes: false, removeAdditional: false, useDefaults: false }),
    other: new Ajv({ coerceTypes: true, removeAdditional: false, useDefaults: true }),
  };
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const timeouts = { ...httpTimeouts(), ...deps.timeouts };
  const app = Fastify({
    logger: deps.logger,
    bodyLimit: BODY_LIMIT,
    return503OnClosing: true,
    requestTimeout: timeouts.requestMs,
    connectionTimeout: timeouts.requestMs,
    keepAliveTimeout: timeouts.keepAliveMs,
    // Node looks for late headers every connectionsCheckingInterval (30 s by default).
    http: {
      headersTimeout: timeouts.headersMs,
      connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(timeouts.headersMs / 4))),
    },
    // Fastify's default (100) would refuse valid 200-character ids with a bare 414; the schema names the problem instead.
    routerOptions: { maxParamLength: 1000 },
  });
  const { body: strict, other: lenient } = validators();
  // JSON only: a text/plain body is refused as the wrong content-type, not parsed as a string.
  app.removeContentTypeParser('text/plain');
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? strict : lenient).compile(schema));
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler(notFoundHandler);
  app.addSchema(errorBody);
  registerAccess(app, deps.access);

  // Once shutdown starts, a response in flight also closes its keep-alive connection, so
  // close() ends when the last request does, not when idle sockets time out; and a request
  // still in flight after the grace period has its connection cut.
  let closing = false;
  let cut: NodeJS.Timeout | undefined;
  app.addHook('preClose', async () => {
    closing = true;
    cut = setTimeout(() => app.server.closeAllConnections(), timeouts.closeGraceMs).unref();
  });
  app.addHook('onClose', async () => clearTimeout(cut));
  app.addHook('onSend', async (_request, reply) => {
    if (closing) reply.header('connection', 'close');
  });

  const metrics = new GatewayMetrics();
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    metrics.latency.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Durable payments on Temporal',
        version: '1',
        description: 'Idempotent payments: each payment-id is charged at most once and refunded at most once.',
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  await app.register(paymentRoutes, { payments: deps.payments, metrics });
  await app.register(accountRoutes, { ledger: deps.ledger });
  await app.register(opsRoutes, { ledger: deps.ledger, temporalProblem: deps.temporalProblem, metrics });
  return app;
}
