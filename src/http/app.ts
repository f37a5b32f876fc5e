/**
 * The gateway's public app: who may call (API keys, browser origins, a rate limit per key), the
 * payment, account and probe routes, and, unless ADMIN_PORT moves them to an app of their own,
 * metrics and the OpenAPI docs.
 */
import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import type { Ledger } from '../ledger/ledger';
import type { PaymentClient } from '../client/payment-client';
import { type AccessDeps, registerAccess } from './access';
import { accountRoutes } from './accounts';
import { type CodecDeps, codecRoutes } from './codec';
import { adminRoutes } from './admin';
import { notFoundHandler } from './errors';
import { opsRoutes } from './ops';
import { paymentSearchRoutes } from './payment-search';
import { paymentRoutes } from './payment-routes';
import { type RateLimit, registerRateLimit } from './rate-limit';
import { type ServerDeps, gatewayServer } from './server';
import { GatewayShutdown } from './shutdown';

export interface AppDeps extends ServerDeps {
  payments: PaymentClient;
  /** The ledger the accounts are read from; absent when Stripe is the provider. */
  ledger: Ledger | undefined;
  /** Why Temporal does not answer right now, undefined when it does (for /readyz). */
  temporalProblem: () => Promise<string | undefined>;
  /** Who may call: API keys (AUTH=keys) or everyone as the tenant `default` (AUTH=off), and the allowed browser origins. */
  access: AccessDeps;
  /** How many requests one key may make (RATE_LIMIT); no limit when absent. */
  rateLimit?: RateLimit;
  /** With ADMIN_PORT: /metrics, /docs and /codec are served by the admin app (src/http/admin.ts), not here. */
  adminApart?: boolean;
  /** The payload codec behind /codec, and the web UI origins that may call it. */
  codec: CodecDeps;
}

export async function buildApp(given: AppDeps): Promise<FastifyInstance> {
  const deps = { ...given, shutdown: given.shutdown ?? new GatewayShutdown() };
  const app = gatewayServer(deps);
  registerAccess(app, deps.access);
  if (deps.rateLimit) await registerRateLimit(app, deps.rateLimit);

  // Registered here even when the admin app serves the document: it is made from this app's routes.
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
  if (deps.adminApart) {
    // Routes that answer 404 rather than none: the access hook lets them through without a key,
    // so a scraper left pointing at this port learns they are not here rather than that it is unauthorized.
    for (const url of ['/metrics', '/docs', '/docs/*']) app.get(url, { schema: { hide: true } }, notFoundHandler);
    app.post('/codec/*', { schema: { hide: true } }, notFoundHandler);
  } else {
    await app.register(adminRoutes, { registry: deps.metrics.publicRegistry });
    await app.register(codecRoutes, { ...deps.codec, prefix: '/codec' });
  }

  await app.register(paymentRoutes, { payments: deps.payments, metrics: deps.metrics });
  await app.register(paymentSearchRoutes, { payments: deps.payments });
  await app.register(accountRoutes, { ledger: deps.ledger });
  await app.register(opsRoutes, { ledger: deps.ledger, temporalProblem: deps.temporalProblem, shutdown: deps.shutdown });
  return app;
}
