/**
 * Stripe's own mock server (stripe-mock, installed by `npm install`) on a free port, and a
 * recording proxy in front of it. stripe-mock is stateless and never declines, so the proxy
 * records what reaches Stripe (method, path, idempotency key, form body, answer) and can
 * answer chosen requests itself: a decline, a 429 or a 5xx. Everything else goes through to
 * stripe-mock.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { STRIPE_MOCK, STRIPE_MOCK_FIXTURES } from '../../tools/paths';
import { tempDir } from './servers';

export interface StripeMock {
  url: string;
  stop(): Promise<void>;
}

/**
 * stripe-mock's fixtures describe a PaymentIntent that still needs a payment method and a
 * customer without a default one; the tests' customers have a saved card, and their
 * confirmed PaymentIntents succeed, as Stripe's test mode answers for pm_card_visa.
 */
function fixturesOfPayingCustomers(): string {
  const fixtures = JSON.parse(fs.readFileSync(STRIPE_MOCK_FIXTURES, 'utf8'));
  fixtures.resources.payment_intent.status = 'succeeded';
  fixtures.resources.customer.invoice_settings.default_payment_method = 'pm_card_visa';
  const file = path.join(tempDir('stripe-mock'), 'fixtures.json');
  fs.writeFileSync(file, JSON.stringify(fixtures));
  return file;
}

export async function startStripeMock(): Promise<StripeMock> {
  for (const file of [STRIPE_MOCK, STRIPE_MOCK_FIXTURES]) {
    if (!fs.existsSync(file)) throw new Error(`stripe-mock missing at ${file}: run npm install (it builds stripe-mock with Go)`);
  }
  const child: ChildProcess = spawn(
    STRIPE_MOCK,
    ['-http-addr', '127.0.0.1:0', '-https-addr', '127.0.0.1:0', '-fixtures', fixturesOfPayingCustomers()],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`stripe-mock did not say where it listens within 10 s:\n${output}`)), 10_000);
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      const match = output.match(/Listening for HTTP at address: (127\.0\.0\.1:\d+)/);
      if (match) {
        clearTimeout(timer);
        resolve(`http://${match[1]}`);
      }
    };
    child.stdout!.on('data', read);
    child.stderr!.on('data', read);
    child.once('exit', (code) => reject(new Error(`stripe-mock exited (${code}) before listening:\n${output}`)));
  });
  // Its per-request log is not read from here on; drain it so the pipe never fills.
  child.stdout!.resume();
  child.stderr!.resume();
  return {
    url,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

export interface RecordedRequest {
  method: string;
  path: string;
  idempotencyKey: string | undefined;
  query: URLSearchParams;
  form: URLSearchParams;
  status: number;
  /** The JSON answer (stripe-mock's, or the one the proxy made up). */
  answer: any;
  /** When the request arrived (ms since the epoch). */
  at: number;
}

/** A made-up answer; status 0 closes the connection without one, -1 never answers. */
export interface Canned {
  status: number;
  /** The answer, or a function that makes it when the request arrives. */
  body: unknown;
  headers?: Record<string, string>;
  /** Sent on to stripe-mock first (status 0: the request reached Stripe, and its answer was lost). */
  forward?: boolean;
}

interface Rule {
  method: string;
  path: string;
  answers: Canned[];
}

/** A Stripe-shaped card decline. */
export function cardDecline(declineCode: string, message: string): Canned {
  return { status: 402, body: { error: { type: 'card_error', code: 'card_declined', decline_code: declineCode, message } } };
}

export const rateLimited: Canned = {
  status: 429,
  body: { error: { type: 'rate_limit_error', message: 'Too many requests hit the API too quickly.' } },
};
/** Stripe asks for a pause: Retry-After and its reason header, as its rate limiters answer. */
export function rateLimitedFor(seconds: number, reason = 'endpoint-rate'): Canned {
  return { ...rateLimited, headers: { 'retry-after': String(seconds), 'stripe-rate-limited-reason': reason } };
}
export const dropped: Canned = { status: 0, body: null };
/** The request reaches Stripe (stripe-mock), and the connection closes before its answer. */
export const lost: Canned = { status: 0, body: null, forward: true };
export const hung: Canned = { status: -1, body: null };
export const serverError: Canned = { status: 500, body: { error: { type: 'api_error', message: 'Something went wrong on our end.' } } };

export class RecordingProxy {
  readonly requests: RecordedRequest[] = [];
  private rules: Rule[] = [];
  private server: http.Server | undefined;
  url = '';

  constructor(private readonly target: string) {}

  async start(): Promise<this> {
    this.server = http.createServer((request, response) => void this.handle(request, response));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise((resolve) => this.server?.close(resolve));
  }

  /** The next requests to `method path` get these answers, one each, instead of stripe-mock's. */
  answer(method: string, path: string, ...answers: Canned[]): void {
    this.rules.push({ method, path, answers: [...answers] });
  }

  /** Recorded requests that reached `method path`. */
  to(method: string, path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && r.path === path);
  }

  /** Recorded requests about one payment: those whose form names it in metadata. */
  about(paymentId: string): RecordedRequest[] {
    return this.requests.filter((r) => r.form.get('metadata[paymentId]') === paymentId);
  }

  private async handle(request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const method = request.method!;
    const path = request.url!.split('?')[0]!;
    const at = Date.now();
    const rule = this.rules.find((r) => r.method === method && r.path === path && r.answers.length > 0);
    const canned = rule?.answers.shift();
    let status: number;
    let text: string;
    if (canned && !canned.forward) {
      status = canned.status;
      text = JSON.stringify(typeof canned.body === 'function' ? canned.body() : canned.body);
    } else {
      const headers = { ...request.headers };
      // fetch sets these itself, and refuses some of them.
      for (const name of ['host', 'connection', 'keep-alive', 'transfer-encoding', 'content-length']) delete headers[name];
      const forwarded = await fetch(this.target + request.url, {
        method,
        headers: headers as Record<string, string>,
        body: body.length ? body : undefined,
      });
      status = canned?.status ?? forwarded.status;
      text = await forwarded.text();
    }
    const key = request.headers['idempotency-key'];
    this.requests.push({
      method,
      path,
      idempotencyKey: Array.isArray(key) ? key[0] : key,
      query: new URL(request.url!, 'http://proxy').searchParams,
      form: new URLSearchParams(body.toString()),
      status,
      answer: JSON.parse(text),
      at,
    });
    if (status === 0) {
      request.socket.destroy();
      return;
    }
    if (status === -1) return;
    response.writeHead(status, { 'content-type': 'application/json', ...canned?.headers });
    response.end(text);
  }
}
