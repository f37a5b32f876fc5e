/**
 * What operators read rather than callers: Prometheus metrics, the API's OpenAPI document with
 * its browsable page, and the codec endpoint (codec.ts). Served by the public app, or with
 * ADMIN_PORT by an app of their own, so that the public port need not expose them.
 */
import swagger, { type StaticDocumentSpec } from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { Registry } from 'prom-client';
import { type AccessDeps, registerAccess } from './access';
import { type CodecDeps, codecRoutes } from './codec';
import { type ServerDeps, gatewayServer } from './server';

/** /metrics, showing `registry`, and /docs; the app must have @fastify/swagger registered, the document /docs shows. */
export const adminRoutes: FastifyPluginAsync<{ registry: Registry }> = async (app, { registry }) => {
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/metrics', { schema: { summary: 'Prometheus metrics', produces: ['text/plain'] } }, async (_request, reply) => {
    reply.type(registry.contentType);
    return registry.metrics();
  });
};

export interface AdminDeps extends ServerDeps {
  /** The public app's: a route here that asks for a scope is refused to keys below it, as there. */
  access: AccessDeps;
  codec: CodecDeps;
}

/**
 * ADMIN_PORT's app: the public app's metrics with the counts by tenant, which the public port
 * never shows, and its OpenAPI document, which is complete once that app is ready.
 */
export async function buildAdminApp(publicApp: FastifyInstance, deps: AdminDeps): Promise<FastifyInstance> {
  const app = gatewayServer(deps);
  registerAccess(app, deps.access);
  await app.register(swagger, { mode: 'static', specification: { document: publicApp.swagger() as StaticDocumentSpec['document'] } });
  await app.register(adminRoutes, { registry: deps.metrics.adminRegistry });
  await app.register(codecRoutes, { ...deps.codec, prefix: '/codec' });
  return app;
}
