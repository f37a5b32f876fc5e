/**
 * /accounts routes: balance and ledger entries. With Stripe as the provider there is no
 * ledger: the account is a Stripe customer, and this service keeps no balance to show.
 */
import type { FastifyPluginAsyncJsonSchemaToTs } from '@fastify/type-provider-json-schema-to-ts';
import { ErrorCode, PaymentError } from '../domain/errors';
import type { Ledger } from '../ledger/ledger';
import { account, accountIdParams, accountQuery, commonErrors, errorRef } from './schemas';

export const accountRoutes: FastifyPluginAsyncJsonSchemaToTs<{ Options: { ledger: Ledger | undefined } }> = async (app, { ledger }) => {
  app.get(
    '/accounts/:accountId',
    {
      schema: {
        summary: "The account's balance and its entries, newest first",
        params: accountIdParams,
        querystring: accountQuery,
        response: { 200: account, 501: errorRef, ...commonErrors },
      },
    },
    async (request) => {
      if (!ledger) {
        throw new PaymentError(
          ErrorCode.AccountAtProvider,
          `account ${request.params.accountId} is a Stripe customer: ` +
            'its balance and payments are at Stripe (PAYMENT_PROVIDER=stripe), not in this service',
        );
      }
      return ledger.account(request.params.accountId, request.query.limit);
    },
  );
};
