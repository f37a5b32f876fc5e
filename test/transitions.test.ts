/** The state machine as a table, without Temporal. */
import { makePaymentFromSnapshot } from '../src/domain/answers';
import { ErrorCode } from '../src/domain/errors';
import {
  type PaymentEvent,
  type PaymentState,
  initialState,
  nextState,
  pendingWork,
  snapshotOf,
  statusOf,
} from '../src/workflows/transitions';

const request = { accountId: 'a', amount: 5 };
const pay: PaymentEvent = { type: 'pay', request };

function run(...events: PaymentEvent[]): PaymentState {
  return events.reduce(nextState, initialState);
}

test.each<[string, PaymentEvent[], string, boolean, 'charge' | 'refund' | undefined]>([
  ['nothing yet', [], 'NEW', false, undefined],
  ['pay asks for a charge', [pay], 'PROCESSING', false, 'charge'],
  ['a second pay while charging changes nothing', [pay, pay], 'PROCESSING', false, 'charge'],
  ['charged', [pay, { type: 'charged' }], 'COMPLETED', false, undefined],
  ['declined', [pay, { type: 'declined' }], 'DECLINED', false, undefined],
  ['pay after a decline tries again', [pay, { type: 'declined' }, pay], 'PROCESSING', false, 'charge'],
  ['cancel before anything', [{ type: 'cancel' }], 'CANCELLED', false, undefined],
  ['pay after cancel is ignored', [{ type: 'cancel' }, pay], 'CANCELLED', false, undefined],
  ['cancel after a decline', [pay, { type: 'declined' }, { type: 'cancel' }], 'CANCELLED', false, undefined],
  ['cancel while charging waits for the charge', [pay, { type: 'cancel' }], 'PROCESSING', false, 'charge'],
  ['... then refunds it', [pay, { type: 'cancel' }, { type: 'charged' }], 'PROCESSING', false, 'refund'],
  ['... or it was declined', [pay, { type: 'cancel' }, { type: 'declined' }], 'CANCELLED', false, undefined],
  ['cancel after the charge refunds', [pay, { type: 'charged' }, { type: 'cancel' }], 'PROCESSING', false, 'refund'],
  ['refunded', [pay, { type: 'charged' }, { type: 'cancel' }, { type: 'refunded' }], 'CANCELLED', true, undefined],
  [
    'a second cancel while refunding changes nothing',
    [pay, { type: 'charged' }, { type: 'cancel' }, { type: 'cancel' }],
    'PROCESSING',
    false,
    'refund',
  ],
  [
    'a cancel after the refund changes nothing',
    [pay, { type: 'charged' }, { type: 'cancel' }, { type: 'refunded' }, { type: 'cancel' }],
    'CANCELLED',
    true,
    undefined,
  ],
  [
    'a second refunded changes nothing',
    [pay, { type: 'charged' }, { type: 'cancel' }, { type: 'refunded' }, { type: 'refunded' }],
    'CANCELLED',
    true,
    undefined,
  ],
  [
    'a refused refund leaves it charged',
    [pay, { type: 'charged' }, { type: 'cancel' }, { type: 'refundRefused' }],
    'COMPLETED',
    false,
    undefined,
  ],
  [
    '... and a later cancel refunds again',
    [pay, { type: 'charged' }, { type: 'cancel' }, { type: 'refundRefused' }, { type: 'cancel' }],
    'PROCESSING',
    false,
    'refund',
  ],
  [
    '... and a pay then answers from the charge',
    [pay, { type: 'charged' }, { type: 'cancel' }, { type: 'refundRefused' }, pay],
    'COMPLETED',
    false,
    undefined,
  ],
  ['an earlier run refunded it', [pay, { type: 'alreadyRefunded' }], 'CANCELLED', true, undefined],
  ['an earlier run charged other parameters', [pay, { type: 'mismatched' }], 'NEW', false, undefined],
  ['expiry stops nothing in flight', [pay, { type: 'expire' }], 'PROCESSING', false, 'charge'],
  ['pay after expiry is ignored', [{ type: 'expire' }, pay], 'NEW', false, undefined],
  ['cancel after expiry is ignored', [pay, { type: 'charged' }, { type: 'expire' }, { type: 'cancel' }], 'COMPLETED', false, undefined],
])('%s', (_name, events, status, refunded, work) => {
  const state = run(...events);
  expect(statusOf(state)).toBe(status);
  expect(state.refunded).toBe(refunded);
  expect(pendingWork(state)).toBe(work);
});

test('an activity result that does not fit the phase changes nothing', () => {
  for (const event of [
    { type: 'charged' },
    { type: 'declined' },
    { type: 'refunded' },
    { type: 'refundRefused' },
    { type: 'alreadyRefunded' },
  ] as PaymentEvent[]) {
    expect(nextState(initialState, event)).toBe(initialState);
  }
});

test('the first request is kept', () => {
  const state = run(pay, { type: 'declined' }, { type: 'pay', request: { accountId: 'b', amount: 9 } });
  expect(state.request).toEqual(request);
});

test('each charge attempt and each refund is asked by the key of the request that started it', () => {
  const byA = { type: 'pay', request, by: 'key-a' } as const;
  expect(run(byA).chargeAskedBy).toBe('key-a');
  // A duplicate of the attempt in flight does not take it over; the next attempt is its own sender's.
  expect(run(byA, { ...byA, by: 'key-b' }).chargeAskedBy).toBe('key-a');
  expect(run(byA, { type: 'declined' }, { ...byA, by: 'key-b' }).chargeAskedBy).toBe('key-b');
  expect(run(byA, { type: 'declined' }, pay).chargeAskedBy).toBeUndefined();
  // The first cancel asks for the refund, whether it came before the charge landed or after.
  expect(run(byA, { type: 'cancel', by: 'key-c' }, { type: 'cancel', by: 'key-d' }, { type: 'charged' }).refundAskedBy).toBe('key-c');
  expect(run(byA, { type: 'charged' }, { type: 'cancel', by: 'key-d' }, { type: 'cancel', by: 'key-e' }).refundAskedBy).toBe('key-d');
  // A refund refused opens a new round: the next cancel asks again.
  const refused = run(byA, { type: 'charged' }, { type: 'cancel', by: 'key-d' }, { type: 'refundRefused' });
  expect(nextState(refused, { type: 'cancel', by: 'key-f' }).refundAskedBy).toBe('key-f');
  expect(nextState(refused, { type: 'cancel' }).refundAskedBy).toBeUndefined();
});

test('a request that arrived before the decline shares its answer; one sent after it tries again', () => {
  const declinedAt = '2026-01-01T00:00:10.000Z';
  const refusal = { code: ErrorCode.InsufficientFunds, message: 'account a has 1, needs 5' };
  const declined = run(pay, { type: 'declined', refusal, at: declinedAt });
  const snapshot = snapshotOf(declined, { paymentId: 'p', expiresAt: '2026-01-01T01:00:00.000Z' });
  expect(snapshot.decline).toEqual({ ...refusal, at: declinedAt });
  const at = Date.parse(declinedAt);
  expect(makePaymentFromSnapshot(snapshot, request, at - 1)).toEqual({ refusal });
  expect(makePaymentFromSnapshot(snapshot, request, at)).toEqual({ refusal });
  expect(makePaymentFromSnapshot(snapshot, request, at + 1)).toBeUndefined();
  // A run of an earlier release does not say when: every request tries again.
  expect(makePaymentFromSnapshot({ ...snapshot, decline: undefined }, request, at - 1)).toBeUndefined();
  // Only the last attempt's decline counts, and only while DECLINED.
  const retrying = snapshotOf(nextState(declined, pay), { paymentId: 'p', expiresAt: '2026-01-01T01:00:00.000Z' });
  expect(retrying.decline).toBeUndefined();
});
