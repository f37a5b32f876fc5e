/**
 * Clients as a real payments integration behaves: each sends makePayment or cancelPayment
 * for a small pool of payment-ids (so they collide), and retries the same request with
 * backoff on network errors and 5xx (honouring Retry-After) until it gets a definitive answer.
 */
import { scopedId } from '../../src/domain/tenancy';
import type { Answer, RequestRecord } from './checker';
import { type Random, between, pick, seeded } from './random';

export interface LoadSettings {
  /** The gateway a client sends an attempt to (0 for the first, 1 for the first retry...). */
  url: (client: number, attempt: number) => string;
  clients: number;
  paymentIds: number;
  accounts: number;
  seed: number;
  /** Stop starting new requests at this time (ms epoch). */
  until: number;
  /** Give up retrying a request at this time. */
  giveUpAt: () => number;
}

export interface PaymentSpec {
  /** The tenant whose payment this is; its ids below are the tenant's own. */
  tenant: string;
  paymentId: string;
  accountId: string;
  amount: number;
  /** Half the pool is never cancelled, so that some payments must stay charged to the end. */
  cancellable: boolean;
  /** The tenant's API key, sent with every request; none with AUTH=off. */
  key?: string;
}

/** The payment-id as the service names it, which the record and the checker go by. */
export function serviceId(spec: Pick<PaymentSpec, 'tenant' | 'paymentId'>): string {
  return scopedId(spec.tenant, spec.paymentId);
}

/**
 * The pool: each payment-id always carries the same account and amount, as a real client's
 * would. Every tenant uses the same payment-ids and account-ids, each with amounts of its own,
 * so that a request reaching another tenant's payment would be answered as a different one.
 */
export function paymentPool(
  settings: Pick<LoadSettings, 'paymentIds' | 'accounts' | 'seed'>,
  tenants: { tenant: string; key?: string }[],
): PaymentSpec[] {
  return tenants.flatMap(({ tenant, key }, t) => {
    const random = seeded(settings.seed + t);
    return Array.from({ length: settings.paymentIds }, (_, i) => ({
      tenant,
      paymentId: `chaos-${settings.seed}-${i}`,
      accountId: `acct-${i % settings.accounts}`,
      amount: 100 + Math.floor(random() * 400),
      cancellable: i % 2 === 0,
      ...(key && { key }),
    }));
  });
}

/** The headers that carry the spec's key, if it has one. */
export function authorization(spec: Pick<PaymentSpec, 'key'>): Record<string, string> {
  return spec.key ? { authorization: `Bearer ${spec.key}` } : {};
}

const ATTEMPT_TIMEOUT_MS = 30_000;
/** Of requests for a cancellable payment-id, the share that cancel. */
const CANCEL_SHARE = 0.3;

/** One HTTP attempt: the answer, or undefined when none came. */
async function attempt(url: string, spec: PaymentSpec, op: RequestRecord['op']): Promise<{ answer?: Answer; retryAfterMs?: number }> {
  try {
    const response = await fetch(`${url}/payments/${spec.paymentId}/${op}`, {
      method: 'POST',
      headers: { ...authorization(spec), ...(op === 'makePayment' && { 'content-type': 'application/json' }) },
      ...(op === 'makePayment' && { body: JSON.stringify({ accountId: spec.accountId, amount: spec.amount }) }),
      signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
    });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // a non-JSON answer is kept as text, and will show in the report
    }
    const retryAfter = Number(response.headers.get('retry-after'));
    return { answer: { status: response.status, body }, retryAfterMs: retryAfter > 0 ? retryAfter * 1000 : undefined };
  } catch {
    return {};
  }
}

/** Sends one request until it gets a definitive answer or the run gives up on it, as a real integration retries. */
export async function send(
  url: (attempt: number) => string,
  spec: PaymentSpec,
  op: RequestRecord['op'],
  client: number,
  giveUpAt: () => number,
  random: Random,
): Promise<RequestRecord> {
  const record: RequestRecord = {
    client,
    op,
    paymentId: serviceId(spec),
    ...(op === 'makePayment' ? { body: { accountId: spec.accountId, amount: spec.amount } } : {}),
    startedAt: Date.now(),
    attempts: [],
  };
  for (let n = 0; ; n++) {
    const { answer, retryAfterMs } = await attempt(url(n), spec, op);
    record.attempts.push({ at: Date.now(), outcome: answer?.status ?? 'network' });
    // 202 (still in flight at the gateway's deadline) and 429 (Temporal's limits) say: ask again later.
    if (answer && answer.status < 500 && answer.status !== 202 && answer.status !== 429) {
      record.answer = answer;
      return record;
    }
    if (Date.now() > giveUpAt()) return record;
    const backoff = Math.min(2000, 100 * 2 ** n) * between(random, 0.5, 1);
    await new Promise((resolve) => setTimeout(resolve, Math.max(backoff, retryAfterMs ?? 0)));
  }
}

/** Runs every client until `until`; resolves with every request each one made. */
export async function runClients(settings: LoadSettings, pool: PaymentSpec[]): Promise<RequestRecord[]> {
  const records: RequestRecord[] = [];
  await Promise.all(
    Array.from({ length: settings.clients }, async (_, client) => {
      // Each client decides from its own generator, so a seed replays the same decisions whatever the timing.
      const random = seeded(settings.seed * 1000 + client + 1);
      while (Date.now() < settings.until) {
        const spec = pick(random, pool);
        const op = random() < CANCEL_SHARE && spec.cancellable ? 'cancelPayment' : 'makePayment';
        records.push(await send((n) => settings.url(client, n), spec, op, client, settings.giveUpAt, random));
        await new Promise((resolve) => setTimeout(resolve, between(random, 0, 50)));
      }
    }),
  );
  return records;
}
