/**
 * The Fastify instance every listener of the gateway is built on (the public one, and the admin
 * one of ADMIN_PORT): the HTTP limits, validation that refuses rather than repairs, one error
 * handler for the documented error shape, request metrics, and a shutdown that ends.
 */
import Ajv from 'ajv';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { ErrorCode, PaymentError } from '../domain/errors';
import { errorHandler, notFoundHandler } from './errors';
import type { GatewayMetrics } from './metrics';
import { errorBody } from './schemas';
import { GatewayShutdown } from './shutdown';

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

export interface ServerDeps {
  logger: FastifyServerOptions['logger'];
  /** httpTimeouts() where absent. */
  timeouts?: Partial<HttpTimeouts>;
  /** Where every answer is counted, by route and status. */
  metrics: GatewayMetrics;
  /** The process's shutdown, shared by its listeners; one of its own unless given. */
  shutdown?: GatewayShutdown;
}

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

export function gatewayServer({ logger, timeouts: given, metrics, shutdown = new GatewayShutdown() }: ServerDeps): FastifyInstance {
  const timeouts = { ...httpTimeouts(), ...given };
  const app = Fastify({
    logger,
    bodyLimit: BODY_LIMIT,
    // Refused below instead, in the error shape, with Retry-After, and counted.
    return503OnClosing: false,
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

  // Once the listener closes (shutdown.ts), a response in flight also closes its keep-alive
  // connection, so close() ends when the last request does, not when idle sockets time out; a
  // request arriving on a connection still open is refused; and a request still in flight after
  // the grace period has its connection cut.
  let closing = false;
  let cut: NodeJS.Timeout | undefined;
  let settle: NodeJS.Timeout | undefined;
  app.addHook('preClose', async () => {
    closing = true;
    settle = shutdown.closing(timeouts.closeGraceMs);
    cut = setTimeout(() => app.server.closeAllConnections(), timeouts.closeGraceMs).unref();
  });
  app.addHook('onClose', async () => {
    clearTimeout(cut);
    clearTimeout(settle);
  });
  app.addHook('onRequest', async () => {
    if (closing) throw new PaymentError(ErrorCode.ShuttingDown, 'this gateway is shutting down; send the same request again', 1);
  });
  app.addHook('onSend', async (_request, reply) => {
    if (closing || shutdown.draining) reply.header('connection', 'close');
  });

  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ method: request.method, route, status: String(reply.statusCode) });
    metrics.latency.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });
  return app;
}
