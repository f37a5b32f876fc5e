/**
 * The payload keys: the key file that the processes of one machine share when PAYLOAD_KEYS is
 * unset, and a rotation (the new key first, the old one after it) under payments in flight.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client } from '@temporalio/client';
import { decodeOptionalFailureToOptionalError, loadDataConverter } from '@temporalio/common/lib/internal-non-workflow';
import { paymentDataConverter } from '../src/codec/data-converter';
import { EncryptionCodec, KEY_ID_METADATA } from '../src/codec/encryption-codec';
import { KEY_FILE, newPayloadKey, parsePayloadKeys } from '../src/codec/payload-keys';
import { cancelPaymentSignal, workflowIdFor } from '../src/domain/contract';
import { SqliteLedger } from '../src/ledger/sqlite';
import { LedgerProvider } from '../src/providers/ledger';
import { createPaymentWorker } from '../src/worker';
import { TYPESCRIPT } from '../tools/launch';
import { eventually } from './helpers/eventually';
import { cancel, pay, startGateway } from './helpers/gateway';
import { type Proc, startEntry, startNode } from './helpers/processes';
import { devServerPerFile, tempDir, workflowBundle } from './helpers/servers';
import { HOUR } from './helpers/stack';

const devServer = devServerPerFile();

describe('the key file, when PAYLOAD_KEYS is unset', () => {
  test('eight processes starting at once on an empty DATA_DIR all read the one key file, made with mode 600', async () => {
    const dataDir = path.join(tempDir('key-file'), 'data');
    const script = `const { keyFileKeys } = require('./src/codec/payload-keys');
const [key] = keyFileKeys(process.env.DATA_DIR);
process.stdout.write(key.id + ' ' + require('node:crypto').createHash('sha256').update(key.key).digest('hex'));`;
    const procs = Array.from({ length: 8 }, () => startNode([...TYPESCRIPT, '-e', script], { DATA_DIR: dataDir }));
    expect(await Promise.all(procs.map((proc) => proc.exited))).toEqual(Array(8).fill(0));
    const read = procs.map((proc) => proc.output());
    expect(new Set(read).size).toBe(1);
    expect(read[0]).toMatch(/^local-[0-9a-f]{8} [0-9a-f]{64}$/);
    expect(fs.statSync(path.join(dataDir, KEY_FILE)).mode & 0o777).toBe(0o600);
    // No draft left behind by the processes whose link lost.
    expect(fs.readdirSync(dataDir)).toEqual([KEY_FILE]);
  });

  test('npm run worker and npm run api started together on an empty DATA_DIR share it: a payment through them is charged', async () => {
    const dataDir = tempDir('key-file-stack');
    const env = {
      PAYLOAD_KEYS: '',
      DATA_DIR: dataDir,
      TEMPORAL_ADDRESS: devServer.env.address,
      TASK_QUEUE: `keys-${randomUUID()}`,
      AUTH: 'off',
      PORT: '0',
      LOG_LEVEL: 'info',
    };
    const processes: Proc[] = [startEntry('src/worker.ts', env), startEntry('src/api.ts', env)];
    try {
      const url = await eventually('the gateway listens', async () => /gateway on (http:\/\/\S+?),/.exec(processes[1]!.output())?.[1]);
      await eventually('the worker polls', async () => (processes[0]!.output().includes('worker polling') ? true : undefined));
      const answer = await pay(url, 'key-file-1', { accountId: 'acct-key-file', amount: 10 });
      expect(answer.body).toMatchObject({ status: 'COMPLETED' });
      expect(fs.readdirSync(dataDir)).toContain(KEY_FILE);
    } finally {
      for (const proc of processes) proc.kill();
    }
  });
});

test('rotation: a payment made under k1 is cancelled and refunded under k2,k1; a new one is encrypted under k2; a process with only k2 names k1', async () => {
  const k1 = newPayloadKey('k1');
  const k2 = newPayloadKey('k2');
  const codec = (keys: string) => new EncryptionCodec(parsePayloadKeys(keys));
  const { env } = devServer;
  const ledger = new SqliteLedger({ file: path.join(tempDir('rotation'), 'ledger.db'), openingBalance: 1000 });
  const taskQueue = `rotation-${randomUUID()}`;
  const client = (keys: string) =>
    new Client({ connection: env.connection, namespace: 'default', dataConverter: paymentDataConverter(codec(keys)) });
  const workerWith = (keys: string) =>
    createPaymentWorker({
      connection: env.nativeConnection,
      namespace: 'default',
      taskQueue,
      provider: new LedgerProvider(ledger),
      records: ledger,
      expiryMs: HOUR,
      workflowBundle: workflowBundle(),
      dataConverter: paymentDataConverter(codec(keys)),
    });
  /** The worker and gateway of one deploy, under these keys. */
  const deploy = async (keys: string) => {
    const worker = await workerWith(keys);
    const running = worker.run();
    const gateway = await startGateway({
      client: client(keys),
      ledger,
      taskQueue,
      expiryMs: HOUR,
      codec: { codec: codec(keys), origins: [] },
    });
    return {
      url: gateway.url,
      stop: async () => {
        await gateway.app.close();
        worker.shutdown();
        await running;
      },
    };
  };
  const keyOfInput = async (paymentId: string) => {
    const { events } = await env.client.workflow.getHandle(workflowIdFor(paymentId)).fetchHistory();
    const accepted = events!.find((event) => event.workflowExecutionUpdateAcceptedEventAttributes)!;
    const [payload] = accepted.workflowExecutionUpdateAcceptedEventAttributes!.acceptedRequest!.input!.args!.payloads!;
    return Buffer.from(payload!.metadata![KEY_ID_METADATA]!).toString();
  };

  try {
    const before = await deploy(k1);
    expect((await pay(before.url, 'rot-1', { accountId: 'acct-rot', amount: 100 })).body).toMatchObject({ status: 'COMPLETED' });
    await before.stop();
    expect(await keyOfInput('rot-1')).toBe('k1');

    // A worker deployed with only the new key: the old payment's task fails, and says which key it lacks.
    const onlyK2 = await workerWith(k2);
    const runningK2 = onlyK2.run();
    const handle = client(`${k2},${k1}`).workflow.getHandle(workflowIdFor('rot-1'));
    await handle.signal(cancelPaymentSignal);
    const failure = await eventually('the task failed', async () => {
      const { events } = await handle.fetchHistory();
      return events?.find((event) => event.workflowTaskFailedEventAttributes)?.workflowTaskFailedEventAttributes?.failure;
    });
    onlyK2.shutdown();
    await runningK2;
    const message = (await decodeOptionalFailureToOptionalError(loadDataConverter(paymentDataConverter(codec(`${k2},${k1}`))), failure))
      ?.message;
    expect(message).toContain('encrypted under key k1');
    expect(await ledger.entriesOf('rot-1')).toHaveLength(1);

    // Deployed with k2 first and k1 after it: the payment in flight goes on.
    const after = await deploy(`${k2},${k1}`);
    try {
      expect((await cancel(after.url, 'rot-1')).body).toEqual({ paymentId: 'rot-1', status: 'CANCELLED', refunded: true });
      expect((await ledger.entriesOf('rot-1')).map((entry) => entry.kind)).toEqual(['charge', 'refund']);
      expect((await pay(after.url, 'rot-2', { accountId: 'acct-rot', amount: 50 })).body).toMatchObject({ status: 'COMPLETED' });
      expect(await keyOfInput('rot-2')).toBe('k2');
    } finally {
      await after.stop();
    }
  } finally {
    await ledger.close();
  }
});
