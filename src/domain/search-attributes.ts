/**
 * The custom search attributes every payment workflow carries, so that Temporal's visibility
 * finds payments by status, account, amount and tenant (GET /payments, `temporal workflow list`,
 * the web UI). Deterministic: the workflow imports the keys.
 */
import { SearchAttributeType, defineSearchAttributeKey } from '@temporalio/common';

export const PAYMENT_STATUS = defineSearchAttributeKey('PaymentStatus', SearchAttributeType.KEYWORD);
/** The account-id as the tenant knows it (PaymentTenant says whose). */
export const ACCOUNT_ID = defineSearchAttributeKey('AccountId', SearchAttributeType.KEYWORD);
export const PAYMENT_AMOUNT = defineSearchAttributeKey('PaymentAmount', SearchAttributeType.INT);
export const PAYMENT_TENANT = defineSearchAttributeKey('PaymentTenant', SearchAttributeType.KEYWORD);

export const PAYMENT_SEARCH_ATTRIBUTES = [PAYMENT_STATUS, ACCOUNT_ID, PAYMENT_AMOUNT, PAYMENT_TENANT] as const;
