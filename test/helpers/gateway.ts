/** The real gateway, listening on a free port of 127.0.0.1. */
import type { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { FastifyInstance } from 'fastify';
import { gatewayApp } from '../../src/api';
import type { AppDeps } from '../../src/http/app';
import type { HttpTimeouts } from '../../src/http/server';
import type { Ledger, PaymentRecords } from '../../src/ledger/ledger';
import { testCodec } from './servers';
import { HOUR, type Stack, withStack } from './stack';

export interface Gateway {
  app: FastifyInstance;
  url: string;
}

export interface GatewayOptions {
  client: Client;
  /** The accounts' ledger; undefined when Stripe moves the money. */
  ledger: Ledger | undefined;
  /** Where closed payments' records are read: the ledger's database unless given. */
  records?: PaymentRecords;
  taskQueue: string;
  expiryMs: number;
  requestTimeoutMs?: number;
  timeouts?: Partial<HttpTimeouts>;
  logger?: AppDeps['logger'];
  /** AUTH=off and no browser origins unless given. */
  access?: AppDeps['access'];
  /** No limit unless given. */
  rateLimit?: AppDeps['rateLimit'];
  /** The run's payload keys, and no browser origin, unless given. */
  codec?: AppDeps['codec'];
  /** A registry of its own unless given: given, an admin app (buildAdminApp) can show the same counts. */
  metrics?: AppDeps['metrics'];
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const records = options.records ?? options.ledger;
  if (!records) throw new Error('a gateway needs the database of payment records');
  const app = await gatewayApp({
    ...options,
    records,
    requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
    logger: options.logger ?? false,
    codec: options.codec ?? { codec: testCodec(), origins: [] },
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as { port: number };
  return { app, url: `http://127.0.0.1:${port}` };
}

/** Runs `body` against a gateway over a fresh stack on the environment, with the options made for that stack (an hour's window unless given). */
export async function withGateway<T>(
  env: TestWorkflowEnvironment,
  options: (stack: Stack) => Partial<GatewayOptions>,
  body: (gateway: Gateway, stack: Stack) => Promise<T>,
): Promise<T> {
  return withStack(env, {}, async (stack) => {
    const gateway = await startGateway({
      client: env.client,
      ledger: stack.ledger,
      taskQueue: stack.taskQueue,
      expiryMs: HOUR,
      ...options(stack),
    });
    try {
      return await body(gateway, stack);
    } finally {
      await gateway.app.close();
    }
  });
}

export interface Answer {
  status: number;
  headers: Headers;
  body: any;
}

/** A request as a client sends it; the answer's JSON body parsed. */
export async function call(
  url: string,
  method: string,
  path: string,
  init: { body?: string; contentType?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.contentType) headers['content-type'] = init.contentType;
  const response = await fetch(url + path, { method, headers, body: init.body });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: left as text for the assertion to show
  }
  return { status: response.status, headers: response.headers, body };
}

export function pay(url: string, paymentId: string, payment: unknown): Promise<Answer> {
  return call(url, 'POST', `/payments/${paymentId}/makePayment`, { body: JSON.stringify(payment), contentType: 'application/json' });
}

export function cancel(url: string, paymentId: string): Promise<Answer> {
  return call(url, 'POST', `/payments/${paymentId}/cancelPayment`);
}
