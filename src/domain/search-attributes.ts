/**
 * The custom search attributes every payment workflow carries, so that Temporal's visibility
 * finds payments by status, account, amount and tenant (GET /payments, `temporal workflow list`,
 * the web UI) and shows each one's whole view. Deterministic: the workflow imports the keys.
 */
import { SearchAttributeType, defineSearchAttributeKey } from '@temporalio/common';

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
