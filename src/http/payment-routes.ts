/** /payments routes: makePayment, cancelPayment and the payment's state. */
import type { FastifyPluginAsyncJsonSchemaToTs } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyRequest } from 'fastify';
import { ErrorCode, PaymentError } from '../domain/errors';
import type { PaymentClient } from '../client/payment-client';
import type { GatewayMetrics } from './metrics';
import { cancelResult, commonErrors, errorRef, makePaymentBody, paymentIdParams, paymentResult, paymentView } from './schemas';

export interface PaymentRoutesDeps {
  payments: PaymentClient;
  metrics: GatewayMetrics;
}

export const paymentRoutes: FastifyPluginAsyncJsonSchemaToTs<{ Options: PaymentRoutesDeps }> = async (app, { payments, metrics }) => {
  // Every log line of a payment request names the payment-id.
  app.addHook('preHandler', async (request) => {
    request.log = request.log.child({ paymentId: (request.params as { id: string }).id });
  });

  /** Counts the outcome of the caller's operation, error codes included, and passes the result or error on. */
  const counted = async <T>(request: FastifyRequest, operation: string, call: Promise<T>, outcome: (result: T) => string): Promise<T> => {
    const { tenant } = request.caller;
    try {
      const result = await call;
      metrics.payments.inc({ tenant, operation, outcome: outcome(result) });
      return result;
    } catch (err) {
      if (err instanceof PaymentError) metrics.payments.inc({ tenant, operation, outcome: err.code });
      throw err;
    }
  };
  /** The caller's own payments: another tenant's payment of the same id is never reached. */
  const callersPayments = (request: FastifyRequest): PaymentClient => payments.forTenant(request.caller.tenant);

  app.post(
    '/payments/:id/makePayment',
    {
      schema: {
        summary: 'Charge the payment once; a repeat with the same body answers the first result',
        params: paymentIdParams,
        body: makePaymentBody,
        response: {
          200: paymentResult,
          202: paymentView,
          402: errorRef,
          409: errorRef,
          422: errorRef,
          429: errorRef,
          502: errorRef,
          ...commonErrors,
        },
      },
    },
    async (request, reply) => {
      const result = await counted(request, 'makePayment', callersPayments(request).makePayment(request.params.id, request.body), (r) =>
        r.replayed ? 'replayed' : 'completed',
      );
      if (result.replayed) reply.header('idempotent-replayed', 'true');
      request.log.info({ replayed: result.replayed }, 'payment completed');
      return result;
    },
  );

  app.post(
    '/payments/:id/cancelPayment',
    {
      schema: {
        summary: 'Cancel the payment: before the charge it is never charged; after it, refunded once',
        params: paymentIdParams,
        response: { 200: cancelResult, 202: paymentView, 409: errorRef, 429: errorRef, 502: errorRef, ...commonErrors },
      },
    },
    async (request) => {
      const result = await counted(request, 'cancelPayment', callersPayments(request).cancelPayment(request.params.id), (r) =>
        r.refunded ? 'refunded' : 'cancelled',
      );
      request.log.info({ refunded: result.refunded }, 'payment cancelled');
      return result;
    },
  );

  app.get(
    '/payments/:id',
    {
      schema: {
        summary: "The payment's state",
        params: paymentIdParams,
        response: { 200: paymentView, 404: errorRef, ...commonErrors },
      },
    },
    async (request) => {
      const view = await callersPayments(request).getPayment(request.params.id);
      if (!view) throw new PaymentError(ErrorCode.PaymentNotFound, `no payment ${request.params.id}`);
      return view;
    },
  );
};
