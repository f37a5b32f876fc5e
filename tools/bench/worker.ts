/** The bench stack's worker: `npm run worker`'s, with the ceiling workflow and its no-op activity beside the payment. */
import * as path from 'node:path';
import { loadConfigOrExit } from '../../src/config';
import { runWorker } from '../../src/worker';
import { PROJECT_ROOT } from '../paths';
import { ceilingActivities } from './ceiling';

runWorker(loadConfigOrExit(), {
  workflows: { path: require.resolve('./workflows'), cacheDir: path.join(PROJECT_ROOT, '.cache', 'bench-workflow-bundle') },
  moreActivities: ceilingActivities,
}).catch((err) => {
  process.stderr.write(`worker failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
