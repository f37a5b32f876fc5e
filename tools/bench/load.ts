/** A closed-loop HTTP load: N keep-alive clients, each sending its next request when the last is answered. */
import * as http from 'node:http';

export interface LoadResult {
  clients: number;
  seconds: number;
  ok: number;
  errors: number;
  perSecond: number;
  /** Latencies of answered requests, ms. */
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function post(agent: http.Agent, url: URL, path: string, body: string | undefined, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        method: 'POST',
        path,
        headers: { ...headers, ...(body && { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }) },
      },
      (response) => {
        response.resume();
        response.on('end', () => resolve(response.statusCode ?? 0));
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

export interface Target {
  path: (n: number) => string;
  body?: (n: number) => string;
  /** Sent with every request (the API key). */
  headers?: Record<string, string>;
}

/** Drives `target` with `clients` concurrent clients for `seconds`; `next()` numbers every request uniquely. */
export async function drive(baseUrl: string, target: Target, clients: number, seconds: number, next: () => number): Promise<LoadResult> {
  const url = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const latencies: number[] = [];
  let errors = 0;
  const started = process.hrtime.bigint();
  const deadline = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (Date.now() < deadline) {
        const n = next();
        const t0 = process.hrtime.bigint();
        try {
          const status = await post(agent, url, target.path(n), target.body?.(n), target.headers ?? {});
          if (status === 200) latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
          else errors++;
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  return {
    clients,
    seconds: elapsed,
    ok: latencies.length,
    errors,
    perSecond: latencies.length / elapsed,
    p50: percentile(latencies, 50),
    p90: percentile(latencies, 90),
    p99: percentile(latencies, 99),
    max: latencies[latencies.length - 1] ?? NaN,
  };
}
