/**
 * JSON schemas for every param, body and response. Fastify validates requests with them,
 * serializes responses with them, and @fastify/swagger turns them into the OpenAPI document.
 */
import { ID_PATTERN, MAX_AMOUNT, MIN_AMOUNT, PAYMENT_STATUSES } from '../domain/contract';
import { ENTRY_KINDS } from '../ledger/ledger';

const id = (description: string) => ({ type: 'string', pattern: ID_PATTERN, description }) as const;

export const paymentIdParams = {
  type: 'object',
  properties: { id: id('payment-id: the idempotency key, 1-200 of A-Z a-z 0-9 . _ : -') },
  required: ['id'],
  additionalProperties: false,
} as const;

export const accountIdParams = {
  type: 'object',
  properties: { accountId: id('account-id, 1-200 of A-Z a-z 0-9 . _ : -') },
  required: ['accountId'],
  additionalProperties: false,
} as const;

export const makePaymentBody = {
  type: 'object',
  properties: {
    accountId: id('account to charge'),
    amount: { type: 'integer', minimum: MIN_AMOUNT, maximum: MAX_AMOUNT, description: 'minor units (cents)' },
  },
  required: ['accountId', 'amount'],
  additionalProperties: false,
} as const;

export const accountQuery = {
  type: 'object',
  properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100, description: 'entries to show, newest first' } },
  additionalProperties: false,
} as const;

export const errorBody = {
  $id: 'error',
  type: 'object',
  properties: {
    error: {
      type: 'object',
      properties: {
        code: { type: 'string', description: 'machine-readable, stable' },
        message: { type: 'string', description: 'for a person' },
      },
      required: ['code', 'message'],
      additionalProperties: false,
    },
  },
  required: ['error'],
  additionalProperties: false,
} as const;

export const errorRef = { $ref: 'error#' } as const;

/** Responses shared by every route: bad input and an unreachable Temporal. */
export const commonErrors = { 400: errorRef, 500: errorRef, 503: errorRef } as const;

export const paymentResult = {
  type: 'object',
  properties: {
    paymentId: { type: 'string' },
    status: { type: 'string', enum: ['COMPLETED'] },
    accountId: { type: 'string' },
    amount: { type: 'integer' },
    replayed: { type: 'boolean', description: 'true when this answers an earlier identical request' },
  },
  required: ['paymentId', 'status', 'accountId', 'amount', 'replayed'],
  additionalProperties: false,
} as const;

export const cancelResult = {
  type: 'object',
  properties: {
    paymentId: { type: 'string' },
    status: { type: 'string', enum: ['CANCELLED'] },
    refunded: { type: 'boolean', description: 'whether money went back (false: it was never charged)' },
  },
  required: ['paymentId', 'status', 'refunded'],
  additionalProperties: false,
} as const;

export const paymentView = {
  type: 'object',
  properties: {
    paymentId: { type: 'string' },
    status: { type: 'string', enum: PAYMENT_STATUSES },
    accountId: { type: ['string', 'null'] },
    amount: { type: ['integer', 'null'] },
    refunded: { type: 'boolean' },
    expiresAt: { type: 'string', format: 'date-time' },
    expired: { type: 'boolean' },
  },
  required: ['paymentId', 'status', 'accountId', 'amount', 'refunded', 'expiresAt', 'expired'],
  additionalProperties: false,
} as const;

export const account = {
  type: 'object',
  properties: {
    accountId: { type: 'string' },
    balance: { type: 'integer', description: 'minor units (cents)' },
    entries: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          paymentId: { type: 'string' },
          kind: { type: 'string', enum: ENTRY_KINDS },
          amount: { type: 'integer' },
          keyId: { type: ['string', 'null'], description: 'the API key whose request asked for it; null when none did' },
          at: { type: 'string', format: 'date-time' },
        },
        required: ['paymentId', 'kind', 'amount', 'keyId', 'at'],
        additionalProperties: false,
      },
    },
  },
  required: ['accountId', 'balance', 'entries'],
  additionalProperties: false,
} as const;

export const paymentSearchQuery = {
  type: 'object',
  properties: {
    status: { type: 'string', enum: PAYMENT_STATUSES, description: 'only payments in this status' },
    accountId: id('only payments from this account'),
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100, description: 'payments on the page' },
    cursor: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,4096}$', description: 'nextCursor of the page before' },
  },
  additionalProperties: false,
} as const;

export const paymentPage = {
  type: 'object',
  properties: {
    payments: { type: 'array', items: paymentView },
    nextCursor: { type: ['string', 'null'], description: 'the next page: pass it as cursor; null on the last page' },
  },
  required: ['payments', 'nextCursor'],
  additionalProperties: false,
} as const;
