/** Operations: liveness, readiness and Prometheus metrics. */
import type { FastifyPluginAsync } from 'fastify';
import type { Ledger } from '../ledger/ledger';
import type { GatewayMetrics } from './metrics';

export interface OpsDeps {
  /** Absent when Stripe is the provider: then readiness does not depend on a ledger. */
  ledger: Ledger | undefined;
  temporalReachable: () => Promise<boolean>;
  metrics: GatewayMetrics;
}

const statusSchema = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ok', 'unavailable'] },
    temporal: { type: 'boolean', description: 'Temporal answered a health check' },
    ledger: { type: 'boolean', description: 'the ledger database answered (absent with PAYMENT_PROVIDER=stripe)' },
  },
  required: ['status'],
  additionalProperties: false,
} as const;

export const opsRoutes: FastifyPluginAsync<OpsDeps> = async (app, { ledger, temporalReachable, metrics }) => {
  app.get('/healthz', { schema: { summary: 'Liveness: the gateway process answers', response: { 200: statusSchema } } }, async () => ({
    status: 'ok' as const,
  }));

  app.get(
    '/readyz',
    { schema: { summary: 'Readiness: Temporal and the ledger are reachable', response: { 200: statusSchema, 503: statusSchema } } },
    async (_request, reply) => {
      const [temporal, ledgerUp] = await Promise.all([
        temporalReachable(),
        ledger?.ping().then(
          () => true,
          () => false,
        ),
      ]);
      const ready = temporal && ledgerUp !== false;
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ok' : 'unavailable', temporal, ...(ledger && { ledger: ledgerUp }) });
    },
  );

  app.get('/metrics', { schema: { summary: 'Prometheus metrics', produces: ['text/plain'] } }, async (_request, reply) => {
    reply.type(metrics.registry.contentType);
    return metrics.registry.metrics();
  });
};
