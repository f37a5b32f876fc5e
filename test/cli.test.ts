/**
 * The `temporal` CLI drives the same workflow as the gateway: start with the payment as
 * JSON input pays, a cancelPayment signal cancels, a getPayment query shows the state.
 * These are the README's commands, run with the installed binary against the dev server,
 * reading the encrypted payloads through the gateway's codec endpoint.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { PAYMENT_WORKFLOW, type PaymentView, cancelPaymentSignal, getPaymentQuery, workflowIdFor } from '../src/domain/contract';
import { TEMPORAL_CLI } from '../tools/paths';
import { eventually } from './helpers/eventually';
import { devServerEnv } from './helpers/servers';
import { startGateway } from './helpers/gateway';
import { HOUR, OPENING_BALANCE, type Stack, type StackOptions, entryKinds, withStack } from './helpers/stack';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await devServerEnv();
});
afterAll(async () => {
  await env?.teardown();
});

/** The gateway whose codec endpoint the CLI is given. */
let codecEndpoint: string;

async function temporal(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(TEMPORAL_CLI, [
    ...args,
    '--address',
    env.address,
    '--codec-endpoint',
    codecEndpoint,
    '--color',
    'never',
  ]);
  return stdout;
}

async function queryView(workflowId: string): Promise<PaymentView> {
  const out = await temporal('workflow', 'query', '--workflow-id', workflowId, '--name', getPaymentQuery.name, '--output', 'json');
  return JSON.parse(out).queryResult[0] as PaymentView;
}

/** Runs `body` with a worker and a gateway, the CLI reading payloads through the gateway's /codec. */
function withCli<T>(options: StackOptions, body: (stack: Stack) => Promise<T>): Promise<T> {
  return withStack(env, options, async (stack) => {
    const gateway = await startGateway({ client: env.client, ledger: stack.ledger, taskQueue: stack.taskQueue, expiryMs: HOUR });
    codecEndpoint = `${gateway.url}/codec`;
    try {
      return await body(stack);
    } finally {
      await gateway.app.close();
    }
  });
}

/** `temporal workflow start` of a payment, as the README shows it (without its reuse policy and task timeout). */
function startArgs(taskQueue: string, workflowId: string, input: string): string[] {
  return ['workflow', 'start', '--type', PAYMENT_WORKFLOW, '--task-queue', taskQueue, '--workflow-id', workflowId, '--input', input];
}

function until(workflowId: string, done: (view: PaymentView) => boolean): Promise<PaymentView> {
  return eventually(`${workflowId} settled`, async () => {
    const view = await queryView(workflowId);
    return done(view) ? view : undefined;
  });
}

test('start pays, signal cancels and refunds, query shows each state', () =>
  withCli({}, async ({ ledger, taskQueue }) => {
    const workflowId = workflowIdFor('cli-payment');
    await temporal(
      'workflow',
      'start',
      '--type',
      PAYMENT_WORKFLOW,
      '--task-queue',
      taskQueue,
      '--workflow-id',
      workflowId,
      '--id-reuse-policy',
      'RejectDuplicate',
      '--input',
      '{"accountId": "abc", "amount": 100, "version": 2}',
    );
    expect(await until(workflowId, (v) => v.status === 'COMPLETED')).toMatchObject({
      paymentId: 'cli-payment',
      accountId: 'abc',
      amount: 100,
      refunded: false,
    });
    expect((await ledger.account('abc')).balance).toBe(OPENING_BALANCE - 100);

    await temporal('workflow', 'signal', '--workflow-id', workflowId, '--name', cancelPaymentSignal.name);
    expect(await until(workflowId, (v) => v.status === 'CANCELLED')).toMatchObject({ refunded: true });
    expect(await entryKinds(ledger, 'cli-payment')).toEqual(['charge', 'refund']);

    const described = await temporal('workflow', 'describe', '--workflow-id', workflowId, '--output', 'json');
    expect(JSON.parse(described).workflowExecutionInfo.type.name).toBe(PAYMENT_WORKFLOW);
    // The history in clear through the codec: the charge's input names the account.
    const shown = await temporal('workflow', 'show', '--workflow-id', workflowId, '--output', 'json');
    const payloads: { encoding: string; data: string }[] = [];
    JSON.parse(shown, (key, value: unknown) => {
      const payload = value as { metadata?: { encoding?: string }; data?: string };
      if (payload?.metadata?.encoding !== undefined && key !== 'header') {
        payloads.push({
          encoding: Buffer.from(payload.metadata.encoding, 'base64').toString(),
          data: Buffer.from(payload.data ?? '', 'base64').toString(),
        });
      }
      return value;
    });
    expect(payloads.filter(({ encoding }) => encoding !== 'json/plain')).toEqual([]);
    expect(payloads.some(({ data }) => data.includes('"accountId":"abc"'))).toBe(true);
  }));

test('a second start of the same payment-id gets the running payment back, not a second run', () =>
  withCli({}, async ({ ledger, taskQueue }) => {
    const workflowId = workflowIdFor('cli-twice');
    const args = startArgs(taskQueue, workflowId, '{"accountId": "abc", "amount": 5}');
    const runId = (out: string) => out.match(/RunId\s+(\S+)/)?.[1];
    const first = runId(await temporal(...args));
    await until(workflowId, (v) => v.status === 'COMPLETED');
    expect(runId(await temporal(...args))).toBe(first);
    expect(await entryKinds(ledger, 'cli-twice')).toEqual(['charge']);
  }));

test("a payment started without a window gets the worker's PAYMENT_EXPIRY, as the gateway's do", () =>
  withCli({ expiryMs: 2 * HOUR }, async ({ taskQueue }) => {
    const workflowId = workflowIdFor('cli-window');
    await temporal(...startArgs(taskQueue, workflowId, '{"accountId": "abc", "amount": 7, "version": 2}'));
    const view = await until(workflowId, (v) => v.status === 'COMPLETED');
    const { startTime } = await env.client.workflow.getHandle(workflowId).describe();
    expect(Date.parse(view.expiresAt) - startTime.getTime()).toBe(2 * HOUR);
  }));
