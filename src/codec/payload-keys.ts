/**
 * The keys payloads are encrypted with: PAYLOAD_KEYS (`id:base64key[,id:base64key...]`, the
 * first encrypts, every one decrypts), or else a key file under DATA_DIR that the processes of
 * one machine share. No function here puts a key's bytes into a message.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** AES-256. */
export const KEY_BYTES = 32;
const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
/** KEY_ID in words, for the messages that refuse an id. */
export const KEY_ID_RULE = '1 to 64 of A-Z a-z 0-9 . _ -';
/** Standard base64 of 32 bytes, padded, as `npm run keys -- payload-key` prints it. */
const BASE64_KEY = /^[A-Za-z0-9+/]{43}=$/;

export interface PayloadKey {
  /** Carried in each encrypted payload's metadata (`encryption-key-id`): public. */
  id: string;
  key: Buffer;
}

/** The first encrypts; each listed key decrypts. */
export type PayloadKeys = readonly [PayloadKey, ...PayloadKey[]];

/** The keys of a PAYLOAD_KEYS value (or a key file's line); the error says what is wrong without showing a key. */
export function parsePayloadKeys(text: string): PayloadKeys {
  const keys = text
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry, index): PayloadKey => {
      const at = entry.indexOf(':');
      const id = at < 0 ? '' : entry.slice(0, at);
      const encoded = at < 0 ? '' : entry.slice(at + 1);
      if (!isPayloadKeyId(id)) {
        throw new Error(`entry ${index + 1} is not id:base64key (the id is ${KEY_ID_RULE})`);
      }
      if (!BASE64_KEY.test(encoded)) throw new Error(`key ${id} is not ${KEY_BYTES} bytes in base64`);
      return { id, key: Buffer.from(encoded, 'base64') };
    });
  if (keys.length === 0) throw new Error('names no key: expected id:base64key[,id:base64key...]');
  const ids = keys.map((key) => key.id);
  const repeated = ids.find((id, index) => ids.indexOf(id) !== index);
  if (repeated !== undefined) throw new Error(`names key ${repeated} twice`);
  return keys as unknown as PayloadKeys;
}

export function isPayloadKeyId(id: string): boolean {
  return KEY_ID.test(id);
}

/** A new key in PAYLOAD_KEYS's form; its id, unless given, names the day it was made. */
export function newPayloadKey(id = `key-${new Date().toISOString().slice(0, 10)}-${randomBytes(2).toString('hex')}`): string {
  if (!isPayloadKeyId(id)) throw new Error(`a key id is ${KEY_ID_RULE}, got ${JSON.stringify(id)}`);
  return `${id}:${randomBytes(KEY_BYTES).toString('base64')}`;
}

export const KEY_FILE = 'payload-keys';

/**
 * The key file's keys, the file made first if there is none. Two processes starting at once on
 * an empty DATA_DIR each write a whole file of their own and link it into place; the link of
 * the second fails, and it reads the first's, so both encrypt with the same key.
 */
export function keyFileKeys(dataDir: string): PayloadKeys {
  const file = path.join(dataDir, KEY_FILE);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(dataDir, { recursive: true });
    const draft = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const fd = fs.openSync(draft, 'wx', 0o600);
    try {
      fs.writeSync(fd, `${newPayloadKey(`local-${randomBytes(4).toString('hex')}`)}\n`);
      // On disk before it has the file's name: a crash then leaves no empty key file behind.
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    try {
      fs.linkSync(draft, file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    } finally {
      fs.rmSync(draft, { force: true });
    }
  }
  try {
    return parsePayloadKeys(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`the payload key file ${file} ${(err as Error).message}`);
  }
}
