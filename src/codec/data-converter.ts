/** The data converter of every client and worker: the encryption codec, and failures encoded so that it reaches them. */
import type { DataConverter, PayloadCodec } from '@temporalio/common';
import type { Config } from '../config';
import { EncryptionCodec } from './encryption-codec';
import { keyFileKeys } from './payload-keys';

/** Also given to the workflow bundle, whose failures are made inside the workflow sandbox. */
export const FAILURE_CONVERTER_PATH = require.resolve('./failure-converter');

export function paymentDataConverter(codec: PayloadCodec): DataConverter {
  return { payloadCodecs: [codec], failureConverterPath: FAILURE_CONVERTER_PATH };
}

/** The codec over PAYLOAD_KEYS, or else over the key file under DATA_DIR (made now if there is none). */
export function paymentCodec(config: Pick<Config, 'payloadKeys' | 'dataDir' | 'payloadEncryption'>): EncryptionCodec {
  return new EncryptionCodec(config.payloadKeys ?? keyFileKeys(config.dataDir), { encrypts: config.payloadEncryption === 'on' });
}
