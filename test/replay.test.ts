/**
 * Replays recorded payment histories (test/histories/*.json, from `npm run record-histories`)
 * against today's workflow code: a change that would break running payments fails here.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { workflowIdFor } from '../src/domain/contract';
import { paymentIdOfHistoryFile } from './histories/files';
import { quietRuntime, testDataConverter, workflowBundle } from './helpers/servers';

const DIR = path.join(__dirname, 'histories');
const recorded = fs
  .readdirSync(DIR)
  .filter((file) => file.endsWith('.json'))
  .map((file) => ({ file, json: JSON.parse(fs.readFileSync(path.join(DIR, file), 'utf8')) }));

beforeAll(quietRuntime);

async function replayErrors(histories: { file: string; json: unknown }[]): Promise<(string | undefined)[]> {
  const results = Worker.runReplayHistories(
    { workflowBundle: workflowBundle(), dataConverter: testDataConverter() },
    histories.map(({ file, json }) => ({ workflowId: workflowIdFor(paymentIdOfHistoryFile(file)), history: historyFromJSON(json) })),
  );
  const errors: (string | undefined)[] = [];
  for await (const result of results) errors.push(result.error?.message);
  return errors;
}

test('every recorded history replays without nondeterminism', async () => {
  expect(recorded.length).toBeGreaterThanOrEqual(5);
  expect(await replayErrors(recorded)).toEqual(recorded.map(() => undefined));
});

/** The history with its first local activity marker saying `refund` where the code runs `charge`. */
function swapFirstChargeForRefund(json: any): any {
  const tampered = JSON.parse(JSON.stringify(json));
  const marker = tampered.events.find((e: any) => e.markerRecordedEventAttributes)!.markerRecordedEventAttributes;
  const payload = marker.details.data.payloads[0];
  const data = Buffer.from(payload.data, 'base64').toString('utf8');
  expect(data).toContain('"activity_type":"charge"');
  payload.data = Buffer.from(data.replace('"activity_type":"charge"', '"activity_type":"refund"')).toString('base64');
  return tampered;
}

test('a history that does not match the code is caught (the check can fail)', async () => {
  const { file, json } = recorded.find((h) => h.file.endsWith('paid-replayed-refunded.json'))!;
  const [error] = await replayErrors([{ file, json: swapFirstChargeForRefund(json) }]);
  expect(error).toMatch(/nondetermin/i);
});
