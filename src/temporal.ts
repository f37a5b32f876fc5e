/** Connections to Temporal, built from the configuration. */
import { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { Config } from './config';

/** Address, TLS and API key: the same for the worker's connection and the gateway's. */
function connectionOptions(config: Config) {
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

/** The worker's connection, retried every second until Temporal answers, so a worker may start first. */
export async function connectWorker(config: Config, log: (line: string) => void): Promise<NativeConnection> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await NativeConnection.connect(connectionOptions(config));
    } catch (err) {
      if (attempt === 1 || attempt % 30 === 0)
        log(`cannot reach Temporal at ${describeTemporal(config)} yet (${(err as Error).message}); retrying`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
}

/**
 * The gateway's client: connects on first use, so the gateway starts and answers 503 while
 * Temporal is down. Four gRPC attempts (about a second) instead of the default ten (about
 * twenty): an HTTP caller waiting on an unreachable Temporal is better told to retry.
 */
export function createClient(config: Config): Client {
  const connection = Connection.lazy({
    ...connectionOptions(config),
    interceptors: [makeGrpcRetryInterceptor(defaultGrpcRetryOptions({ maxAttempts: 4 }))],
  });
  return new Client({ connection, namespace: config.temporalNamespace });
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
