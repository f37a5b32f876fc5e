/** /payments routes: makePayment, cancelPayment and the payment's state. */
import type { FastifyPluginAsyncJsonSchemaToTs } from '@fastify/type-provider-json-schema-to-ts';
import type { FastifyRequest } from 'fastify';
import { ErrorCode, PaymentError } from '../domain/errors';
import { type PaymentClient, PaymentInFlight } from '../client/payment-client';
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

  /**
   * The audit trail of a request that moves or could move money: one log line with its outcome
   * (the request id, key id, tenant and payment-id come with the request's logger), and the
   * outcome counted. A refusal's code is its outcome; `in_flight` a 202, `failed` a 5xx.
   */
  const audited = async <T>(request: FastifyRequest, operation: string, call: Promise<T>, outcome: (result: T) => string): Promise<T> => {
    const { tenant } = request.caller;
    try {
      const result = await call;
      const answered = outcome(result);
      metrics.payment(tenant, operation, answered);
      request.log.info({ operation, outcome: answered }, `${operation} answered`);
      return result;
    } catch (err) {
      // Still in flight at the request timeout (202), or failed (5xx): the error handler answers.
      const outcome = err instanceof PaymentError ? err.code : err instanceof PaymentInFlight ? 'in_flight' : 'failed';
      metrics.payment(tenant, operation, outcome);
      request.log.info({ operation, outcome }, `${operation} ${err instanceof PaymentError ? 'refused' : 'not answered'}`);
      throw err;
    }
  };
  /** The caller's own payments (another tenant's payment of the same id is never reached), asked by its key. */
  const callersPayments = (request: FastifyRequest): PaymentClient => payments.forCaller(request.caller);

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
      const result = await audited(request, 'makePayment', callersPayments(request).makePayment(request.params.id, request.body), (r) =>
        r.replayed ? 'replayed' : 'completed',
      );
      if (result.replayed) reply.header('idempotent-replayed', 'true');
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
    async (request) =>
      audited(request, 'cancelPayment', callersPayments(request).cancelPayment(request.params.id), (r) =>
        r.refunded ? 'refunded' : 'cancelled',
      ),
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
