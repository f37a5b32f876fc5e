/**
 * Tenants keep callers apart: a payment-id or account-id names something only inside its
 * tenant. One rule gives each of them its service-wide name, used for the workflow ID, the
 * ledger's accounts and entries, the closing records and Stripe's idempotency keys: the id
 * itself in the tenant `default` (so everything made before tenants existed is the default
 * tenant's, unchanged), `<tenant>/<id>` in any other. Neither alphabet holds `/`, so the name
 * reads back one way only. Deterministic and free of I/O: the workflow imports it.
 */

/** Tenant names: letters, digits, `.`, `_`, `-` (no `/` and no `:`, which ids use). */
export const TENANT_PATTERN = '^[A-Za-z0-9._-]{1,64}$';
const TENANT_REGEX = new RegExp(TENANT_PATTERN);
export const DEFAULT_TENANT = 'default';
const SEPARATOR = '/';

/** Who a request acts for: its API key's tenant and id; with no key (AUTH=off), the tenant default and null. */
export interface Caller {
  tenant: string;
  keyId: string | null;
}

export const NO_KEY: Caller = Object.freeze({ tenant: DEFAULT_TENANT, keyId: null });

export function isTenant(value: string): boolean {
  return TENANT_REGEX.test(value);
}

/** The service-wide name of a tenant's payment-id or account-id. */
export function scopedId(tenant: string, id: string): string {
  return tenant === DEFAULT_TENANT ? id : tenant + SEPARATOR + id;
}

/** The tenant and the tenant's own id in a service-wide name. */
export function unscopedId(scoped: string): { tenant: string; id: string } {
  const at = scoped.indexOf(SEPARATOR);
  return at < 0 ? { tenant: DEFAULT_TENANT, id: scoped } : { tenant: scoped.slice(0, at), id: scoped.slice(at + SEPARATOR.length) };
}
