/**
 * The cached workflow bundle is used only while every file it was made from is unchanged: a
 * worker never runs stale workflow code. On a workflow file of the test's own (inside the
 * project, so that it resolves the SDK), in a cache directory of its own.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { loadWorkflowBundle } from '../src/workflow-bundle';
import { PROJECT_ROOT } from '../tools/paths';

jest.setTimeout(120_000);

const dir = path.join(PROJECT_ROOT, '.cache', `bundle-test-${randomUUID()}`);
const workflowsPath = path.join(dir, 'workflows.ts');
const cacheDir = path.join(dir, 'cache');
const workflow = (answer: string) =>
  "import { sleep } from '@temporalio/workflow';\n" +
  `export async function probe(): Promise<string> {\n  await sleep(1);\n  return '${answer}';\n}\n`;

beforeAll(() => fs.mkdirSync(dir, { recursive: true }));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('made once, then read from the cache until a source it was made from changes', async () => {
  const warnings: string[] = [];
  const load = () => loadWorkflowBundle({ cacheDir, workflowsPath, warn: (line) => warnings.push(line) });
  fs.writeFileSync(workflowsPath, workflow('first'));

  const made = await load();
  expect(made.cached).toBe(false);
  expect(made.code).toContain("'first'");
  const again = await load();
  expect(again).toEqual({ code: made.code, cached: true });

  // The workflow's own file changed: bundled afresh, and the new bundle cached.
  fs.writeFileSync(workflowsPath, workflow('second'));
  const changed = await load();
  expect(changed.cached).toBe(false);
  expect(changed.code).toContain("'second'");
  expect(changed.code).not.toContain("'first'");
  expect(await load()).toEqual({ code: changed.code, cached: true });

  // The manifest keys the SDK's files too, and the package they come from.
  const manifest = JSON.parse(fs.readFileSync(path.join(cacheDir, 'manifest.json'), 'utf8')) as {
    files: Record<string, string>;
    bundle: string;
  };
  expect(Object.keys(manifest.files)).toEqual(
    expect.arrayContaining([workflowsPath, expect.stringMatching(/@temporalio[/\\]workflow[/\\]package\.json$/)]),
  );

  // A cached bundle that is not what the manifest says (a torn or edited file) is not used.
  fs.appendFileSync(path.join(cacheDir, manifest.bundle), '\n// edited');
  const rebuilt = await load();
  expect(rebuilt).toEqual({ code: changed.code, cached: false });
  expect(warnings).toEqual([]);
});

test('a cache that cannot be written costs only the time', async () => {
  fs.writeFileSync(workflowsPath, workflow('third'));
  const blocked = path.join(dir, 'not-a-directory');
  fs.writeFileSync(blocked, '');
  const warnings: string[] = [];
  const loaded = await loadWorkflowBundle({ cacheDir: blocked, workflowsPath, warn: (line) => warnings.push(line) });
  expect(loaded.cached).toBe(false);
  expect(loaded.code).toContain("'third'");
  expect(warnings).toEqual([expect.stringContaining('workflow bundle not cached')]);
});
