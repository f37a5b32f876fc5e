/**
 * The fault injector: at seeded moments it SIGKILLs a worker, a gateway, the Temporal dev
 * server or, on a cluster, one Temporal service or the Temporal database's PostgreSQL, and
 * starts it again after a seeded pause, or runs a worker with transient ledger faults
 * switched on for a while.
 */
import { type Random, between, pick, seeded } from './random';
import type { LocalStack, Role } from '../stack';

export type FaultKind = `kill ${Role}` | 'ledger faults on worker-1';

export interface PlannedFault {
  /** ms after the start of the run */
  at: number;
  kind: FaultKind;
  /** How long the process stays down, or the ledger faults stay on. */
  forMs: number;
}

export interface InjectedFault extends PlannedFault {
  startedAt: number;
  endedAt: number;
  sigkills: number;
}

const LEDGER_FAULT_RATE = 0.3;

/** Every fault a stack of these roles can suffer: each process killed, worker-1's ledger faulty. */
export function faultKinds(roles: readonly Role[]): FaultKind[] {
  return [...roles.map((role): FaultKind => `kill ${role}`), 'ledger faults on worker-1'];
}

/**
 * The faults every run injects at least once when its stack has them: the dev server, or
 * each of a cluster's services that payments pass through and the database under them.
 */
const REQUIRED: readonly FaultKind[] = [
  'kill temporal',
  'kill temporal-history',
  'kill temporal-matching',
  'kill temporal-frontend',
  'kill temporal-postgres',
];

/**
 * The faults of a run: one every 2-6 s, each required kind the stack has at least once. A
 * required kind the draw missed takes a slot spread over the run (one missing kind: the slot
 * 40 % in), the nearest one not holding the only fault of another required kind.
 */
export function planFaults(seed: number, durationMs: number, kinds: readonly FaultKind[]): PlannedFault[] {
  const random: Random = seeded(seed ^ 0x5eed);
  const plan: PlannedFault[] = [];
  for (let at = between(random, 2000, 4000); at < durationMs - 3000; at += between(random, 2000, 6000)) {
    const kind = pick(random, kinds);
    plan.push({ at, kind, forMs: kind.startsWith('ledger') ? between(random, 4000, 8000) : between(random, 200, 3000) });
  }
  const count = (kind: FaultKind) => plan.filter((f) => f.kind === kind).length;
  const missing = REQUIRED.filter((kind) => kinds.includes(kind) && count(kind) === 0);
  missing.forEach((kind, j) => {
    const target = Math.floor((plan.length * (j + 0.4)) / missing.length);
    const free = plan
      .map((fault, i) => ({ fault, i }))
      .filter(({ fault }) => !REQUIRED.includes(fault.kind) || count(fault.kind) > 1)
      .sort((a, b) => Math.abs(a.i - target) - Math.abs(b.i - target) || a.i - b.i)[0];
    if (free) free.fault.kind = kind;
  });
  return plan;
}

/** Runs the plan against the stack, one fault at a time; resolves when the last has ended. */
export async function injectFaults(
  stack: LocalStack,
  plan: PlannedFault[],
  startedAt: number,
  log: (line: string) => void,
): Promise<InjectedFault[]> {
  const done: InjectedFault[] = [];
  const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  for (const fault of plan) {
    await pause(Math.max(0, startedAt + fault.at - Date.now()));
    const begun = Date.now();
    let sigkills = 0;
    const restart = async (role: Role) => {
      await stack.kill(role);
      sigkills++;
    };
    if (fault.kind === 'ledger faults on worker-1') {
      stack.setLedgerFaultRate('worker-1', LEDGER_FAULT_RATE);
      await restart('worker-1');
      await stack.launch('worker-1');
      await pause(fault.forMs);
      stack.setLedgerFaultRate('worker-1', 0);
      await restart('worker-1');
      await stack.launch('worker-1');
    } else {
      const role = fault.kind.slice('kill '.length) as Role;
      await restart(role);
      await pause(fault.forMs);
      await stack.launch(role);
    }
    const injected = { ...fault, startedAt: begun, endedAt: Date.now(), sigkills };
    log(`${((begun - startedAt) / 1000).toFixed(1).padStart(6)} s  ${fault.kind} (${Math.round(fault.forMs)} ms)`);
    done.push(injected);
  }
  return done;
}
