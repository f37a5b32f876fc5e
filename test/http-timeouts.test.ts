/**
 * The gateway's own limits, on a real port, seen from raw sockets: a client that sends its
 * headers slowly is cut off at the header timeout, an idle keep-alive connection is closed,
 * and shutdown waits for a request in flight only for its grace period. The limits are short
 * here; each test leaves the others long, so only the one under test can end the connection.
 * Temporal plays no part: the client points nowhere.
 */
import { once } from 'node:events';
import * as net from 'node:net';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../src/config';
import type { HttpTimeouts } from '../src/http/server';
import { ForwardingLedger } from '../src/ledger/forwarding';
import type { Ledger } from '../src/ledger/ledger';
import { SqliteLedger } from '../src/ledger/sqlite';
import { freePort } from '../src/net';
import { createClient } from '../src/temporal';
import { type Gateway, startGateway } from './helpers/gateway';
import { HeldLedger } from './helpers/held-ledger';
import { tempDir, testDataConverter } from './helpers/servers';
import { HOUR } from './helpers/stack';

const LONG = 60_000;

const gateways: Gateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.splice(0).map((g) => g.app.close()));
});

async function gateway(timeouts: Partial<HttpTimeouts>, ledger?: Ledger): Promise<Gateway> {
  const client = createClient(loadConfig({ TEMPORAL_ADDRESS: `127.0.0.1:${await freePort()}` }), testDataConverter());
  const started = await startGateway({
    client,
    ledger: ledger ?? new SqliteLedger({ file: path.join(tempDir('timeouts'), 'ledger.db'), openingBalance: 100 }),
    taskQueue: 'timeouts',
    expiryMs: HOUR,
    timeouts: { requestMs: LONG, headersMs: LONG, keepAliveMs: LONG, closeGraceMs: LONG, ...timeouts },
  });
  gateways.push(started);
  return started;
}

/** A raw TCP connection to the gateway: what it received, and whether the server ended it. */
async function connect(url: string) {
  const socket = net.connect(Number(new URL(url).port), '127.0.0.1');
  await once(socket, 'connect');
  const seen = { received: '', endedByServer: false, error: undefined as Error | undefined };
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (seen.received += chunk));
  // 'end' is the server's FIN: this side never ends the connection itself.
  socket.on('end', () => (seen.endedByServer = true));
  socket.on('error', (err) => (seen.error = err));
  const closed = once(socket, 'close').then(() => performance.now());
  return { socket, seen, closed };
}

test('a client sending its headers one byte a second is answered 408 and cut off at the header timeout', async () => {
  const HEADERS_MS = 1500;
  const { url } = await gateway({ headersMs: HEADERS_MS });
  const request = 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: a-very-slow-client\r\n\r\n';
  const { socket, seen, closed } = await connect(url);
  const start = performance.now();
  let sent = 0;
  const drip = () => {
    if (!seen.endedByServer) socket.write(request[sent++]!);
  };
  drip();
  const dripping = setInterval(drip, 1000);
  const end = await closed;
  clearInterval(dripping);

  expect(seen.endedByServer).toBe(true);
  expect(seen.received).toMatch(/^HTTP\/1\.1 408 /);
  expect(sent).toBeLessThan(request.length);
  // Not before the header timeout, and well before anything else could end it (60 s);
  // Node looks for late headers every headersMs / 4 here.
  expect(end - start).toBeGreaterThanOrEqual(HEADERS_MS - 10);
  expect(end - start).toBeLessThan(HEADERS_MS + 1000);
});

test('an idle keep-alive connection is closed by the server after the keep-alive timeout', async () => {
  const KEEP_ALIVE_MS = 1000;
  const { url } = await gateway({ keepAliveMs: KEEP_ALIVE_MS });
  const { socket, seen, closed } = await connect(url);
  socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  await new Promise<void>((resolve) => socket.on('data', () => seen.received.endsWith('{"status":"ok"}') && resolve()));
  const answered = performance.now();
  const end = await closed;

  expect(seen.received).toMatch(/^HTTP\/1\.1 200 /);
  expect(seen.received).toMatch(/\r\nkeep-alive: timeout=1\r\n/i);
  expect(seen.endedByServer).toBe(true);
  // Node closes the socket a second after the timeout it announces, so that a client reusing it just in time is not cut.
  expect(end - answered).toBeGreaterThanOrEqual(KEEP_ALIVE_MS);
  expect(end - answered).toBeLessThan(KEEP_ALIVE_MS + 2000);
});

test('shutdown waits for a request in flight only for the grace period, then cuts its connection', async () => {
  const GRACE_MS = 500;
  const ledger = new HeldLedger(new SqliteLedger({ file: path.join(tempDir('timeouts'), 'ledger.db'), openingBalance: 100 }));
  const { app, url } = await gateway({ closeGraceMs: GRACE_MS }, ledger);
  try {
    const inFlight = fetch(`${url}/accounts/acct-1`).then(
      (response) => `answered ${response.status}`,
      (err: Error) => `failed: ${err.message}`,
    );
    await ledger.arrived;
    const start = performance.now();
    await app.close();
    const end = performance.now();

    expect(await inFlight).toBe('failed: fetch failed');
    expect(end - start).toBeGreaterThanOrEqual(GRACE_MS - 10);
    expect(end - start).toBeLessThan(GRACE_MS + 1000);
  } finally {
    ledger.open();
    await ledger.close();
  }
});
