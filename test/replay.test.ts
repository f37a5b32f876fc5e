/**
 * Replays recorded payment histories (test/histories/*.json, from `npm run record-histories`)
 * against today's workflow code: a change that would break running payments fails here.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { workflowIdFor } from '../src/domain/payment';
import { paymentIdOfHistoryFile } from './histories/files';
import { quietRuntime, workflowBundle } from './helpers/servers';

const DIR = path.join(__dirname, 'histories');
const recorded = fs
  .readdirSync(DIR)
  .filter((file) => file.endsWith('.json'))
  .map((file) => ({ file, json: JSON.parse(fs.readFileSync(path.join(DIR, file), 'utf8')) }));

beforeAll(quietRuntime);

async function replayErrors(histories: { file: string; json: unknown }[]): Promise<(string | undefined)[]> {
  const results = Worker.runReplayHistories(
    { workflowBundle: workflowBundle() },
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

test('a history that does not match the code is caught (the check can fail)', async () => {
  const { file, json } = recorded.find((h) => h.file.endsWith('paid-replayed-refunded.json'))!;
  const tampered = JSON.parse(JSON.stringify(json).replaceAll('"name":"charge"', '"name":"refund"'));
  expect(tampered).not.toEqual(json);
  const [error] = await replayErrors([{ file, json: tampered }]);
  expect(error).toMatch(/nondetermin/i);
});
