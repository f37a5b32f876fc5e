/**
 * The chaos checker, fed the record of a real run (test/fixtures/chaos-record.json, from
 * `npm run chaos -- --duration 15 --clients 6 --ids 24 --accounts 3 --seed 5 --opening-balance 1000`):
 * it passes as recorded, and each way a broken build would have changed the record is caught.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type ChaosRecord, type LedgerRow, checkInvariants } from '../tools/chaos/checker';

const recorded: ChaosRecord = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'chaos-record.json'), 'utf8'));
const copy = (): ChaosRecord => JSON.parse(JSON.stringify(recorded));
const invariantsBroken = (record: ChaosRecord) => [...new Set(checkInvariants(record).map((v) => v.invariant))].sort();

const ackedCancels = (r: ChaosRecord) =>
  r.requests.filter((q) => q.op === 'cancelPayment' && q.answer?.status === 200).map((q) => q.paymentId);
const refundedId = (r: ChaosRecord) => r.ledger.find((row) => row.kind === 'refund')!.paymentId;
const paidNeverCancelled = (r: ChaosRecord) =>
  r.requests.find(
    (q) =>
      q.op === 'makePayment' &&
      q.answer?.status === 200 &&
      !r.requests.some((c) => c.paymentId === q.paymentId && c.op === 'cancelPayment'),
  )!.paymentId;
const nextId = (r: ChaosRecord) => Math.max(...r.ledger.map((row) => row.id)) + 1;
const credit = (r: ChaosRecord, row: LedgerRow) => (r.balances[row.accountId] = r.balances[row.accountId]! + row.amount);

test('the recorded run holds every invariant, and the record has what the checks need', () => {
  expect(checkInvariants(recorded)).toEqual([]);
  expect(ackedCancels(recorded).length).toBeGreaterThan(0);
  expect(paidNeverCancelled(recorded)).toBeDefined();
  expect(recorded.requests.some((q) => q.attempts.length > 1)).toBe(true);
});

test('a refund activity without ledger idempotency (a retry credits again) is caught', () => {
  const broken = copy();
  const refund = broken.ledger.find((row) => row.paymentId === refundedId(broken) && row.kind === 'refund')!;
  const again = { ...refund, id: nextId(broken) };
  broken.ledger.push(again);
  credit(broken, again);
  expect(invariantsBroken(broken)).toEqual(['no payment-id refunded twice']);
});

test('a charge activity without ledger idempotency (a retry debits again) is caught', () => {
  const broken = copy();
  const charge = broken.ledger.find((row) => row.paymentId === paidNeverCancelled(broken))!;
  broken.ledger.push({ ...charge, id: nextId(broken) });
  broken.balances[charge.accountId] = broken.balances[charge.accountId]! - charge.amount;
  // The account was near empty, so the second debit also took it below zero.
  expect(invariantsBroken(broken)).toEqual([
    'an acknowledged payment never cancelled stays charged once',
    'no balance ever went negative',
    'no payment-id charged twice',
  ]);
});

test('a cancel acknowledged but the refund lost is caught', () => {
  const broken = copy();
  const id = refundedId(broken);
  expect(ackedCancels(broken)).toContain(id);
  const refund = broken.ledger.find((row) => row.paymentId === id && row.kind === 'refund')!;
  broken.ledger = broken.ledger.filter((row) => row !== refund);
  broken.balances[refund.accountId] = broken.balances[refund.accountId]! - refund.amount;
  // Without the refund's credit, later charges of that account overdraw it.
  expect(invariantsBroken(broken)).toEqual(['an acknowledged cancel ends CANCELLED with the money back', 'no balance ever went negative']);
});

test('a balance that does not add up, or dipped below zero, is caught', () => {
  const drifted = copy();
  const account = Object.keys(drifted.balances)[0]!;
  drifted.balances[account] = drifted.balances[account]! + 1;
  expect(invariantsBroken(drifted)).toEqual(['every balance equals opening - charges + refunds']);

  const overdrawn = copy();
  overdrawn.openingBalance = 0;
  overdrawn.balances = Object.fromEntries(Object.keys(overdrawn.balances).map((a) => [a, recorded.balances[a]! - recorded.openingBalance]));
  expect(invariantsBroken(overdrawn)).toEqual(['no balance ever went negative']);
});

test('a payment left PROCESSING, and a retry answered differently, are caught', () => {
  const stuck = copy();
  const id = paidNeverCancelled(stuck);
  stuck.finals[id] = { status: 'PROCESSING', refunded: false };
  expect(invariantsBroken(stuck)).toEqual(['an acknowledged payment never cancelled stays charged once', 'no payment stuck in PROCESSING']);

  const forgetful = copy();
  forgetful.resent[paidNeverCancelled(forgetful)]!.makePayment = { status: 200, body: { replayed: false } };
  expect(invariantsBroken(forgetful)).toEqual(['a retried request gets the same answer']);
});

test('after retention: an answer that changed, a GET that lost the payment, or a new run started, is caught', () => {
  const kept = (r: ChaosRecord): NonNullable<ChaosRecord['afterRetention']> => ({ resent: r.resent, finals: r.finals, restarted: [] });
  const forgotten = copy();
  forgotten.afterRetention = kept(forgotten);
  expect(checkInvariants(forgotten)).toEqual([]);

  const recharged = copy();
  const cancelled = ackedCancels(recharged)[0]!;
  recharged.afterRetention = kept(copy());
  recharged.afterRetention.resent[cancelled]!.cancelPayment = { status: 409, body: { error: { code: 'payment_expired' } } };
  expect(invariantsBroken(recharged)).toEqual(['after Temporal forgets a payment, its answers stand and no run starts']);

  const lost = copy();
  lost.afterRetention = kept(copy());
  lost.afterRetention.finals[paidNeverCancelled(lost)] = null;
  lost.afterRetention.restarted.push(cancelled);
  expect(
    checkInvariants(lost)
      .map((v) => v.detail)
      .sort(),
  ).toEqual(['GET showed COMPLETED, then nothing', 'a new run was started for it']);
});

test("a charge in another tenant's account, or for another amount than asked, is caught", () => {
  const charged = (r: ChaosRecord) => r.ledger.find((row) => row.paymentId === paidNeverCancelled(r) && row.kind === 'charge')!;
  const crossed = copy();
  const row = charged(crossed);
  credit(crossed, row);
  row.accountId = `acme/${row.accountId}`;
  crossed.balances[row.accountId] = crossed.openingBalance - row.amount;
  expect(invariantsBroken(crossed)).toEqual(["every charge is its own tenant's, from the account and for the amount asked"]);

  const more = copy();
  const charge = charged(more);
  charge.amount -= 1;
  more.balances[charge.accountId] = more.balances[charge.accountId]! + 1;
  expect(invariantsBroken(more)).toEqual(["every charge is its own tenant's, from the account and for the amount asked"]);
});
