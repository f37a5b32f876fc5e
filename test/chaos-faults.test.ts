/** The chaos run's fault plan: seeded, and each required fault in it, on the dev server and on a cluster. */
import { type FaultKind, faultKinds, planFaults } from '../tools/chaos/faults';
import type { Role } from '../tools/stack';

const DEV: Role[] = ['temporal', 'worker-1', 'worker-2', 'api-1'];
const SCALED: Role[] = ['temporal', 'worker-1', 'worker-2', 'worker-3', 'api-1', 'api-2'];
const CLUSTER: Role[] = ['temporal-frontend', 'temporal-history', 'temporal-matching', 'temporal-worker', 'temporal-postgres'];
const kindsOf = (seed: number, durationMs: number, roles: Role[]) => planFaults(seed, durationMs, faultKinds(roles)).map((f) => f.kind);

test('the dev server runs CI makes keep their plans (seed 1, 30 s)', () => {
  expect(kindsOf(1, 30_000, DEV)).toEqual([
    'ledger faults on worker-1',
    'kill api-1',
    'kill temporal',
    'kill worker-1',
    'ledger faults on worker-1',
    'kill worker-2',
    'kill api-1',
  ]);
  expect(kindsOf(1, 30_000, SCALED)).toEqual([
    'kill api-2',
    'kill api-2',
    'kill temporal',
    'kill worker-2',
    'ledger faults on worker-1',
    'kill worker-3',
    'kill api-2',
  ]);
});

test('a plan is the same for the same seed, and every fault is one the stack can suffer', () => {
  const kinds = faultKinds([...CLUSTER, 'worker-1', 'api-1']);
  expect(planFaults(7, 60_000, kinds)).toEqual(planFaults(7, 60_000, kinds));
  for (const fault of planFaults(7, 60_000, kinds)) expect(kinds).toContain(fault.kind);
});

test.each([
  ['the dev server', DEV, ['kill temporal']],
  [
    'a cluster',
    [...CLUSTER, 'worker-1', 'worker-2', 'api-1'],
    ['history', 'matching', 'frontend', 'postgres'].map((s) => `kill temporal-${s}`),
  ],
  [
    'a cluster, scaled out',
    [...CLUSTER, 'worker-1', 'worker-2', 'worker-3', 'api-1', 'api-2'],
    ['history', 'matching', 'frontend', 'postgres'].map((s) => `kill temporal-${s}`),
  ],
] as [string, Role[], FaultKind[]][])('on %s, a 30 s run of any seed kills each required process', (_, roles, required) => {
  for (let seed = 0; seed < 100; seed++) {
    const kinds = kindsOf(seed, 30_000, roles);
    for (const kind of required) expect({ seed, kind, hit: kinds.includes(kind) }).toEqual({ seed, kind, hit: true });
  }
});
