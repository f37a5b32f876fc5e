/**
 * `npm run build`: compiles src/ to dist/ and bundles the workflow code once into
 * dist/workflows.bundle.js, so that a production worker (`node dist/worker.js`) and gateway
 * (`node dist/api.js`) start with plain Node: no tsx, no TypeScript, no bundler at start.
 * `--out DIR` builds elsewhere (a directory inside the project, where node_modules resolve).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { bundleWorkflows } from '../src/workflow-bundle';
import { PROJECT_ROOT } from './paths';

async function main(): Promise<void> {
  const at = process.argv.indexOf('--out');
  const out = path.resolve(at > 0 && process.argv[at + 1] ? process.argv[at + 1]! : path.join(PROJECT_ROOT, 'dist'));
  // The build starts by deleting `out`: never the checkout, nor anything in it the build did not make.
  const inProject = path.relative(PROJECT_ROOT, out);
  const outside = inProject.startsWith('..') || path.isAbsolute(inProject);
  const holdsProject = out === PROJECT_ROOT || PROJECT_ROOT.startsWith(out + path.sep);
  if (holdsProject || (!outside && !/^(dist|\.cache)([/\\]|$)/.test(inProject))) {
    throw new Error(`--out ${out}: give dist/, a folder under .cache/, or one outside the project that holds none of it`);
  }
  fs.rmSync(out, { recursive: true, force: true });
  const tsc = require.resolve('typescript/bin/tsc');
  execFileSync(process.execPath, [tsc, '-p', path.join(PROJECT_ROOT, 'tsconfig.build.json'), '--outDir', out], { stdio: 'inherit' });
  const { code } = await bundleWorkflows();
  // The name the compiled worker looks for beside itself (PREBUILT_BUNDLE).
  fs.writeFileSync(path.join(out, 'workflows.bundle.js'), code);
  process.stdout.write(
    `built ${out}: node ${path.relative(process.cwd(), path.join(out, 'worker.js'))}, ` +
      `node ${path.relative(process.cwd(), path.join(out, 'api.js'))}\n`,
  );
}

main().catch((err) => {
  process.stderr.write(`build failed: ${(err as Error).message}\n`);
  process.exit(1);
});
