/**
 * The fault injector: at seeded moments it SIGKILLs a worker, a gateway or the Temporal
 * dev server and starts it again after a seeded pause, or runs a worker with transient
 * ledger faults switched on for a while.
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

/** The faults of a run: one every 2-6 s, and the Temporal server killed at least once if it may be. */
export function planFaults(seed: number, durationMs: number, kinds: readonly FaultKind[]): PlannedFault[] {
  const random: Random = seeded(seed ^ 0x5eed);
  const plan: PlannedFault[] = [];
  for (let at = between(random, 2000, 4000); at < durationMs - 3000; at += between(random, 2000, 6000)) {
    const kind = pick(random, kinds);
    plan.push({ at, kind, forMs: kind.startsWith('ledger') ? between(random, 4000, 8000) : between(random, 200, 3000) });
  }
  if (kinds.includes('kill temporal') && !plan.some((f) => f.kind === 'kill temporal') && plan.length > 0) {
    plan[Math.floor(plan.length * 0.4)]!.kind = 'kill temporal';
  }
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
