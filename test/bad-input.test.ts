/**
 * Malformed requests of every kind, against the real gateway with a real worker and dev
 * server: each is answered 4xx with a message that names the problem, and afterwards the
 * ledger holds nothing and no payment exists.
 */
import { Client, Connection } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { type Gateway, call, startGateway } from './helpers/gateway';
import { devServerEnv } from './helpers/servers';
import { type Stack, startStack } from './helpers/stack';

let env: TestWorkflowEnvironment;
let stack: Stack & { stop: () => Promise<void> };
let gateway: Gateway;

beforeAll(async () => {
  env = await devServerEnv();
  stack = await startStack(env);
  gateway = await startGateway({ client: env.client, ledger: stack.ledger, taskQueue: stack.taskQueue, expiryMs: 3_600_000 });
});
afterAll(async () => {
  await gateway?.app.close();
  await stack?.stop();
  await env?.teardown();
});

const JSON_TYPE = 'application/json';
const good = { accountId: 'abc', amount: 100 };
const body = (value: unknown) => JSON.stringify(value);

interface Case {
  name: string;
  method?: string;
  path?: string;
  body?: string;
  contentType?: string;
  status?: number;
  code?: string;
  /** Words the message must contain, naming the problem. */
  says: RegExp;
}

const makePayment = '/payments/bad/makePayment';
const cases: Case[] = [
  // amount
  { name: 'amount 0', body: body({ ...good, amount: 0 }), says: /amount/ },
  { name: 'amount negative', body: body({ ...good, amount: -5 }), says: /amount/ },
  { name: 'amount fractional', body: body({ ...good, amount: 10.5 }), says: /amount.*integer/ },
  { name: 'amount as a string', body: body({ ...good, amount: '100' }), says: /amount.*integer/ },
  { name: 'amount over 10^12', body: body({ ...good, amount: 1e12 + 1 }), says: /amount/ },
  { name: 'amount null', body: body({ ...good, amount: null }), says: /amount/ },
  { name: 'amount boolean', body: body({ ...good, amount: true }), says: /amount/ },
  { name: 'amount an object', body: body({ ...good, amount: { value: 1 } }), says: /amount/ },
  { name: 'amount missing', body: body({ accountId: 'abc' }), says: /amount is required/ },
  // accountId
  { name: 'accountId missing', body: body({ amount: 1 }), says: /accountId is required/ },
  { name: 'accountId empty', body: body({ ...good, accountId: '' }), says: /accountId/ },
  { name: 'accountId 201 characters', body: body({ ...good, accountId: 'a'.repeat(201) }), says: /accountId/ },
  { name: 'accountId with a space', body: body({ ...good, accountId: 'a b' }), says: /accountId/ },
  { name: 'accountId unicode', body: body({ ...good, accountId: 'ünïcødé' }), says: /accountId/ },
  { name: 'accountId a number', body: body({ ...good, accountId: 123 }), says: /accountId/ },
  { name: 'accountId with a slash', body: body({ ...good, accountId: '../x' }), says: /accountId/ },
  // body shape
  { name: 'an extra field', body: body({ ...good, currency: 'EUR' }), says: /currency is not an accepted field/ },
  { name: 'body an array', body: body([good]), says: /body/ },
  { name: 'body a string', body: body('pay me'), says: /body/ },
  { name: 'body null', body: 'null', says: /body/ },
  { name: 'body a number', body: '42', says: /body/ },
  { name: 'malformed JSON', body: '{"accountId": "abc", "amount": ', says: /JSON/ },
  { name: 'JSON with a trailing comma', body: '{"accountId": "abc", "amount": 100,}', says: /JSON/ },
  { name: 'empty body', body: '', says: /empty|body/ },
  { name: 'prototype pollution', body: '{"accountId": "abc", "amount": 100, "__proto__": {"admin": true}}', says: /body|JSON|proto/i },
  { name: 'body over 16 KiB', body: body({ ...good, pad: 'x'.repeat(17 * 1024) }), says: /16 KiB/ },
  // content-type
  { name: 'text/plain', contentType: 'text/plain', body: body(good), says: /content-type/ },
  { name: 'form-encoded', contentType: 'application/x-www-form-urlencoded', body: 'accountId=abc&amount=100', says: /content-type/ },
  { name: 'no content-type', contentType: undefined, body: body(good), says: /content-type|body/ },
  // payment-id in the path
  { name: 'payment-id with a space', path: '/payments/a%20b/makePayment', body: body(good), says: /params\.id/ },
  { name: 'payment-id unicode', path: '/payments/%C3%BC/makePayment', body: body(good), says: /params\.id/ },
  { name: 'payment-id of 201 characters', path: `/payments/${'p'.repeat(201)}/makePayment`, body: body(good), says: /params\.id/ },
  { name: 'payment-id with an encoded slash', path: '/payments/a%2Fb/makePayment', body: body(good), says: /params\.id/ },
  { name: 'payment-id climbing up', path: '/payments/..%2F..%2Fetc/makePayment', body: body(good), says: /params\.id/ },
  { name: 'payment-id with a NUL', path: '/payments/a%00b/makePayment', body: body(good), says: /params\.id/ },
  {
    name: 'cancel with a bad payment-id',
    method: 'POST',
    path: '/payments/%3Cscript%3E/cancelPayment',
    contentType: undefined,
    body: undefined,
    says: /params\.id/,
  },
  {
    name: 'read with a bad payment-id',
    method: 'GET',
    path: '/payments/a%20b',
    contentType: undefined,
    body: undefined,
    says: /params\.id/,
  },
  // accounts
  {
    name: 'account with a bad id',
    method: 'GET',
    path: '/accounts/a%20b',
    contentType: undefined,
    body: undefined,
    says: /params\.accountId/,
  },
  { name: 'account limit 0', method: 'GET', path: '/accounts/abc?limit=0', contentType: undefined, body: undefined, says: /limit/ },
  { name: 'account limit text', method: 'GET', path: '/accounts/abc?limit=ten', contentType: undefined, body: undefined, says: /limit/ },
  {
    name: 'account limit too large',
    method: 'GET',
    path: '/accounts/abc?limit=100000',
    contentType: undefined,
    body: undefined,
    says: /limit/,
  },
  {
    name: 'account unknown query parameter',
    method: 'GET',
    path: '/accounts/abc?sort=asc',
    contentType: undefined,
    body: undefined,
    says: /sort/,
  },
  // routes
  {
    name: 'unknown operation',
    path: '/payments/bad/refundPayment',
    body: body(good),
    status: 404,
    code: 'not_found',
    says: /refundPayment/,
  },
  {
    name: 'wrong method',
    method: 'GET',
    path: '/payments/bad/makePayment',
    contentType: undefined,
    body: undefined,
    status: 404,
    code: 'not_found',
    says: /GET/,
  },
];

test(`there are at least 30 malformed requests (${cases.length})`, () => {
  expect(cases.length).toBeGreaterThanOrEqual(30);
});

test.each(cases)('$name', async (c) => {
  const answer = await call(gateway.url, c.method ?? 'POST', c.path ?? makePayment, {
    body: c.body,
    contentType: 'contentType' in c ? c.contentType : JSON_TYPE,
  });
  expect({ status: answer.status, code: answer.body?.error?.code }).toEqual({ status: c.status ?? 400, code: c.code ?? 'invalid_request' });
  expect(answer.body.error.message).toMatch(c.says);
  expect(JSON.stringify(answer.body)).not.toMatch(/\bat .+\.(ts|js):\d+/); // no stack traces
});

test('afterwards: nothing charged, no account opened, no payment created', async () => {
  expect((await stack.ledger.account('abc')).entries).toEqual([]);
  expect((await call(gateway.url, 'GET', '/payments/bad')).status).toBe(404);
  const connection = await Connection.connect({ address: env.address });
  const open = await new Client({ connection }).workflow.count(`TaskQueue = "${stack.taskQueue}"`);
  await connection.close();
  expect(open.count).toBe(0);
});
