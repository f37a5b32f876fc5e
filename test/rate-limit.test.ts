/**
 * The rate limit per API key on the real gateway with AUTH=keys, over a worker and the dev
 * server. The window is an hour here, so that which requests of a burst pass does not depend
 * on how fast this machine sends them: exactly the limit's worth are answered, each charged
 * once, and every other one is refused with 429 `rate_limited` and Retry-After, having started
 * nothing. Another key, the probes, metrics and docs, and AUTH=off are not limited. A gateway
 * made from the configuration counts RATE_LIMIT per second, and says so on every keyed answer.
 */
import { newKey } from '../src/access/keys';
import { createGateway } from '../src/api';
import { loadConfig } from '../src/config';
import type { ApiKeys } from '../src/ledger/ledger';
import { openLedger } from '../src/ledger/open';
import { type Answer, call, withGateway } from './helpers/gateway';
import { temporalKnows } from './helpers/retention';
import { devServerPerFile, tempDir } from './helpers/servers';
import { HOUR, entryKinds } from './helpers/stack';

jest.setTimeout(120_000);

const devServer = devServerPerFile();

const LIMIT = 5;
const BURST = 30;
const payment = JSON.stringify({ accountId: 'acct', amount: 100 });

/** The Authorization header of a new write key of the tenant default. */
async function writeKey(keys: ApiKeys): Promise<Record<string, string>> {
  const made = newKey();
  await keys.createKey({ id: made.id, tenant: 'default', scope: 'write', name: null, secretHash: made.secretHash });
  return { authorization: `Bearer ${made.key}` };
}

const pay = (url: string, id: string, headers: Record<string, string> = {}): Promise<Answer> =>
  call(url, 'POST', `/payments/${id}/makePayment`, { headers, body: payment, contentType: 'application/json' });

test("a key's burst over the limit: the limit's worth charged once each, the rest refused with rate_limited, nothing started", () =>
  // Over an hour, so that which requests pass does not depend on how fast they are sent.
  withGateway(
    devServer.env,
    ({ ledger }) => ({ access: { mode: 'keys', keys: ledger, allowedOrigins: [] }, rateLimit: { max: LIMIT, windowMs: HOUR } }),
    async (gateway, { ledger }) => {
      const first = await writeKey(ledger);
      const second = await writeKey(ledger);
      const ids = Array.from({ length: BURST }, (_, i) => `burst-${i}`);
      const answers = await Promise.all(ids.map((id) => pay(gateway.url, id, first)));
      expect(answers.map((answer) => answer.status).sort((a, b) => a - b)).toEqual([
        ...Array<number>(LIMIT).fill(200),
        ...Array<number>(BURST - LIMIT).fill(429),
      ]);
      for (const [i, answer] of answers.entries()) {
        const id = ids[i]!;
        if (answer.status === 200) {
          expect({ id, body: answer.body, charges: await entryKinds(ledger, id) }).toEqual({
            id,
            body: { paymentId: id, status: 'COMPLETED', accountId: 'acct', amount: 100, replayed: false },
            charges: ['charge'],
          });
        } else {
          const retryAfter = Number(answer.headers.get('retry-after'));
          expect({ id, body: answer.body, retryAfterWithinTheWindow: retryAfter >= 1 && retryAfter <= HOUR / 1000 }).toEqual({
            id,
            body: { error: { code: 'rate_limited', message: expect.stringContaining(`more than ${LIMIT} requests`) } },
            retryAfterWithinTheWindow: true,
          });
          expect({ id, entries: await ledger.entriesOf(id), started: await temporalKnows(devServer.env, id) }).toEqual({
            id,
            entries: [],
            started: false,
          });
        }
      }

      // Reads count too, and the key stays refused for the rest of its window.
      expect(await call(gateway.url, 'GET', `/payments/${ids[0]}`, { headers: first })).toMatchObject({
        status: 429,
        body: { error: { code: 'rate_limited' } },
      });
      // Another key is counted on its own.
      expect(await pay(gateway.url, 'second-1', second)).toMatchObject({ status: 200, body: { status: 'COMPLETED' } });
      expect(await entryKinds(ledger, 'second-1')).toEqual(['charge']);
      // The probes, metrics and docs need no key, and are not counted, more of them than the limit, even with one.
      for (const route of ['/healthz', '/readyz', '/metrics', '/docs/json']) {
        for (let i = 0; i <= LIMIT; i++) {
          expect({ route, status: (await call(gateway.url, 'GET', route, { headers: first })).status }).toEqual({ route, status: 200 });
        }
      }
      const metrics = (await call(gateway.url, 'GET', '/metrics')).body as string;
      expect(metrics).toContain(`http_requests_total{method="POST",route="/payments/:id/makePayment",status="429"} ${BURST - LIMIT}`);
    },
  ));

test('with AUTH=off nothing is limited', () =>
  withGateway(
    devServer.env,
    () => ({ access: { mode: 'off', allowedOrigins: [] }, rateLimit: { max: 2, windowMs: HOUR } }),
    async (gateway, { ledger }) => {
      const ids = Array.from({ length: 10 }, (_, i) => `open-${i}`);
      const answers = await Promise.all(ids.map((id) => pay(gateway.url, id)));
      expect(answers.map((answer) => answer.status)).toEqual(ids.map(() => 200));
      expect(answers.map((answer) => answer.headers.get('x-ratelimit-limit'))).toEqual(ids.map(() => null));
      for (const id of ids) expect({ id, charges: await entryKinds(ledger, id) }).toEqual({ id, charges: ['charge'] });
    },
  ));

test("the gateway made from the configuration counts RATE_LIMIT a key's requests a second, and counts none with off", async () => {
  const settings = {
    AUTH: 'keys',
    DATA_DIR: tempDir('rate-limit'),
    TEMPORAL_ADDRESS: devServer.env.address,
    PORT: '0',
    LOG_LEVEL: 'silent',
  };
  const keys = await openLedger(loadConfig(settings));
  try {
    const caller = await writeKey(keys);
    for (const [limit, header] of [
      ['7', { limit: '7', reset: '1' }],
      ['off', { limit: null, reset: null }],
    ] as const) {
      const gateway = await createGateway(loadConfig({ ...settings, RATE_LIMIT: limit }));
      try {
        const { url } = await gateway.listen();
        const answer = await call(url, 'GET', '/accounts/acct', { headers: caller });
        expect({ limit, status: answer.status }).toEqual({ limit, status: 200 });
        expect({
          limit,
          header: { limit: answer.headers.get('x-ratelimit-limit'), reset: answer.headers.get('x-ratelimit-reset') },
        }).toEqual({
          limit,
          header,
        });
      } finally {
        await gateway.close();
      }
    }
  } finally {
    await keys.close();
  }
});
