/**
 * Temporal's codec-server protocol under /codec: the temporal CLI (`--codec-endpoint`) and the
 * web UI send the payloads they hold to /codec/decode and get them back readable, and may send
 * payloads to /codec/encode. A key of scope `admin` is asked for (AUTH=keys), since a decoded
 * payload shows any tenant's payment; the web UI's origins may call it from the browser.
 */
import cors from '@fastify/cors';
import type { FastifyPluginAsyncJsonSchemaToTs } from '@fastify/type-provider-json-schema-to-ts';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { ErrorCode, PaymentError } from '../domain/errors';
import { UndecryptablePayloadError } from '../codec/encryption-codec';
import { commonErrors, errorRef } from './schemas';

export interface CodecDeps {
  codec: PayloadCodec;
  /** Browser origins that may call it (the web UI's), beside none other. */
  origins: readonly string[];
}

/** A whole history's payloads in one request: Temporal's own limit on one payload is 2 MiB. */
export const CODEC_BODY_LIMIT = 8 * 1024 * 1024;

const base64 = { type: 'string', pattern: '^[A-Za-z0-9+/]*={0,2}$' } as const;

/** A Payload as protobuf's JSON mapping writes it: bytes in base64. */
const payloadsBody = {
  type: 'object',
  properties: {
    payloads: {
      type: 'array',
      items: {
        type: 'object',
        properties: { metadata: { type: 'object', additionalProperties: base64 }, data: base64 },
        additionalProperties: false,
      },
    },
  },
  // Protobuf's JSON leaves out an empty list: the CLI sends {} when it has nothing to decode.
  additionalProperties: false,
} as const;

type JsonPayload = { metadata?: Record<string, string>; data?: string };

const bytes = (text: string) => new Uint8Array(Buffer.from(text, 'base64'));
const text = (value: Uint8Array | null | undefined) => Buffer.from(value ?? []).toString('base64');

function fromJson({ metadata = {}, data = '' }: JsonPayload): Payload {
  return { metadata: Object.fromEntries(Object.entries(metadata).map(([key, value]) => [key, bytes(value)])), data: bytes(data) };
}

function toJson(payload: Payload): JsonPayload {
  return {
    metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([key, value]) => [key, text(value)])),
    data: text(payload.data),
  };
}

export const codecRoutes: FastifyPluginAsyncJsonSchemaToTs<{ Options: CodecDeps }> = async (app, { codec, origins }) => {
  await app.register(cors, {
    origin: [...origins],
    methods: ['POST'],
    // What the web UI sends: its namespace, and the operator's key when it is given one.
    allowedHeaders: ['content-type', 'x-namespace', 'authorization'],
    maxAge: 600,
  });
  const route = (operation: 'encode' | 'decode', summary: string) =>
    app.post(
      `/${operation}`,
      {
        bodyLimit: CODEC_BODY_LIMIT,
        config: { scope: 'admin', origins },
        schema: {
          summary,
          body: payloadsBody,
          response: { 200: payloadsBody, 401: errorRef, 403: errorRef, ...commonErrors },
        },
      },
      async (request) => {
        try {
          return { payloads: (await codec[operation]((request.body.payloads ?? []).map(fromJson))).map(toJson) };
        } catch (err) {
          if (err instanceof UndecryptablePayloadError) throw new PaymentError(ErrorCode.InvalidRequest, err.message);
          throw err;
        }
      },
    );
  route('decode', "Temporal's codec server: payloads made readable, for the temporal CLI and the web UI");
  route('encode', "Temporal's codec server: payloads encrypted as workers and gateways encrypt them");
};
