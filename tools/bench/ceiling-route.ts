/** POST /bench/ceiling/:id, served only by the bench gateway (gateway.ts here): Temporal's ceiling for `npm run bench`. */
import { type Client, WithStartWorkflowOperation } from '@temporalio/client';
import type { FastifyPluginAsyncJsonSchemaToTs } from '@fastify/type-provider-json-schema-to-ts';
import { commonErrors, paymentIdParams } from '../../src/http/schemas';
import { CEILING_WORKFLOW, ceilingUpdate } from './ceiling';

export interface BenchDeps {
  client: Client;
  taskQueue: string;
}

export const ceilingRoute: FastifyPluginAsyncJsonSchemaToTs<{ Options: BenchDeps }> = async (app, { client, taskQueue }) => {
  app.post(
    '/bench/ceiling/:id',
    {
      schema: {
        summary: 'Benchmark only: update-with-start of a workflow that runs one no-op activity',
        params: paymentIdParams,
        response: {
          200: { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'], additionalProperties: false },
          ...commonErrors,
        },
      },
    },
    async (request) =>
      client.workflow.executeUpdateWithStart(ceilingUpdate, {
        startWorkflowOperation: new WithStartWorkflowOperation(CEILING_WORKFLOW, {
          workflowId: `ceiling:${request.params.id}`,
          taskQueue,
          workflowIdConflictPolicy: 'USE_EXISTING',
        }),
      }),
  );
};
