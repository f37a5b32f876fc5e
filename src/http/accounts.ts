/** /accounts routes: balance and ledger entries. */
import type { FastifyPluginAsync } from 'fastify';
import type { Ledger } from '../ledger/ledger';
import { account, accountIdParams, accountQuery, commonErrors } from './schemas';

export const accountRoutes: FastifyPluginAsync<{ ledger: Ledger }> = async (app, { ledger }) => {
  app.get<{ Params: { accountId: string }; Querystring: { limit: number } }>(
    '/accounts/:accountId',
    {
      schema: {
        summary: "The account's balance and its entries, newest first",
        params: accountIdParams,
        querystring: accountQuery,
        response: { 200: account, ...commonErrors },
      },
    },
    async (request) => ledger.account(request.params.accountId, request.query.limit),
  );
};
