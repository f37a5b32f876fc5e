/**
 * The invariants of SPEC "What must hold, always", checked against what a chaos run
 * recorded: every request's history, the ledger's rows, each payment's final state and the
 * answers to requests sent again after everything settled. Pure, so a recorded run can be
 * checked again (and a broken one shown to fail) in a test.
 */

import { scopedId, unscopedId } from '../../src/domain/tenancy';

export interface Attempt {
  at: number;
  /** HTTP status, or 'network' when no answer came (connection refused, reset, timeout). */
  outcome: number | 'network';
}

export interface Answer {
  status: number;
  body: any;
}

export interface RequestRecord {
  client: number;
  op: 'makePayment' | 'cancelPayment';
  paymentId: string;
  body?: { accountId: string; amount: number };
  /** When the first attempt was sent (absent in runs recorded before it was kept). */
  startedAt?: number;
  attempts: Attempt[];
  /** The definitive answer (not 5xx, not a network error), if one came before the run gave up. */
  answer?: Answer;
}

export interface LedgerRow {
  id: number;
  paymentId: string;
  kind: 'charge' | 'refund';
  accountId: string;
  amount: number;
}

export interface PaymentState {
  status: string;
  refunded: boolean;
}

export interface ChaosRecord {
  openingBalance: number;
  requests: RequestRecord[];
  ledger: LedgerRow[];
  balances: Record<string, number>;
  /** GET /payments/:id after settling; null for 404. */
  finals: Record<string, PaymentState | null>;
  /** The same requests sent once more after settling. */
  resent: Record<string, { makePayment?: Answer; cancelPayment?: Answer }>;
  /**
   * Once every payment's window had ended and Temporal had deleted its workflow (as its
   * retention does): the same requests again, GET /payments/:id, and the payment-ids Temporal
   * knew again afterwards (a new run started for them).
   */
  afterRetention?: {
    resent: Record<string, { makePayment?: Answer; cancelPayment?: Answer }>;
    finals: Record<string, PaymentState | null>;
    restarted: string[];
  };
}

export interface Violation {
  invariant: string;
  paymentId?: string;
  accountId?: string;
  detail: string;
}

export const INVARIANTS = [
  'no payment-id charged twice',
  'no payment-id refunded twice',
  'no refund without a charge',
  'an acknowledged cancel ends CANCELLED with the money back',
  'an acknowledged payment never cancelled stays charged once',
  'every balance equals opening - charges + refunds',
  'no balance ever went negative',
  'no payment stuck in PROCESSING',
  'a retried request gets the same answer',
  'after Temporal forgets a payment, its answers stand and no run starts',
  "every charge is its own tenant's, from the account and for the amount asked",
] as const;
export type Invariant = (typeof INVARIANTS)[number];

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    groups.set(k, [...(groups.get(k) ?? []), item]);
  }
  return groups;
}

/** What an answer says, for comparing two: status, and the outcome or error code. */
function answerOf({ status, body }: Answer): string {
  return status === 200 ? `200 ${body.status}${body.refunded ? ' refunded' : ''}` : `${status} ${body?.error?.code}`;
}

export function checkInvariants(record: ChaosRecord): Violation[] {
  const violations: Violation[] = [];
  const fail = (invariant: Invariant, detail: string, where: { paymentId?: string; accountId?: string } = {}) =>
    violations.push({ invariant, ...where, detail });

  const rowsById = groupBy(record.ledger, (row) => row.paymentId);
  const requestsById = groupBy(record.requests, (r) => r.paymentId);
  const ids = new Set([...rowsById.keys(), ...requestsById.keys()]);
  const rowsOf = (id: string, kind: LedgerRow['kind']) => (rowsById.get(id) ?? []).filter((row) => row.kind === kind);

  for (const id of ids) {
    const charges = rowsOf(id, 'charge');
    const refunds = rowsOf(id, 'refund');
    if (charges.length > 1) fail('no payment-id charged twice', `${charges.length} charges`, { paymentId: id });
    if (refunds.length > 1) fail('no payment-id refunded twice', `${refunds.length} refunds`, { paymentId: id });
    if (refunds.length > 0 && charges.length === 0) fail('no refund without a charge', 'refunded, never charged', { paymentId: id });
    if (refunds.some((refund) => charges.every((charge) => charge.id > refund.id))) {
      fail('no refund without a charge', 'refunded before it was charged', { paymentId: id });
    }

    const requests = requestsById.get(id) ?? [];
    // Payment-ids and account-ids here are the service's names for them: `tenant/id` beyond the tenant default.
    const { tenant } = unscopedId(id);
    const asked = requests.find((r) => r.body)?.body;
    for (const charge of charges) {
      const crossed = unscopedId(charge.accountId).tenant !== tenant;
      const differs = asked && (charge.accountId !== scopedId(tenant, asked.accountId) || charge.amount !== asked.amount);
      if (crossed || differs) {
        fail(
          "every charge is its own tenant's, from the account and for the amount asked",
          `charged ${charge.amount} to ${charge.accountId}; asked ${asked ? `${asked.amount} from ${asked.accountId}` : 'nothing'}`,
          { paymentId: id },
        );
      }
    }
    const acked = (op: RequestRecord['op']) => requests.filter((r) => r.op === op && r.answer?.status === 200);
    const cancelAcks = acked('cancelPayment');
    const payAcks = acked('makePayment');
    const final = record.finals[id];

    if (final?.status === 'PROCESSING') fail('no payment stuck in PROCESSING', 'still PROCESSING after settling', { paymentId: id });

    if (cancelAcks.length > 0) {
      if (final?.status !== 'CANCELLED') {
        fail('an acknowledged cancel ends CANCELLED with the money back', `final status ${final?.status ?? 'unknown'}`, { paymentId: id });
      }
      if (charges.length > refunds.length) {
        fail('an acknowledged cancel ends CANCELLED with the money back', 'charged and not refunded', { paymentId: id });
      }
    }

    const cancelEverSent = requests.some((r) => r.op === 'cancelPayment');
    if (payAcks.length > 0 && !cancelEverSent) {
      if (charges.length !== 1 || refunds.length !== 0 || final?.status !== 'COMPLETED') {
        fail(
          'an acknowledged payment never cancelled stays charged once',
          `${charges.length} charge(s), ${refunds.length} refund(s), final ${final?.status ?? 'unknown'}`,
          { paymentId: id },
        );
      }
    }

    const sameAnswer = (detail: string) => fail('a retried request gets the same answer', detail, { paymentId: id });
    const refundedAnswers = new Set(cancelAcks.map((r) => r.answer!.body.refunded));
    if (refundedAnswers.size > 1) sameAnswer('cancel acknowledged both with and without a refund');
    const paidAs = new Set(payAcks.map((r) => `${r.answer!.body.accountId}/${r.answer!.body.amount}`));
    if (paidAs.size > 1) sameAnswer(`makePayment acknowledged with different payments: ${[...paidAs].join(', ')}`);
    if (payAcks.length > 0 && refundedAnswers.has(false)) sameAnswer('acknowledged as paid, then as cancelled without a refund');
    if (payAcks.filter((r) => r.answer!.body.replayed === false).length > 1)
      sameAnswer('more than one makePayment answered as the first (replayed: false)');

    const resent = record.resent[id];
    if (resent?.makePayment && payAcks.length > 0 && !cancelEverSent) {
      const { status, body } = resent.makePayment;
      if (status !== 200 || body.replayed !== true) sameAnswer(`makePayment sent again answered ${status} ${JSON.stringify(body)}`);
    }
    if (resent?.cancelPayment && cancelAcks.length > 0) {
      const { status, body } = resent.cancelPayment;
      if (status !== 200 || !refundedAnswers.has(body.refunded))
        sameAnswer(`cancelPayment sent again answered ${status} ${JSON.stringify(body)}`);
    }

    if (record.afterRetention) {
      const forgotten = (detail: string) =>
        fail('after Temporal forgets a payment, its answers stand and no run starts', detail, { paymentId: id });
      const { resent: later, finals: laterFinals, restarted } = record.afterRetention;
      if (restarted.includes(id)) forgotten('a new run was started for it');
      for (const op of ['makePayment', 'cancelPayment'] as const) {
        const before = resent?.[op];
        const after = later[id]?.[op];
        if (before && after && answerOf(before) !== answerOf(after))
          forgotten(`${op} answered ${answerOf(before)}, then ${answerOf(after)}`);
      }
      const after = laterFinals[id];
      if (final && (after?.status !== final.status || after.refunded !== final.refunded)) {
        forgotten(`GET showed ${final.status}${final.refunded ? ' refunded' : ''}, then ${after ? after.status : 'nothing'}`);
      }
    }
  }

  for (const [accountId, rows] of groupBy(record.ledger, (row) => row.accountId)) {
    let running = record.openingBalance;
    let lowest = running;
    for (const row of [...rows].sort((a, b) => a.id - b.id)) {
      running += row.kind === 'charge' ? -row.amount : row.amount;
      lowest = Math.min(lowest, running);
    }
    if (lowest < 0) fail('no balance ever went negative', `went down to ${lowest}`, { accountId });
    const balance = record.balances[accountId];
    if (balance !== running) {
      fail('every balance equals opening - charges + refunds', `balance ${balance}, entries say ${running}`, { accountId });
    }
  }
  return violations;
}
