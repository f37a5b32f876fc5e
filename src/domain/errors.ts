/**
 * Every error code the service answers with, in one table: the HTTP API's `error.code`, the
 * `type` of the ApplicationFailure the workflow and activities raise (so one name travels from
 * the ledger or Stripe to the client), its HTTP status, whether the same request can succeed
 * later, and what the payment is afterwards. The gateway's error handler and the README's error
 * table (checked by test/errors.test.ts) both come from here. Deterministic and free of I/O:
 * the workflow imports it.
 */

export interface ErrorSpec {
  status: number;
  /** `final`: the same request gets the same answer; `retry`: it may succeed later (refusals carry Retry-After). */
  kind: 'final' | 'retry';
  /** When it is answered. */
  when: string;
  /** What the payment is afterwards. */
  afterwards: string;
}

export const ERRORS = {
  invalid_request: {
    status: 400,
    kind: 'final',
    when: 'bad input of any kind; the message names the field',
    afterwards: 'unchanged: nothing charged, no payment created',
  },
  unauthorized: {
    status: 401,
    kind: 'final',
    when: 'with `AUTH=keys`: no `Authorization: Bearer <key>`, or a malformed, unknown or revoked key (with `WWW-Authenticate: Bearer`)',
    afterwards: 'unchanged: nothing looked up or started',
  },
  insufficient_funds: {
    status: 402,
    kind: 'final',
    when: "the ledger's balance, or Stripe's card decline with `decline_code` `insufficient_funds`",
    afterwards: '`DECLINED`; makePayment with the same body tries again',
  },
  card_declined: {
    status: 402,
    kind: 'final',
    when: 'any other card decline at Stripe, or a PaymentIntent Stripe left unpaid (such as `requires_action`)',
    afterwards: '`DECLINED`; makePayment tries again',
  },
  forbidden: {
    status: 403,
    kind: 'final',
    when: "a key below the route's scope (`read` on makePayment or cancelPayment, `read` or `write` on `/codec`); a POST from an `Origin` not allowed (`ALLOWED_ORIGINS`)",
    afterwards: 'unchanged: nothing started',
  },
  payment_not_found: {
    status: 404,
    kind: 'final',
    when: "GET of a payment-id the caller's tenant never used (another tenant's payment answers the same)",
    afterwards: 'none exists',
  },
  not_found: {
    status: 404,
    kind: 'final',
    when: 'no such route',
    afterwards: 'unchanged',
  },
  payment_cancelled: {
    status: 409,
    kind: 'final',
    when: 'makePayment after the payment was cancelled',
    afterwards: '`CANCELLED`; nothing charged by this request',
  },
  payment_expired: {
    status: 409,
    kind: 'final',
    when: 'makePayment after the window ended unpaid; cancelPayment after the window ended',
    afterwards: 'as it was when the window ended; a charge stands',
  },
  payment_aborted: {
    status: 409,
    kind: 'final',
    when: "the payment's workflow ended without an outcome (terminated, failed or timed out by an operator or a bug)",
    afterwards: 'as its history shows',
  },
  idempotency_mismatch: {
    status: 422,
    kind: 'final',
    when: 'the payment-id was asked with another account or amount before',
    afterwards: 'unchanged; nothing charged',
  },
  rate_limited: {
    status: 429,
    kind: 'retry',
    when: 'with `AUTH=keys`: the API key made more than `RATE_LIMIT` requests within the second at this gateway (`Retry-After`: when that second ends)',
    afterwards: 'unchanged: nothing was started',
  },
  too_many_requests: {
    status: 429,
    kind: 'retry',
    when: "Temporal refused the request's update: 10 in flight (`Retry-After: 1`) or the run's 2,000 (`Retry-After: 60`)",
    afterwards: 'unchanged: nothing was started',
  },
  internal_error: {
    status: 500,
    kind: 'retry',
    when: 'an unexpected failure; the details go to the log',
    afterwards: 'unknown to the caller; the same request is safe to send again',
  },
  account_at_provider: {
    status: 501,
    kind: 'final',
    when: '`GET /accounts/:id` with `PAYMENT_PROVIDER=stripe`: the account is a Stripe customer and this service keeps no balance',
    afterwards: 'unchanged',
  },
  provider_error: {
    status: 502,
    kind: 'final',
    when: 'Stripe refused the call itself: an invalid or revoked key (401/403), an invalid request (400/404, such as an unknown customer)',
    afterwards:
      'makePayment: `DECLINED`, nothing charged, makePayment tries again; ' +
      'cancelPayment: the refund was refused, the payment stays `COMPLETED` and a later cancelPayment tries again',
  },
  shutting_down: {
    status: 503,
    kind: 'retry',
    when: 'the gateway is shutting down (a deploy or a restart) and took no new request on a connection left open',
    afterwards: 'unchanged: nothing was started; another gateway, or this one restarted, takes the same request',
  },
  ledger_unavailable: {
    status: 503,
    kind: 'retry',
    when: 'the ledger database cannot be reached',
    afterwards: 'unchanged',
  },
  temporal_unavailable: {
    status: 503,
    kind: 'retry',
    when:
      'Temporal cannot be reached, or no worker answered a read within `REQUEST_TIMEOUT`, ' +
      "or `GET /payments` on a namespace without the payments' search attributes",
    afterwards: 'unchanged: nothing half-done',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** The codes by name, for code that raises them. */
export const ErrorCode = {
  InvalidRequest: 'invalid_request',
  Unauthorized: 'unauthorized',
  Forbidden: 'forbidden',
  IdempotencyMismatch: 'idempotency_mismatch',
  InsufficientFunds: 'insufficient_funds',
  CardDeclined: 'card_declined',
  ProviderError: 'provider_error',
  PaymentCancelled: 'payment_cancelled',
  PaymentExpired: 'payment_expired',
  PaymentAborted: 'payment_aborted',
  PaymentNotFound: 'payment_not_found',
  NotFound: 'not_found',
  LedgerUnavailable: 'ledger_unavailable',
  ShuttingDown: 'shutting_down',
  AccountAtProvider: 'account_at_provider',
  RateLimited: 'rate_limited',
  TooManyRequests: 'too_many_requests',
  TemporalUnavailable: 'temporal_unavailable',
  InternalError: 'internal_error',
} as const satisfies Record<string, ErrorCode>;

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERRORS, value);
}

/** A charge attempt's refusals that leave the payment DECLINED: nothing moved, and makePayment may try again. */
const DECLINES: ReadonlySet<string> = new Set([ErrorCode.InsufficientFunds, ErrorCode.CardDeclined, ErrorCode.ProviderError]);
export function isDecline(type: unknown): type is ErrorCode {
  return typeof type === 'string' && DECLINES.has(type);
}

/** A refusal the gateway answers with its code's status, carrying Retry-After when it names one. */
export class PaymentError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    /** Seconds after which the same request may succeed, for refusals that are not final. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'PaymentError';
  }
}
