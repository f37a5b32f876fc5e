/**
 * Child process for the ledger's concurrency test: charges and refunds a pool of payment-ids
 * on a shared SQLite file, in an order drawn from its seed. Prints what it was told.
 */
import { InsufficientFundsError } from '../../src/ledger/ledger';
import { SqliteLedger } from '../../src/ledger/sqlite';

const [file, seedText, countText] = process.argv.slice(2);
let seed = Number(seedText);
const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);

async function main(): Promise<void> {
  const ledger = new SqliteLedger({ file: file!, openingBalance: 1000 });
  const told = { charged: 0, declined: 0, refunded: 0 };
  for (let i = 0; i < Number(countText); i++) {
    const paymentId = `p${Math.floor(random() * 40)}`;
    const accountId = `a${Number(paymentId.slice(1)) % 4}`;
    try {
      if (random() < 0.7) {
        const { existing } = await ledger.charge(paymentId, accountId, 100, `run-${seedText}`);
        if (!existing) told.charged++;
      } else {
        const { existing } = await ledger.refund(paymentId, `run-${seedText}`);
        if (!existing) told.refunded++;
      }
    } catch (err) {
      if (err instanceof InsufficientFundsError) told.declined++;
      else if ((err as Error).name !== 'NoChargeError') throw err;
    }
  }
  await ledger.close();
  process.stdout.write(JSON.stringify(told));
}

void main();
