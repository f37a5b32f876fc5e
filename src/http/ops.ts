/** Liveness and readiness. */
import type { FastifyPluginAsync } from 'fastify';
import type { AppDeps } from './app';

const statusSchema = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ok', 'unavailable'] },
    temporal: { type: 'boolean' },
    ledger: { type: 'boolean' },
  },
  required: ['status'],
  additionalProperties: false,
} as const;

export const opsRoutes: FastifyPluginAsync<AppDeps> = async (app, deps) => {
  app.get('/healthz', { schema: { response: { 200: statusSchema } } }, async () => ({ status: 'ok' as const }));

  app.get('/readyz', { schema: { response: { 200: statusSchema, 503: statusSchema } } }, async (_request, reply) => {
    const temporal = await deps.temporalReachable();
    let ledger = true;
    try {
      await deps.ledger.ping();
    } catch {
      ledger = false;
    }
    const ready = temporal && ledger;
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ok' : 'unavailable', temporal, ledger });
  });
};
