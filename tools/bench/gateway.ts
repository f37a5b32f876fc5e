/** The bench stack's gateway: `npm run api`'s, with POST /bench/ceiling/:id, the measure of Temporal alone. */
import { runGateway } from '../../src/api';
import { loadConfigOrExit } from '../../src/config';
import { createClient } from '../../src/temporal';
import { paymentCodec, paymentDataConverter } from '../../src/codec/data-converter';
import { ceilingRoute } from './ceiling-route';

const config = loadConfigOrExit();
runGateway(config, async (app) => {
  const client = createClient(config, paymentDataConverter(paymentCodec(config)));
  app.addHook('onClose', () => client.connection.close());
  await app.register(ceilingRoute, { client, taskQueue: config.taskQueue });
}).catch((err) => {
  process.stderr.write(`gateway failed: ${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
