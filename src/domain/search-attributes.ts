/**
 * The custom search attributes every payment workflow carries, so that Temporal's visibility
 * finds payments by status, account, amount and tenant (GET /payments, `temporal workflow list`,
 * the web UI) and shows each one's whole view. Deterministic: the workflow imports the keys.
 */
import {
  type SearchAttributePair,
  type SearchAttributeUpdatePair,
  SearchAttributeType,
  type TypedSearchAttributes,
  defineSearchAttributeKey,
} from '@temporalio/common';
import type { PaymentStatus } from './contract';

export const SEARCH_ATTRIBUTES = {
  status: defineSearchAttributeKey('PaymentStatus', SearchAttributeType.KEYWORD),
  /** The account-id as the tenant knows it (tenant says whose). */
  accountId: defineSearchAttributeKey('AccountId', SearchAttributeType.KEYWORD),
  amount: defineSearchAttributeKey('PaymentAmount', SearchAttributeType.INT),
  tenant: defineSearchAttributeKey('PaymentTenant', SearchAttributeType.KEYWORD),
  /** Whether money went back: what a CANCELLED payment's view says beside its status. */
  refunded: defineSearchAttributeKey('PaymentRefunded', SearchAttributeType.BOOL),
  /** When the payment's window ends: the rest of its view. */
  expiresAt: defineSearchAttributeKey('PaymentExpiresAt', SearchAttributeType.DATETIME),
} as const;

export const PAYMENT_SEARCH_ATTRIBUTES = Object.values(SEARCH_ATTRIBUTES);

/** What the search attributes show of a payment: its view and tenant. */
export interface IndexedPayment {
  tenant: string;
  status: PaymentStatus;
  accountId: string | null;
  amount: number | null;
  refunded: boolean;
  expiresAt: string;
}

/** The payment's search attributes as an upsert: a null removes one the view no longer has. */
export function searchAttributesOf(payment: IndexedPayment): SearchAttributeUpdatePair[] {
  return [
    { key: SEARCH_ATTRIBUTES.tenant, value: payment.tenant },
    { key: SEARCH_ATTRIBUTES.status, value: payment.status },
    { key: SEARCH_ATTRIBUTES.accountId, value: payment.accountId },
    { key: SEARCH_ATTRIBUTES.amount, value: payment.amount },
    { key: SEARCH_ATTRIBUTES.refunded, value: payment.refunded },
    { key: SEARCH_ATTRIBUTES.expiresAt, value: new Date(payment.expiresAt) },
  ];
}

/** The same, as a start sets them: a start carries no removals. */
export function startSearchAttributes(payment: IndexedPayment): SearchAttributePair[] {
  return searchAttributesOf(payment).filter((pair): pair is SearchAttributePair => pair.value !== null);
}

/** Whether a run's search attributes already show the payment, so that an upsert would change nothing. */
export function showsPayment(current: TypedSearchAttributes, payment: IndexedPayment): boolean {
  return searchAttributesOf(payment).every(({ key, value }) => {
    const shown: unknown = current.get(key);
    if (value instanceof Date) return shown instanceof Date && shown.getTime() === value.getTime();
    return (shown ?? null) === value;
  });
}
