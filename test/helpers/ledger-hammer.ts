/**
 * Child process for the ledger's concurrency test: opens the ledger a worker with the given
 * environment (JSON) would open, then charges and refunds a pool of payment-ids in an order
 * drawn from its seed. Prints what it was told.
 */
import { loadConfig } from '../../src/config';
import { InsufficientFundsError, NoChargeError } from '../../src/ledger/ledger';
import { openLedger } from '../../src/ledger/open';

const [envJson, seedText, countText] = process.argv.slice(2);
let seed = Number(seedText);
const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;

async function main(): Promise<void> {
  const ledger = await openLedger(loadConfig(JSON.parse(envJson!)));
  const told = { charged: 0, declined: 0, refunded: 0 };
  for (let i = 0; i < Number(countText); i++) {
    const paymentId = `p${Math.floor(random() * 40)}`;
    const accountId = `a${Number(paymentId.slice(1)) % 4}`;
    try {
      // Account a3 is only ever charged, so it surely runs short: 10 payment-ids of 150 and 1000.
      if (random() < 0.7 || accountId === 'a3') {
        const { existing } = await ledger.charge(paymentId, accountId, 150, `run-${seedText}`);
        if (!existing) told.charged++;
      } else {
        const { existing } = await ledger.refund(paymentId, `run-${seedText}`);
        if (!existing) told.refunded++;
      }
    } catch (err) {
      if (err instanceof InsufficientFundsError) told.declined++;
      else if (!(err instanceof NoChargeError)) throw err;
    }
  }
  await ledger.close();
  process.stdout.write(JSON.stringify(told));
}

void main();
