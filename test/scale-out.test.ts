/**
 * Scaled out: three worker processes and two gateway processes on one dev server, sharing a
 * ledger on a real PostgreSQL server. Clients spread over both gateways send colliding
 * requests while workers and gateways are SIGKILLed and restarted; the chaos checker then
 * finds every invariant held.
 */
import { runChaos } from '../tools/chaos/run';
import { tempDir } from './helpers/servers';

jest.setTimeout(300_000);

test('3 workers and 2 gateways on one PostgreSQL ledger: workers and gateways killed, every invariant holds', async () => {
  const result = await runChaos(
    {
      durationMs: 20_000,
      clients: 12,
      ids: 24,
      accounts: 4,
      // Seed 2 plans kills of all three workers, then of a gateway at 14 s: a gateway killed
      // earlier may spend the rest of the run restarting under load, and answer nobody.
      seed: 2,
      openingBalance: 1000,
      dir: tempDir('scale-out'),
      workers: 3,
      gateways: 2,
      postgres: true,
      // npm run chaos (in CI too) waits out the windows and deletes the workflows; this test keeps to the storm.
      retention: false,
      faults: (kind) => kind.startsWith('kill worker') || kind.startsWith('kill api'),
    },
    // Progress lines are for the CLI; the processes' logs stay in the run's directory.
    () => undefined,
  );
  const { faults, record, requests, answersByGateway, violations } = result;

  expect(violations).toEqual([]);
  // What the run went through, so that a quiet run cannot pass for a storm.
  expect(new Set(faults.filter((f) => f.kind.startsWith('kill worker')).map((f) => f.kind)).size).toBe(3);
  expect(faults.some((f) => f.kind.startsWith('kill api'))).toBe(true);
  expect(Object.values(answersByGateway).every((n) => n > 0)).toBe(true);
  // Payment-ids asked for by clients of both gateways (client n starts on gateway n % 2).
  const homes = (id: string) => new Set(requests.filter((r) => r.paymentId === id).map((r) => r.client % 2));
  expect(Object.keys(record.finals).filter((id) => homes(id).size === 2).length).toBeGreaterThan(0);
  expect(record.ledger.filter((row) => row.kind === 'charge').length).toBeGreaterThan(0);
  expect(record.ledger.filter((row) => row.kind === 'refund').length).toBeGreaterThan(0);
  expect(requests.some((r) => r.answer?.status === 402)).toBe(true);
  expect(Object.values(record.finals).filter((f) => f?.status === 'COMPLETED').length).toBeGreaterThan(0);
});
