/**
 * The gateway's shutdown as a load balancer and a client see it. On SIGTERM readiness turns 503
 * at once, and for the drain the gateway keeps answering, each answer closing its connection,
 * so that the balancer takes it out of rotation before it stops listening: a listener closed at
 * once would reset requests already racing onto idle keep-alive sockets. Then it takes no new
 * connection, answers the requests it has, refuses one arriving on a connection still open with
 * 503 `shutting_down`, and exits within SHUTDOWN_BOUND_MS of the signal.
 */
import { SHUTDOWN_BOUND_MS } from '../config';

/**
 * Before the bound, a request still waiting for a payment to settle stops waiting and answers
 * 202 with the payment's view, as at REQUEST_TIMEOUT (the payment goes on): an answer the
 * client can act on rather than a cut connection. Building that view takes one describe.
 */
const SETTLE_BEFORE_BOUND_MS = 1_500;

export class GatewayShutdown {
  private drainingFlag = false;
  private readonly settle = new AbortController();

  /** Since SIGTERM: readiness answers 503 and every answer closes its connection. */
  get draining(): boolean {
    return this.drainingFlag;
  }

  /** Aborted shortly before the bound: requests still waiting for a payment then answer 202 with its view. */
  get settleNow(): AbortSignal {
    return this.settle.signal;
  }

  /** How long requests in flight may still take once the listener closes after a drain of `drainMs`. */
  static closeGraceMs(drainMs: number): number {
    return SHUTDOWN_BOUND_MS - drainMs;
  }

  /** Readiness 503 and `Connection: close` now; resolves when the drain has passed. */
  async drain(drainMs: number): Promise<void> {
    this.drainingFlag = true;
    await new Promise((resolve) => setTimeout(resolve, drainMs));
  }

  /** Called as the listener closes: schedules the end of the waits for payments, a little before the connections are cut. */
  closing(closeGraceMs: number): NodeJS.Timeout {
    this.drainingFlag = true;
    return setTimeout(() => this.settle.abort(), Math.max(0, closeGraceMs - SETTLE_BEFORE_BOUND_MS)).unref();
  }
}
