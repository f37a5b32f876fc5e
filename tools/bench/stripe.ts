/**
 * `npm run bench:stripe`: what a payment costs at Stripe. The stack (dev server, a worker with
 * PAYMENT_PROVIDER=stripe, the gateway) runs against stripe-mock behind the tests' recording
 * proxy, which counts every request that reaches "Stripe". Reports payments per second next to
 * Stripe requests per payment for fresh payments, and the requests a replay, a refund, a
 * decline and a rate-limited charge cost. Measured, not asserted (docs/stripe-budget.md).
 *
 *   npm run bench:stripe -- --clients 1,8 --seconds 10 --customers 50
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { freePort } from '../../src/net';
import { RecordingProxy, cardDecline, rateLimitedFor, startStripeMock } from '../../test/helpers/stripe-mock';
import { LocalStack } from '../stack';
import { type Target, drive } from './load';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '1,8' },
    seconds: { type: 'string', default: '10' },
    customers: { type: 'string', default: '50' },
  },
});
const clientSteps = values.clients!.split(',').filter(Boolean).map(Number);
const seconds = Number(values.seconds);
const customers = Number(values.customers);

const say = (line = '') => process.stdout.write(`${line}\n`);
const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : '-');
const run = randomUUID().slice(0, 8);
let counter = 0;
const next = () => counter++;
const paymentId = (n: number) => `sb-${run}-${n}`;
const body = (n: number) => `{"accountId":"cus_bench${n % customers}","amount":100}`;
const payTarget: Target = { path: (n) => `/payments/${paymentId(n)}/makePayment`, body };

async function post(apiUrl: string, path: string, json?: string): Promise<number> {
  const response = await fetch(apiUrl + path, {
    method: 'POST',
    ...(json && { headers: { 'content-type': 'application/json' }, body: json }),
  });
  await response.body?.cancel();
  return response.status;
}

/** Requests the proxy saw while `body` ran, by kind. */
async function counted<T>(
  proxy: RecordingProxy,
  body: () => Promise<T>,
): Promise<{ result: T; total: number; byKind: Record<string, number> }> {
  const before = proxy.requests.length;
  const result = await body();
  const made = proxy.requests.slice(before);
  const byKind: Record<string, number> = {};
  for (const r of made) {
    const kind = `${r.method} ${r.path.replace(/\/(cus|pi)_[A-Za-z0-9]+/, '/:id')}${r.status === 200 ? '' : ` ${r.status}`}`;
    byKind[kind] = (byKind[kind] ?? 0) + 1;
  }
  return { result, total: made.length, byKind };
}

const kinds = (byKind: Record<string, number>, per: number) =>
  Object.entries(byKind)
    .map(([kind, n]) => `${kind} ${fmt(n / per)}`)
    .join(', ');

async function main(): Promise<void> {
  say(`bench:stripe: ${os.cpus().length} cores, Node ${process.version}; ${customers} customers, ${seconds} s per step`);
  const mock = await startStripeMock();
  const proxy = await new RecordingProxy(mock.url).start();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'payments-bench-stripe-'));
  const metricsAddress = `127.0.0.1:${await freePort()}`;
  const stack = new LocalStack({
    dir,
    openingBalance: 100_000,
    workers: 1,
    env: {
      PAYMENT_PROVIDER: 'stripe',
      STRIPE_API_KEY: 'sk_test_123',
      STRIPE_API_BASE: proxy.url,
      LOG_LEVEL: 'error',
      WORKER_METRICS_ADDRESS: metricsAddress,
    },
  });
  try {
    await stack.start();
    const api = stack.apiUrl;
    say('warming up (each customer charged once: its payment method read)...');
    const warm = await counted(proxy, async () => {
      for (let i = 0; i < customers; i++) {
        const n = next();
        await post(api, `/payments/${paymentId(n)}/makePayment`, body(n));
      }
    });
    say(`  ${customers} payments, ${fmt(warm.total / customers)} Stripe requests each (${kinds(warm.byKind, customers)})`);

    say();
    say('fresh payments      clients  payments/s   p50 ms   p99 ms  errors  Stripe req/payment  (by request)');
    for (const clients of clientSteps) {
      const { result, total, byKind } = await counted(proxy, () => drive(api, payTarget, clients, seconds, next));
      const per = Math.max(1, result.ok);
      say(
        `${''.padEnd(19)} ${String(clients).padStart(7)} ${fmt(result.perSecond, 1).padStart(11)} ` +
          `${fmt(result.p50, 1).padStart(8)} ${fmt(result.p99, 1).padStart(8)} ${String(result.errors).padStart(7)} ` +
          `${fmt(total / per).padStart(19)}  (${kinds(byKind, per)})`,
      );
    }

    // The same requests again, settled: answered by Temporal (or the record), not Stripe.
    const paid = Array.from({ length: 100 }, (_, i) => counter - 1 - i * 3);
    const replay = await counted(proxy, async () => {
      for (const n of paid) await post(api, `/payments/${paymentId(n)}/makePayment`, body(n));
    });
    const refund = await counted(proxy, async () => {
      for (const n of paid) await post(api, `/payments/${paymentId(n)}/cancelPayment`);
    });
    const declines = 20;
    proxy.answer(
      'POST',
      '/v1/payment_intents',
      ...Array.from({ length: declines }, () => cardDecline('insufficient_funds', 'Your card has insufficient funds.')),
    );
    const declined = await counted(proxy, async () => {
      for (let i = 0; i < declines; i++) {
        const n = next();
        await post(api, `/payments/${paymentId(n)}/makePayment`, body(n));
      }
    });
    const limited = 10;
    const rateLimited = await counted(proxy, async () => {
      for (let i = 0; i < limited; i++) {
        // One payment at a time, so that each one's first create meets the 429.
        proxy.answer('POST', '/v1/payment_intents', rateLimitedFor(1));
        const n = next();
        await post(api, `/payments/${paymentId(n)}/makePayment`, body(n));
      }
    });
    const metrics = await (await fetch(`http://${metricsAddress}/metrics`)).text();
    const counter429 = metrics
      .split('\n')
      .filter((line) => line.startsWith('payments_provider_rate_limited'))
      .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);

    say();
    say(`replay of a charged payment (100):   ${fmt(replay.total / paid.length)} Stripe requests each`);
    say(`refund (cancel of a charged one, 100): ${fmt(refund.total / paid.length)} each (${kinds(refund.byKind, paid.length)})`);
    say(`decline (${declines}, one customer's card each): ${fmt(declined.total / declines)} each (${kinds(declined.byKind, declines)})`);
    say(
      `a charge rate-limited once, Retry-After: 1 (${limited}): ` +
        `${fmt(rateLimited.total / limited)} each (${kinds(rateLimited.byKind, limited)})`,
    );
    say(`worker metric payments_provider_rate_limited: ${counter429}`);
  } finally {
    await stack.stop();
    await proxy.stop();
    await mock.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`bench:stripe failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
