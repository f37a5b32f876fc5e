/** Connections to Temporal, built from the configuration: the gateway's client here (the worker's native one is in worker.ts, so that the gateway never loads the worker's SDK). */
import { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import type { Config } from './config';

/** Address, TLS and API key: the same for the worker's connection and the gateway's. */
export function connectionOptions(config: Config) {
  return { address: config.temporalAddress, tls: config.temporalTls, apiKey: config.temporalApiKey };
}

/** Where a process connects, for its start-up log line: never the key itself. */
export function describeTemporal(config: Config): string {
  const tls = config.temporalTls;
  const security = !tls
    ? 'plain text'
    : `TLS${tls.clientCertPair ? ' with a client certificate' : ''}` +
      `${tls.serverNameOverride ? ` (server name ${tls.serverNameOverride})` : ''}`;
  return `${config.temporalAddress} (namespace ${config.temporalNamespace}, ${security}${config.temporalApiKey ? ', API key' : ''})`;
}

/**
 * The gateway's client: connects on first use, so the gateway starts and answers 503 while
 * Temporal is down. Four gRPC attempts (about a second) instead of the default ten (about
 * twenty): an HTTP caller waiting on an unreachable Temporal is better told to retry.
 */
export function createClient(config: Config, dataConverter: DataConverter): Client {
  const connection = Connection.lazy({
    ...connectionOptions(config),
    interceptors: [makeGrpcRetryInterceptor(defaultGrpcRetryOptions({ maxAttempts: 4 }))],
  });
  return new Client({ connection, namespace: config.temporalNamespace, dataConverter });
}

/** Why Temporal does not answer a health check within a second; undefined when it does. */
export async function temporalProblem(client: Client): Promise<string | undefined> {
  try {
    const connection = client.connection as Connection;
    await connection.withDeadline(Date.now() + 1000, () => connection.healthService.check({}));
    return undefined;
  } catch (err) {
    return String((err as Error)?.message || err);
  }
}
