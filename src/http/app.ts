/** The gateway's Fastify instance: plugins, and one error handler for the documented error shape. */
import Fastify, { type FastifyInstance } from 'fastify';
import type { LogLevel } from '../config';
import type { Ledger } from '../ledger/ledger';
import { opsRoutes } from './ops';

export interface AppDeps {
  ledger: Ledger;
  /** Whether Temporal answers right now (for /readyz). */
  temporalReachable: () => Promise<boolean>;
  logLevel: LogLevel;
}

export function buildApp(deps: AppDeps): FastifyInstance {
  const app = Fastify({ logger: { level: deps.logLevel }, bodyLimit: 16 * 1024 });
  app.register(opsRoutes, deps);
  return app;
}
