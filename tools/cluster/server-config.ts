/**
 * The Temporal server's configuration for the local cluster: one file every service reads
 * (JSON, which the server's YAML loader takes), and the dynamic config beside it.
 */

export const SERVICES = ['frontend', 'history', 'matching', 'worker'] as const;
export type Service = (typeof SERVICES)[number];

/** Where each service listens: gRPC and the membership ring, plus the frontend's HTTP API. */
export type ServicePorts = Record<Service, { grpc: number; membership: number }> & { frontendHttp: number };

/** Temporal's two databases on one PostgreSQL server. */
export interface Databases {
  host: string;
  port: number;
  user: string;
  password: string;
  persistence: string;
  visibility: string;
}

export interface ServerConfigOptions {
  /** The frontend's IP (the host of TEMPORAL_ADDRESS); every service binds there. */
  ip: string;
  ports: ServicePorts;
  db: Databases;
  historyShards: number;
  dynamicConfigFile: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
  /** host:port of a Prometheus endpoint per service, or none: the dev server serves none by default. */
  metrics?: Partial<Record<Service, string>>;
  /** The database driver: pgx (the default, caching prepared statements) or lib/pq. */
  plugin?: 'postgres12_pgx' | 'postgres12';
}

/** The address the services give each other: the bound IP, unless that is every interface. */
export function broadcastAddress(ip: string): string {
  return ip === '0.0.0.0' ? '127.0.0.1' : ip;
}

/** The cluster's name in its metadata; fixed, since a database remembers it. */
export const CLUSTER_NAME = 'active';

function datastore(o: ServerConfigOptions, database: string, maxConns: number) {
  return {
    sql: {
      pluginName: o.plugin ?? 'postgres12_pgx',
      databaseName: database,
      connectAddr: `${o.db.host.includes(':') ? `[${o.db.host}]` : o.db.host}:${o.db.port}`,
      connectProtocol: 'tcp',
      user: o.db.user,
      password: o.db.password,
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  };
}

/** One service's config file: the others' entries are there too, since each finds its peers through them. */
export function serverConfig(o: ServerConfigOptions, service: Service): object {
  const metrics = o.metrics?.[service];
  return {
    log: { stdout: true, level: o.logLevel },
    persistence: {
      defaultStore: 'default',
      visibilityStore: 'visibility',
      numHistoryShards: o.historyShards,
      datastores: { default: datastore(o, o.db.persistence, 20), visibility: datastore(o, o.db.visibility, 10) },
    },
    global: {
      membership: { maxJoinDuration: '30s', broadcastAddress: broadcastAddress(o.ip) },
      ...(metrics ? { metrics: { prometheus: { framework: 'tally', timerType: 'histogram', listenAddress: metrics } } } : {}),
    },
    services: Object.fromEntries(
      SERVICES.map((name) => [
        name,
        {
          rpc: {
            grpcPort: o.ports[name].grpc,
            membershipPort: o.ports[name].membership,
            bindOnIP: o.ip,
            ...(name === 'frontend' ? { httpPort: o.ports.frontendHttp } : {}),
          },
        },
      ]),
    ),
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: CLUSTER_NAME,
      currentClusterName: CLUSTER_NAME,
      clusterInformation: {
        [CLUSTER_NAME]: { enabled: true, initialFailoverVersion: 1, rpcAddress: `${o.ip}:${o.ports.frontend.grpc}` },
      },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    archival: { history: { state: 'disabled' }, visibility: { state: 'disabled' } },
    namespaceDefaults: { archival: { history: { state: 'disabled' }, visibility: { state: 'disabled' } } },
    publicClient: { hostPort: `${o.ip}:${o.ports.frontend.grpc}` },
    dynamicConfigClient: { filepath: o.dynamicConfigFile, pollInterval: '10s' },
  };
}

/**
 * The dev server's dynamic config (tools/devserver.ts and the temporal CLI's own defaults), so
 * that the two run payments alike and the bench compares the servers, not their settings.
 */
export const DEV_SERVER_DYNAMIC_CONFIG: Record<string, unknown> = {
  // One partition per task queue: measured with the bench on the dev server (see tools/devserver.ts).
  'matching.numTaskqueueReadPartitions': 1,
  'matching.numTaskqueueWritePartitions': 1,
  'system.enableActivityEagerExecution': true,
  // Transfer-queue reads per shard and second (default 20): see tools/devserver.ts.
  'history.transferProcessorMaxPollRPS': 1000,
  // The CLI's: search attributes usable the moment they are added, with persistence rate limits raised to match.
  'system.forceSearchAttributesCacheRefreshOnRead': true,
  'frontend.persistenceMaxQPS': 10000,
  'history.persistenceMaxQPS': 45000,
  'history.hostLevelCacheMaxSize': 8096,
  'frontend.namespaceRPS.visibility': 100,
};

/** The dynamic config file's shape: each key a list of constrained values; none constrained here. */
export function dynamicConfigFile(values: Record<string, unknown>): object {
  return Object.fromEntries(Object.entries(values).map(([key, value]) => [key, [{ value }]]));
}
