/**
 * /accounts routes: balance and ledger entries. With Stripe as the provider there is no
 * ledger: the account is a Stripe customer, and this service keeps no balance to show.
 */
import type { FastifyPluginAsyncJsonSchemaToTs } from '@fastify/type-provider-json-schema-to-ts';
import { ErrorCode, PaymentError } from '../domain/errors';
import { scopedId, unscopedId } from '../domain/tenancy';
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
      const { tenant } = request.caller;
      const { balance, entries } = await ledger.account(scopedId(tenant, request.params.accountId), request.query.limit);
      // The ledger names payments service-wide; the caller is shown its own ids.
      return {
        accountId: request.params.accountId,
        balance,
        entries: entries.map(({ paymentId, kind, amount, keyId, at }) => ({
          paymentId: unscopedId(paymentId).id,
          kind,
          amount,
          keyId,
          at,
        })),
      };
    },
  );
};
