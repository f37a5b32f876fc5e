/** GET /payments: the caller's payments as Temporal's visibility finds them by status and account. */
import type { FastifyPluginAsyncJsonSchemaToTs } from '@fastify/type-provider-json-schema-to-ts';
import type { PaymentClient } from '../client/payment-client';
import { commonErrors, paymentPage, paymentSearchQuery } from './schemas';

export const paymentSearchRoutes: FastifyPluginAsyncJsonSchemaToTs<{ Options: { payments: PaymentClient } }> = async (
  app,
  { payments },
) => {
  app.get(
    '/payments',
    {
      schema: {
        summary: "A page of the caller's payments, by status and account (visibility lags writes by about a second)",
        querystring: paymentSearchQuery,
        response: { 200: paymentPage, ...commonErrors },
      },
    },
    async (request) => payments.forCaller(request.caller).listPayments(request.query),
  );
};
