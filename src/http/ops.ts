/** Operations: liveness and readiness, for load balancers and orchestrators. */
import type { FastifyPluginAsync } from 'fastify';
import type { Ledger } from '../ledger/ledger';
import type { GatewayShutdown } from './shutdown';

export interface OpsDeps {
  /** Absent when Stripe is the provider: then readiness does not depend on a ledger. */
  ledger: Ledger | undefined;
  /** Why Temporal does not answer right now; undefined when it does. */
  temporalProblem: () => Promise<string | undefined>;
  /** Readiness fails from the moment the gateway starts shutting down, so that a load balancer stops sending to it. */
  shutdown: GatewayShutdown;
}

/** A reason for the log: any URL in it loses its password, as redactUrl does for one URL. */
function withoutSecrets(text: string): string {
  return text
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/[^\s/:@]*:)[^\s/@]*@/gi, '$1***@')
    .replace(/([?&][^\s=&]*(?:pass|secret|key|token)[^\s=&]*=)[^\s&]*/gi, '$1***');
}

const statusSchema = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: ['ok', 'unavailable'] },
    temporal: { type: 'boolean', description: 'Temporal answered a health check' },
    ledger: { type: 'boolean', description: 'the ledger database answered (absent with PAYMENT_PROVIDER=stripe)' },
    problems: {
      type: 'array',
      items: { type: 'string' },
      description:
        'when unavailable: what is down, one per dependency ("temporal: unreachable", "ledger: unreachable"), or "gateway: shutting down"; why is in the gateway\'s log',
    },
  },
  required: ['status'],
  additionalProperties: false,
} as const;

export const opsRoutes: FastifyPluginAsync<OpsDeps> = async (app, { ledger, temporalProblem, shutdown }) => {
  app.get('/healthz', { schema: { summary: 'Liveness: the gateway process answers', response: { 200: statusSchema } } }, async () => ({
    status: 'ok' as const,
  }));

  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Readiness: Temporal and the ledger are reachable, and the gateway is not shutting down',
        response: { 200: statusSchema, 503: statusSchema },
      },
    },
    async (request, reply) => {
      if (shutdown.draining) return reply.code(503).send({ status: 'unavailable', problems: ['gateway: shutting down'] });
      const [temporal, ledgerProblem] = await Promise.all([
        temporalProblem(),
        ledger?.ping().then(
          () => undefined,
          (err: unknown) => String((err as Error)?.message || err),
        ),
      ]);
      const down = Object.entries({ temporal, ledger: ledgerProblem }).filter(([, reason]) => reason !== undefined);
      // The reasons name hosts, addresses and ports, which are for the operator's log, not for whoever can reach this port.
      const problems = down.map(([dependency]) => `${dependency}: unreachable`);
      const ready = problems.length === 0;
      const reasons = down.map(([dependency, reason]) => withoutSecrets(`${dependency}: ${reason}`));
      if (!ready) request.log.warn({ problems: reasons }, 'not ready');
      return reply.code(ready ? 200 : 503).send({
        status: ready ? 'ok' : 'unavailable',
        temporal: temporal === undefined,
        ...(ledger && { ledger: ledgerProblem === undefined }),
        ...(!ready && { problems }),
      });
    },
  );
};
