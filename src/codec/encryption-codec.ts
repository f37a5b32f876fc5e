/**
 * The payload codec of every process that talks to Temporal: each payload is encrypted whole
 * (its metadata too, so nothing says it held JSON) with AES-256-GCM under the first key, and
 * carries that key's id in clear so that any process holding the key can read it back.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import type { PayloadKey, PayloadKeys } from './payload-keys';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
const IV_BYTES = 12;
const TAG_BYTES = 16;

const text = new TextEncoder();
const read = (bytes: Uint8Array | null | undefined) => (bytes ? Buffer.from(bytes).toString('utf8') : undefined);

/**
 * A payload this process cannot read: under a key it was not given (the message names the key,
 * so that an operator sees which one is missing), or altered. Its task fails with this.
 */
export class UndecryptablePayloadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UndecryptablePayloadError';
  }
}

export class EncryptionCodec implements PayloadCodec {
  // Private to the class, not merely to TypeScript: an options object logged or inspected deeply shows no key.
  readonly #byId: ReadonlyMap<string, Buffer>;
  readonly #current: PayloadKey;
  readonly #encrypts: boolean;

  /**
   * `encrypts: false` (PAYLOAD_ENCRYPTION=decrypt-only) writes payloads in clear and still reads
   * encrypted ones: the first deploy of encryption, while processes of the release before, which
   * read only clear payloads, still run beside this one's.
   */
  constructor(keys: PayloadKeys, { encrypts = true }: { encrypts?: boolean } = {}) {
    this.#current = keys[0];
    this.#byId = new Map(keys.map(({ id, key }) => [id, key]));
    this.#encrypts = encrypts;
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    return this.#encrypts ? payloads.map((payload) => this.encrypt(payload)) : payloads;
  }

  /** Payloads not encrypted here (JSON given to `temporal workflow start`) pass as they are. */
  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => (read(payload.metadata?.encoding) === ENCRYPTED_ENCODING ? this.decrypt(payload) : payload));
  }

  private encrypt(payload: Payload): Payload {
    const { id, key } = this.#current;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    // The key id is bound to the ciphertext: a payload relabelled with another key's id fails to decrypt.
    cipher.setAAD(Buffer.from(id));
    const plain = temporal.api.common.v1.Payload.encode(payload).finish();
    const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    return { metadata: { encoding: text.encode(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: text.encode(id) }, data: sealed };
  }

  private decrypt(payload: Payload): Payload {
    const id = read(payload.metadata?.[KEY_ID_METADATA]);
    if (id === undefined) throw new UndecryptablePayloadError(`an encrypted payload carries no ${KEY_ID_METADATA}`);
    const key = this.#byId.get(id);
    if (!key) {
      throw new UndecryptablePayloadError(
        `a payload is encrypted under key ${id}, which this process was not given (it has ${[...this.#byId.keys()].join(', ')}): ` +
          'add that key to PAYLOAD_KEYS',
      );
    }
    const sealed = Buffer.from(payload.data ?? []);
    if (sealed.length < IV_BYTES + TAG_BYTES)
      throw new UndecryptablePayloadError(`an encrypted payload under key ${id} is too short to be one`);
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(id));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    let plain: Buffer;
    try {
      plain = Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new UndecryptablePayloadError(
        `a payload under key ${id} does not decrypt with the key of that id this process has: altered, or another key given the same id`,
      );
    }
    try {
      return temporal.api.common.v1.Payload.decode(plain);
    } catch {
      throw new UndecryptablePayloadError(`a payload under key ${id} decrypts to no payload`);
    }
  }
}
