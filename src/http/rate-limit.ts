/**
 * RATE_LIMIT: how many requests one API key may make in a window, counted in this gateway
 * process's memory (no store is shared between gateways). Requests with no key (AUTH=off, and
 * the probes, metrics and docs, which the access hook lets through without naming a key) are
 * never counted.
 */
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import { ErrorCode, PaymentError } from '../domain/errors';

export interface RateLimit {
  /** Requests a key may make in one window; the next ones are refused until it ends. */
  max: number;
  windowMs: number;
}

/** RATE_LIMIT's window: the setting is requests per second. */
export const RATE_LIMIT_WINDOW_MS = 1000;

/** Limits the routes registered after it; registered after the access hook, which names the caller. */
export async function registerRateLimit(app: FastifyInstance, { max, windowMs }: RateLimit): Promise<void> {
  await app.register(rateLimit, {
    max,
    timeWindow: windowMs,
    // A route's own onRequest hooks run after the instance's, so the access hook has named the
    // key by then; and a refused request costs no body read.
    hook: 'onRequest',
    keyGenerator: (request) => request.caller.keyId ?? '',
    allowList: (request) => request.caller.keyId === null,
    // Retry-After comes from the error handler, as on every other refusal.
    addHeaders: { 'retry-after': false },
    errorResponseBuilder: (request, { ttl }) => {
      const seconds = Math.max(1, Math.ceil(ttl / 1000));
      return new PaymentError(
        ErrorCode.RateLimited,
        `API key ${request.caller.keyId} made more than ${max} requests within ${windowMs / 1000} s at this gateway (RATE_LIMIT); retry in ${seconds} s`,
        seconds,
      );
    },
  });
}
