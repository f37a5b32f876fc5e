/** The bench stack's worker: `npm run worker`'s, with the ceiling workflow and its no-op activity beside the payment. */
import * as path from 'node:path';
import { loadConfigOrExit } from '../../src/config';
import { runWorker } from '../../src/worker';
import { PROJECT_ROOT } from '../paths';
import { ceilingActivities } from './ceiling';

/** The stateless modules the payment workflow imports, loaded once per worker thread instead of once per workflow (a lever). */
const PRELOAD = [
  '../../src/domain/contract',
  '../../src/domain/answers',
  '../../src/domain/errors',
  '../../src/domain/search-attributes',
  '../../src/domain/tenancy',
  '../../src/workflows/transitions',
].map((m) => require.resolve(m));
const preload = process.env.BENCH_PRELOAD_MODULES === 'on';

runWorker(loadConfigOrExit(), {
  workflows: {
    path: require.resolve('./workflows'),
    cacheDir: path.join(PROJECT_ROOT, '.cache', preload ? 'bench-workflow-bundle-preload' : 'bench-workflow-bundle'),
    preloadModules: preload ? PRELOAD : [],
  },
  moreActivities: ceilingActivities,
}).catch((err) => {
  process.stderr.write(`worker failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
