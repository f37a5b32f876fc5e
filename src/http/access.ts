/**
 * Who may call the gateway. With AUTH=keys every request but the probes, metrics and docs
 * carries `Authorization: Bearer <key>`, a key of the service's database that is not revoked,
 * whose scope reaches the one the route needs (`read` for GET, `write` for the rest, unless the
 * route asks for more in its config). With either setting a POST that comes from a web page (it
 * carries an `Origin`) is refused unless that origin is allowed: cancelPayment takes no body,
 * so a page could otherwise make its visitor's browser cancel with a plain form post.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parseKey, secretMatches } from '../access/keys';
import type { AuthMode } from '../config';
import { ErrorCode, PaymentError } from '../domain/errors';
import { type Caller, NO_KEY, isTenant } from '../domain/tenancy';
import { type ApiKeyRecord, type ApiKeys, KEY_SCOPES, type KeyScope } from '../ledger/ledger';

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller;
  }
  interface FastifyContextConfig {
    /** The browser origins that may POST to this route instead of ALLOWED_ORIGINS (the codec endpoint's: the web UI's too). */
    origins?: readonly string[];
    /** The least scope a key needs for this route; `read` for GET and HEAD, `write` for the rest when absent. */
    scope?: KeyScope;
  }
}

export interface AccessDeps {
  mode: AuthMode;
  /** The key store, needed with AUTH=keys. */
  keys?: ApiKeys;
  allowedOrigins: readonly string[];
}

/** How long a key's record is kept in memory: a key revoked is refused by every gateway within this. */
export const KEY_CACHE_MS = 5_000;
/** A key's last use is written at most this often, not on every request. */
const LAST_USED_EVERY_MS = 60_000;
/**
 * Ids found to name no key are remembered too, up to this many (the oldest forgotten first), so
 * that a client repeating a made-up key costs one lookup per KEY_CACHE_MS; they never push out
 * the records of real keys. Each new made-up id still costs one indexed lookup: the per-key rate
 * limit counts only keys that exist.
 */
const UNKNOWN_LIMIT = 10_000;

/**
 * Served to anyone: load balancers' probes, Prometheus, and the API's own description. Judged
 * by the route the router matched, not the URL as sent, so that no spelling of a path (dot
 * segments, encodings, a query) reaches a payment route as if it were one of these.
 */
function isPublic(request: FastifyRequest): boolean {
  // A browser's CORS preflight never carries credentials; it only asks what the real request may send.
  if (request.method === 'OPTIONS' && request.headers['access-control-request-method'] !== undefined) return true;
  const route = request.routeOptions.url;
  return (
    route === '/healthz' ||
    route === '/readyz' ||
    route === '/metrics' ||
    route === '/docs' ||
    route?.startsWith('/docs/') === true ||
    // Only the public app's stand-in with ADMIN_PORT set (app.ts): the codec's own routes are /codec/encode and /codec/decode.
    route === '/codec/*'
  );
}

/** The route's own scope, else what its method needs: a read key may look, not change anything. */
function neededScope(request: FastifyRequest): KeyScope {
  return request.routeOptions.config.scope ?? (request.method === 'GET' || request.method === 'HEAD' ? 'read' : 'write');
}

type Cached = { record: ApiKeyRecord | undefined; until: number };

/** Key records by id, each looked up at most once per KEY_CACHE_MS; a failed lookup (the database down) is not kept. */
class KeyCache {
  private readonly known = new Map<string, Cached>();
  private readonly unknown = new Map<string, Cached>();
  private readonly pending = new Map<string, Promise<ApiKeyRecord | undefined>>();

  constructor(private readonly keys: ApiKeys) {}

  lookup(id: string): Promise<ApiKeyRecord | undefined> {
    const hit = this.known.get(id) ?? this.unknown.get(id);
    if (hit && hit.until > Date.now()) return Promise.resolve(hit.record);
    const inFlight = this.pending.get(id);
    if (inFlight) return inFlight;
    const lookup = this.keys.keyById(id).then((record) => {
      this.known.delete(id);
      this.unknown.delete(id);
      const cached = { record, until: Date.now() + KEY_CACHE_MS };
      if (record) this.known.set(id, cached);
      else {
        if (this.unknown.size >= UNKNOWN_LIMIT) this.unknown.delete(this.unknown.keys().next().value!);
        this.unknown.set(id, cached);
      }
      return record;
    });
    this.pending.set(id, lookup);
    const settled = () => void this.pending.delete(id);
    lookup.then(settled, settled);
    return lookup;
  }
}

function unauthorized(reply: FastifyReply, message: string): PaymentError {
  reply.header('www-authenticate', 'Bearer');
  return new PaymentError(ErrorCode.Unauthorized, message);
}

/** The key a request carries, or why it carries none that could be one. */
function presentedKey(request: FastifyRequest): { id: string; secret: string } | string {
  const header = request.headers.authorization;
  if (header === undefined) return 'this request needs an API key: send Authorization: Bearer <key>';
  const bearer = /^Bearer +(\S+)$/i.exec(header);
  if (!bearer) return 'the Authorization header must be Bearer <key>';
  return parseKey(bearer[1]!) ?? 'the Bearer token is not an API key of this service';
}

export function registerAccess(app: FastifyInstance, { mode, keys, allowedOrigins }: AccessDeps): void {
  if (mode === 'keys' && !keys) throw new Error('AUTH=keys needs the key store');
  const cache = mode === 'keys' ? new KeyCache(keys!) : undefined;
  const lastNoted = new Map<string, number>();
  // Fastify takes no shared object as a decoration's default: each request is given its caller.
  app.decorateRequest('caller', null as unknown as Caller);

  app.addHook('onRequest', async (request, reply) => {
    request.caller = NO_KEY;
    const origin = request.headers.origin;
    if (request.method === 'POST' && origin !== undefined && !(request.routeOptions.config.origins ?? allowedOrigins).includes(origin)) {
      throw new PaymentError(ErrorCode.Forbidden, `requests from web pages of ${origin} are not allowed (ALLOWED_ORIGINS)`);
    }
    if (!cache || isPublic(request)) return;

    const presented = presentedKey(request);
    if (typeof presented === 'string') throw unauthorized(reply, presented);
    const record = await cache.lookup(presented.id);
    // One answer for unknown, revoked and wrong secret: a guesser learns nothing about which ids exist.
    if (!record || record.revokedAt !== null || !secretMatches(presented.secret, record.secretHash)) {
      throw unauthorized(reply, 'the API key is unknown or revoked');
    }
    // A key row written by hand with a tenant outside the alphabet would name other tenants' payments.
    if (!isTenant(record.tenant)) {
      throw new PaymentError(ErrorCode.Forbidden, `key ${record.id} belongs to ${JSON.stringify(record.tenant)}, which is no tenant name`);
    }
    const needed = KEY_SCOPES.indexOf(neededScope(request));
    if (KEY_SCOPES.indexOf(record.scope) < needed) {
      const route = request.routeOptions.url === undefined ? 'this request' : `${request.method} ${request.routeOptions.url}`;
      const enough = KEY_SCOPES.slice(needed).join(' or ');
      throw new PaymentError(ErrorCode.Forbidden, `key ${record.id} has scope ${record.scope}; ${route} needs scope ${enough}`);
    }
    request.caller = { tenant: record.tenant, keyId: record.id };
    // Every later line of this request's log, its completion included, says who asked.
    request.log = request.log.child({ keyId: record.id, tenant: record.tenant });
    reply.log = request.log;

    const now = Date.now();
    if (now - (lastNoted.get(record.id) ?? 0) >= LAST_USED_EVERY_MS) {
      lastNoted.set(record.id, now);
      keys!.noteKeyUsed(record.id, new Date(now).toISOString()).catch((err: unknown) => request.log.warn({ err }, 'key use not recorded'));
    }
  });
}
