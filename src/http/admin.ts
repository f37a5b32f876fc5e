/**
 * What operators read rather than callers: Prometheus metrics and the API's OpenAPI document with
 * its browsable page. Served by the public app, or with ADMIN_PORT by an app of their own, so
 * that the public port need not expose them.
 */
import swagger, { type StaticDocumentSpec } from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { GatewayMetrics } from './metrics';
import { type ServerDeps, gatewayServer } from './server';

/** /metrics and /docs; the app must have @fastify/swagger registered, the document /docs shows. */
export const adminRoutes: FastifyPluginAsync<{ metrics: GatewayMetrics }> = async (app, { metrics }) => {
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/metrics', { schema: { summary: 'Prometheus metrics', produces: ['text/plain'] } }, async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
};

/** ADMIN_PORT's app: the public app's metrics and its OpenAPI document, which is complete once that app is ready. */
export async function buildAdminApp(publicApp: FastifyInstance, deps: ServerDeps): Promise<FastifyInstance> {
  const app = gatewayServer(deps);
  await app.register(swagger, { mode: 'static', specification: { document: publicApp.swagger() as StaticDocumentSpec['document'] } });
  await app.register(adminRoutes, { metrics: deps.metrics });
  return app;
}
