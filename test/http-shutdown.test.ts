/**
 * The gateway's shutdown as a client on raw sockets sees it (http/shutdown.ts): during the drain
 * readiness is 503 and answers close their connections; once the listener closes, a request in
 * flight is answered, one arriving on a connection still open is refused with 503
 * `shutting_down` in the error shape with Retry-After (and counted), and new connections are
 * refused. A request held on a latch (an account read that waits) stands for work in flight.
 * Temporal plays no part: the client points nowhere.
 */
import { once } from 'node:events';
import * as net from 'node:net';
import * as path from 'node:path';
import { gatewayApp } from '../src/api';
import { loadConfig } from '../src/config';
import { GatewayMetrics } from '../src/http/metrics';
import { GatewayShutdown } from '../src/http/shutdown';
import { ForwardingLedger } from '../src/ledger/forwarding';
import type { Ledger } from '../src/ledger/ledger';
import { SqliteLedger } from '../src/ledger/sqlite';
import { freePort } from '../src/net';
import { createClient } from '../src/temporal';
import { HeldLedger } from './helpers/held-ledger';
import { tempDir, testCodec, testDataConverter } from './helpers/servers';
import { HOUR } from './helpers/stack';

async function gateway(ledger: Ledger) {
  const shutdown = new GatewayShutdown();
  const metrics = new GatewayMetrics();
  const app = await gatewayApp({
    client: createClient(loadConfig({ TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}` }), testDataConverter()),
    ledger,
    records: ledger,
    taskQueue: 'shutdown',
    codec: { codec: testCodec(), origins: [] },
    expiryMs: HOUR,
    requestTimeoutMs: 30_000,
    logger: false,
    metrics,
    shutdown,
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as net.AddressInfo;
  return { app, port, shutdown, metrics };
}

/** A raw connection, and the text the server sent on it. */
async function connect(port: number) {
  const socket = net.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (received += chunk));
  const ended = once(socket, 'close');
  return { socket, received: () => received, ended };
}

const request = (url: string) => `GET ${url} HTTP/1.1\r\nHost: gateway\r\n\r\n`;

function sqlite(): SqliteLedger {
  return new SqliteLedger({ file: path.join(tempDir('http-shutdown'), 'ledger.db'), openingBalance: 100 });
}

test('during the drain: readiness 503 naming the shutdown, liveness 200, and every answer closes its connection', async () => {
  const ledger = sqlite();
  const { app, port, shutdown } = await gateway(ledger);
  try {
    const before = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(before.headers.get('connection')).toBe('keep-alive');

    const draining = shutdown.drain(500);
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'unavailable', problems: ['gateway: shutting down'] });
    const alive = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(alive.status).toBe(200);
    expect(alive.headers.get('connection')).toBe('close');
    await draining;
  } finally {
    await app.close();
    await ledger.close();
  }
});

test('once the listener closes: the request in flight is answered, one arriving on an open connection gets 503 shutting_down, new connections are refused', async () => {
  const ledger = new HeldLedger(sqlite());
  const { app, port, metrics } = await gateway(ledger);
  try {
    const inFlight = await connect(port);
    inFlight.socket.write(request('/accounts/acct-1'));
    await ledger.arrived;
    // A connection whose request has begun (its first bytes are in) is not idle, so closing
    // the listener leaves it open; its request completes after the close has begun.
    const late = await connect(port);
    late.socket.write('GET /accounts/acct-2 HTTP/1.1\r\n');
    await new Promise((resolve) => setImmediate(resolve));

    const closed = app.close();
    await eventuallyRefused(port);
    late.socket.write('Host: gateway\r\n\r\n');
    await late.ended;
    const refused = late.received();
    expect(refused).toMatch(/^HTTP\/1\.1 503 /);
    expect(refused).toMatch(/\r\nretry-after: 1\r\n/i);
    expect(refused).toMatch(/\r\nconnection: close\r\n/i);
    expect(JSON.parse(refused.slice(refused.indexOf('\r\n\r\n') + 4))).toEqual({
      error: { code: 'shutting_down', message: 'this gateway is shutting down; send the same request again' },
    });

    ledger.open();
    await inFlight.ended;
    expect(inFlight.received()).toMatch(/^HTTP\/1\.1 200 /);
    expect(inFlight.received()).toMatch(/\r\nconnection: close\r\n/i);
    await closed;

    const counted = (await metrics.requests.get()).values.filter((v) => v.labels.status === '503');
    expect(counted.map((v) => ({ route: v.labels.route, count: v.value }))).toEqual([{ route: '/accounts/:accountId', count: 1 }]);
  } finally {
    ledger.open();
    await ledger.close();
  }
});

/** Resolves once a new connection to the port is refused: the listener has closed. */
async function eventuallyRefused(port: number): Promise<void> {
  for (;;) {
    const socket = net.connect(port, '127.0.0.1');
    const outcome = await new Promise<string | undefined>((resolve) => {
      socket.once('connect', () => resolve('connected'));
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code));
    });
    socket.destroy();
    // Reset: accepted into the backlog as the listener closed.
    if (outcome === 'ECONNREFUSED' || outcome === 'ECONNRESET') return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('an unexpected failure answers 500 internal_error with Retry-After: the same request is safe to send again', async () => {
  const ledger = sqlite();
  const broken = new (class extends ForwardingLedger {
    override async account(): Promise<never> {
      throw new Error('a bug');
    }
  })(ledger);
  const { app, port } = await gateway(broken);
  try {
    const response = await fetch(`http://127.0.0.1:${port}/accounts/acct-1`);
    expect(response.status).toBe(500);
    expect(response.headers.get('retry-after')).toBe('1');
    expect(await response.json()).toMatchObject({ error: { code: 'internal_error' } });
  } finally {
    await app.close();
    await ledger.close();
  }
});
