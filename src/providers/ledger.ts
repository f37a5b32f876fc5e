/**
 * The built-in provider: money moves in the project's own ledger. Its unique keys make a
 * charge and a refund happen once per payment-id, across retries and across workflow runs,
 * so the attempt number needs no part here: a declined attempt wrote nothing.
 */
import { sameRequest } from '../domain/contract';
import { ErrorCode } from '../domain/errors';
import { unscopedId } from '../domain/tenancy';
import { InsufficientFundsError, type Ledger, NoChargeError } from '../ledger/ledger';
import { type ChargeRequest, type Charged, NO_CHARGE, type PaymentProvider, ProviderRefusal, type RefundRequest } from './provider';

/** A service-wide id as its tenant knows it: refusals reach the tenant's caller. */
const own = (id: string): string => unscopedId(id).id;

export class LedgerProvider implements PaymentProvider {
  constructor(private readonly ledger: Ledger) {}

  async charge({ paymentId, accountId, amount, runId, deadline, keyId }: ChargeRequest): Promise<Charged> {
    let outcome;
    try {
      outcome = await this.ledger.charge(paymentId, accountId, amount, runId, { deadline, keyId });
    } catch (err) {
      if (err instanceof InsufficientFundsError) {
        throw new ProviderRefusal(
          ErrorCode.InsufficientFunds,
          `account ${own(accountId)} has ${err.balance}, less than the ${amount} asked`,
        );
      }
      throw err;
    }
    const { charge, existing, refunded } = outcome;
    if (existing && !sameRequest(charge, { accountId, amount })) {
      throw new ProviderRefusal(
        ErrorCode.IdempotencyMismatch,
        `payment ${own(paymentId)} was charged ${charge.amount} to account ${own(charge.accountId)} before`,
      );
    }
    return { reference: paymentId, fromEarlierRun: existing && charge.runId !== runId, refunded, at: charge.at };
  }

  async refund({ paymentId, runId, deadline, keyId }: RefundRequest): Promise<{ at: string }> {
    try {
      return { at: (await this.ledger.refund(paymentId, runId, { deadline, keyId })).refund.at };
    } catch (err) {
      // The workflow refunds only after a charge it saw succeed: a missing charge is a bug, not a blip.
      if (err instanceof NoChargeError) throw new ProviderRefusal(NO_CHARGE, err.message);
      throw err;
    }
  }
}
