/**
 * The API key format: `pk_<id>_<secret>`. The id (16 hex characters) is public: it names the
 * key in logs and listings and finds its record. The secret (32 random bytes, base64url) is
 * shown once, when the key is made; the database keeps only its sha256, and a presented key is
 * checked against that hash in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const KEY = /^pk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export interface NewKey {
  id: string;
  /** The whole key, to hand to its owner once. */
  key: string;
  secretHash: string;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export function newKey(): NewKey {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return { id, key: `pk_${id}_${secret}`, secretHash: hashSecret(secret) };
}

/** The id and secret of a well-formed key; undefined for anything else. */
export function parseKey(key: string): { id: string; secret: string } | undefined {
  const match = KEY.exec(key);
  return match ? { id: match[1]!, secret: match[2]! } : undefined;
}

/** Whether the secret hashes to the stored hash; the comparison takes the same time wherever they differ. */
export function secretMatches(secret: string, secretHash: string): boolean {
  const presented = Buffer.from(hashSecret(secret), 'hex');
  const stored = Buffer.from(secretHash, 'hex');
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}
