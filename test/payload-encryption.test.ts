/**
 * What Temporal keeps of a payment is encrypted: the raw histories of a charged, a declined and
 * a cancelled payment hold no payload in clear, and their account id appears only in the search
 * attributes, which Temporal indexes. Through the gateway's codec endpoint the same payloads
 * read back as the payment.
 */
import type { temporal } from '@temporalio/proto';
import { workflowIdFor } from '../src/domain/contract';
import { ENCRYPTED_ENCODING, EncryptionCodec, KEY_ID_METADATA } from '../src/codec/encryption-codec';
import { call, cancel, pay, withGateway } from './helpers/gateway';
import { devServerPerFile, testCodec, testPayloadKeys } from './helpers/servers';
import { OPENING_BALANCE } from './helpers/stack';

const devServer = devServerPerFile();

type Payload = temporal.api.common.v1.IPayload;
const utf8 = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? []).toString('utf8');

/**
 * Every payload of a history (anything with metadata and data), and all its text: strings as
 * they are, bytes read as UTF-8, so that a JSON payload in clear would show. Search attributes
 * are left out: they are meant to be in clear.
 */
function walk(history: unknown): { payloads: { path: string; payload: Payload }[]; text: string } {
  const payloads: { path: string; payload: Payload }[] = [];
  const text: string[] = [];
  const visit = (value: unknown, path: string): void => {
    if (value instanceof Uint8Array) text.push(utf8(value));
    else if (typeof value === 'string') text.push(value);
    else if (Array.isArray(value)) value.forEach((item, index) => visit(item, `${path}[${index}]`));
    else if (value && typeof value === 'object') {
      if ('metadata' in value && 'data' in value) payloads.push({ path, payload: value as Payload });
      for (const [key, child] of Object.entries(value)) if (key !== 'searchAttributes') visit(child, `${path}.${key}`);
    }
  };
  visit(history, '');
  return { payloads, text: text.join('\n') };
}

/** A payload as the codec-server protocol carries it: protobuf's JSON, bytes in base64. */
function toJson(payload: Payload) {
  return {
    metadata: Object.fromEntries(
      Object.entries(payload.metadata ?? {}).map(([key, value]) => [key, Buffer.from(value).toString('base64')]),
    ),
    data: Buffer.from(payload.data ?? []).toString('base64'),
  };
}

/** The SDK's core writes a marker's own data itself (a local activity's id, type and timing), outside any codec's reach; its result is the SDK's. */
const writtenByCore = (path: string) => path.includes('markerRecordedEventAttributes') && path.includes('.details.data');

test('a charged, a declined and a cancelled payment: every payload encrypted under the first key, the account id only in search attributes', () =>
  withGateway(
    devServer.env,
    () => ({}),
    async ({ url }) => {
      const account = 'acct-private-7f3a';
      expect((await pay(url, 'enc-charged', { accountId: account, amount: 300 })).status).toBe(200);
      expect((await pay(url, 'enc-declined', { accountId: account, amount: OPENING_BALANCE * 10 })).status).toBe(402);
      expect((await pay(url, 'enc-cancelled', { accountId: account, amount: 200 })).status).toBe(200);
      expect((await cancel(url, 'enc-cancelled')).body).toMatchObject({ status: 'CANCELLED', refunded: true });

      const [first] = testPayloadKeys();
      for (const paymentId of ['enc-charged', 'enc-declined', 'enc-cancelled']) {
        const history = await devServer.env.client.workflow.getHandle(workflowIdFor(paymentId)).fetchHistory();
        const { payloads, text } = walk(history);
        const reachable = payloads.filter(({ path }) => !writtenByCore(path));
        expect(reachable.length).toBeGreaterThan(3);
        for (const { path, payload } of reachable) {
          expect({ path, encoding: utf8(payload.metadata?.encoding), key: utf8(payload.metadata?.[KEY_ID_METADATA]) }).toEqual({
            path,
            encoding: ENCRYPTED_ENCODING,
            key: first.id,
          });
        }
        expect({ paymentId, accountInClear: text.includes(account) }).toEqual({ paymentId, accountInClear: false });
        // A decline's failure names the balance left after the first charge: encrypted with the rest.
        expect(text).not.toContain(String(OPENING_BALANCE - 300));

        // Every one of them through the codec endpoint, as the CLI and the web UI read them: the payment shows.
        const decoded = await call(url, 'POST', '/codec/decode', {
          contentType: 'application/json',
          body: JSON.stringify({ payloads: reachable.map(({ payload }) => toJson(payload)) }),
        });
        expect(decoded.status).toBe(200);
        const clear = (decoded.body.payloads as { metadata: Record<string, string>; data: string }[]).map((payload) => ({
          encoding: Buffer.from(payload.metadata.encoding!, 'base64').toString(),
          data: Buffer.from(payload.data, 'base64').toString(),
        }));
        expect(clear.every(({ encoding }) => encoding === 'json/plain')).toBe(true);
        expect(clear.some(({ data }) => data.includes(`"accountId":"${account}"`))).toBe(true);
      }
    },
  ));

test('the codec endpoint: encode then decode gives the payloads back, a payload in clear passes as it is, an unknown key is named', () =>
  withGateway(
    devServer.env,
    () => ({}),
    async ({ url }) => {
      const plain = {
        metadata: { encoding: Buffer.from('json/plain').toString('base64') },
        data: Buffer.from('{"a":1}').toString('base64'),
      };
      const post = (operation: string, body: unknown) =>
        call(url, 'POST', `/codec/${operation}`, { contentType: 'application/json', body: JSON.stringify(body) });

      const encoded = await post('encode', { payloads: [plain] });
      expect(encoded.status).toBe(200);
      expect(Buffer.from(encoded.body.payloads[0].metadata.encoding, 'base64').toString()).toBe(ENCRYPTED_ENCODING);
      expect(encoded.body.payloads[0].data).not.toBe(plain.data);
      expect((await post('decode', encoded.body)).body).toEqual({ payloads: [plain] });
      expect((await post('decode', { payloads: [plain] })).body).toEqual({ payloads: [plain] });
      // What the CLI sends when it has nothing to decode.
      expect((await post('decode', {})).body).toEqual({ payloads: [] });

      const foreign = { ...encoded.body.payloads[0], metadata: { ...encoded.body.payloads[0].metadata, [KEY_ID_METADATA]: 'retired-key' } };
      foreign.metadata[KEY_ID_METADATA] = Buffer.from('retired-key').toString('base64');
      const refused = await post('decode', { payloads: [foreign] });
      expect(refused.status).toBe(400);
      expect(refused.body.error.message).toContain('retired-key');
      expect((await post('decode', { payloads: [{ data: 'not base64!' }] })).status).toBe(400);
      const sealed = Buffer.from(encoded.body.payloads[0].data, 'base64');
      sealed[sealed.length - 1]! ^= 1;
      const altered = await post('decode', { payloads: [{ ...encoded.body.payloads[0], data: sealed.toString('base64') }] });
      expect(altered.status).toBe(400);
      expect(altered.body.error.message).toContain('does not decrypt');
    },
  ));

test('decrypt-only, the first deploy of encryption: payloads are written in clear, encrypted ones still read', async () => {
  const keys = testPayloadKeys();
  const plain = { metadata: { encoding: new TextEncoder().encode('json/plain') }, data: new TextEncoder().encode('{"a":1}') };
  const sealed = await new EncryptionCodec(keys).encode([plain]);
  const decryptOnly = new EncryptionCodec(keys, { encrypts: false });
  expect(await decryptOnly.encode([plain])).toEqual([plain]);
  const [read] = await decryptOnly.decode(sealed);
  expect([utf8(read!.metadata?.encoding), utf8(read!.data)]).toEqual(['json/plain', '{"a":1}']);
});

test("the web UI's origin may call the codec endpoint from a browser; another origin may not", () =>
  withGateway(
    devServer.env,
    () => ({ codec: { codec: testCodec(), origins: ['http://localhost:8233'] } }),
    async ({ url }) => {
      const preflight = (origin: string) =>
        fetch(`${url}/codec/decode`, {
          method: 'OPTIONS',
          headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,x-namespace' },
        });
      const allowed = await preflight('http://localhost:8233');
      expect(allowed.status).toBe(204);
      expect(allowed.headers.get('access-control-allow-origin')).toBe('http://localhost:8233');
      expect(allowed.headers.get('access-control-allow-headers')).toContain('x-namespace');
      expect((await preflight('https://elsewhere.example')).headers.get('access-control-allow-origin')).toBeNull();

      const decode = (origin: string) =>
        call(url, 'POST', '/codec/decode', { contentType: 'application/json', body: '{"payloads":[]}', headers: { origin } });
      expect((await decode('http://localhost:8233')).status).toBe(200);
      expect((await decode('https://elsewhere.example')).status).toBe(403);
    },
  ));
