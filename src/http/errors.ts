/**
 * One error handler for the whole gateway: every failure leaves as
 * {"error": {"code", "message"}} with the SPEC's status, and nothing internal leaks out.
 */
import { status } from '@grpc/grpc-js';
import { NamespaceNotFoundError, ServiceError, isGrpcServiceError } from '@temporalio/client';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ERRORS, ErrorCode, PaymentError } from '../domain/errors';
import { TransientLedgerError } from '../ledger/ledger';
import { PaymentInFlight } from '../client/payment-client';

const RETRY_AFTER_SECONDS = 1;

/** Temporal could not be reached or did not answer. */
const UNREACHABLE_CODES = new Set<number>([status.UNAVAILABLE, status.DEADLINE_EXCEEDED]);

function temporalUnreachable(err: unknown): boolean {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    if (isGrpcServiceError(e) && UNREACHABLE_CODES.has(e.code)) return true;
    if (e instanceof ServiceError && /UNAVAILABLE|DEADLINE_EXCEEDED|connect/i.test(e.message)) return true;
    if (e instanceof Error && /Failed to connect|ECONNREFUSED|transport error/i.test(e.message)) return true;
  }
  return false;
}

/**
 * Temporal up but unable to serve, for a moment: its frontend does not see the namespace (a
 * cluster whose database has just come back, or whose launcher has not registered it yet), or
 * it refuses work it has no room for (a workflow's query buffer full while its history service
 * catches up). The update limits' RESOURCE_EXHAUSTED is answered before, as a 429.
 */
function temporalBusy(err: unknown): boolean {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    if (e instanceof NamespaceNotFoundError) return true;
    if (isGrpcServiceError(e) && (e.code === status.RESOURCE_EXHAUSTED || (e.code === status.NOT_FOUND && /namespace/i.test(e.details))))
      return true;
  }
  return false;
}

type ValidationIssue = NonNullable<FastifyError['validation']>[number];

/** One schema violation, said with the field's name: `body.amount must be integer`. */
function describeIssue(where: string, issue: ValidationIssue): string {
  const field = [where, ...issue.instancePath.split('/').filter(Boolean)].join('.');
  const params = issue.params as Record<string, unknown>;
  switch (issue.keyword) {
    case 'required':
      return `${field}.${params.missingProperty} is required`;
    case 'additionalProperties':
      return `${field}.${params.additionalProperty} is not an accepted field`;
    default:
      return `${field} ${issue.message}`;
  }
}

/** Fastify's own request errors (validation, body parsing, limits, content-type), as bad input. */
function badInputMessage(err: FastifyError, bodyLimit: number | undefined): string | undefined {
  if (err.validation?.[0]) return describeIssue(err.validationContext ?? 'request', err.validation[0]);
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      if (bodyLimit === undefined) return 'body is too large';
      return `body is larger than ${bodyLimit >= 1024 * 1024 ? `${bodyLimit / (1024 * 1024)} MiB` : `${bodyLimit / 1024} KiB`}`;
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return 'content-type must be application/json';
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return 'body must be a JSON object, but it is empty';
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return 'body is not valid JSON';
  }
  if (err instanceof SyntaxError || (typeof err.code === 'string' && err.code.startsWith('FST_ERR_CTP_')))
    return `body is not valid JSON: ${err.message}`;
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return err.message;
  return undefined;
}

export function errorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const send = (code: ErrorCode, message: string) => reply.code(ERRORS[code].status).send({ error: { code, message } });
  /** A refusal the same request may get past later: with Retry-After. */
  const sendRetryable = (code: ErrorCode, message: string, seconds = RETRY_AFTER_SECONDS) => {
    reply.header('retry-after', String(seconds));
    return send(code, message);
  };

  if (err instanceof PaymentInFlight) {
    // Not an error: the payment goes on, and the same request later answers its outcome.
    request.log.info('payment still in flight at the request timeout');
    reply.header('retry-after', String(RETRY_AFTER_SECONDS));
    return reply.code(202).send(err.view);
  }
  if (err instanceof PaymentError) {
    if (ERRORS[err.code].kind === 'retry') return sendRetryable(err.code, err.message, err.retryAfterSeconds);
    return send(err.code, err.message);
  }
  // Before Temporal's check, whose message patterns a database's connection error would match too.
  if (err instanceof TransientLedgerError) {
    request.log.warn({ err }, 'ledger unreachable');
    return sendRetryable(ErrorCode.LedgerUnavailable, 'the ledger cannot be reached right now; retry the request');
  }
  if (temporalUnreachable(err)) {
    request.log.warn({ err }, 'Temporal unreachable');
    return sendRetryable(ErrorCode.TemporalUnavailable, 'the payment service cannot reach Temporal right now; retry the same request');
  }
  if (temporalBusy(err)) {
    request.log.warn({ err }, 'Temporal cannot serve the request right now');
    return sendRetryable(ErrorCode.TemporalUnavailable, 'Temporal cannot serve this request right now; retry the same request');
  }
  // The route's limit: the codec endpoint's is larger than the rest.
  const problem = badInputMessage(err, request.routeOptions.bodyLimit);
  if (problem) return send(ErrorCode.InvalidRequest, problem);

  request.log.error({ err }, 'request failed');
  return sendRetryable(ErrorCode.InternalError, 'the request failed unexpectedly; retrying the same request is safe');
}

export function notFoundHandler(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  return reply
    .code(ERRORS.not_found.status)
    .send({ error: { code: ErrorCode.NotFound, message: `no route ${request.method} ${request.url.split('?')[0]}` } });
}
