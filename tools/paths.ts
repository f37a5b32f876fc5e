import * as path from 'node:path';

/** Where the project keeps the servers it installs (git-ignored). */
export const PROJECT_ROOT = path.resolve(__dirname, '..');
export const TOOLS_DIR = path.join(PROJECT_ROOT, '.tools');
export const TOOLS_BIN = path.join(TOOLS_DIR, 'bin');

/** The `temporal` CLI; its `server start-dev` is the dev server. */
export const TEMPORAL_CLI = path.join(TOOLS_BIN, 'temporal');
/** Go module that pins the CLI and the Temporal server it embeds. */
export const TEMPORAL_CLI_MODULE = path.join(PROJECT_ROOT, 'tools', 'temporal-cli');
export const TEMPORAL_CLI_VERSION = '1.5.1';

/**
 * Temporal's own server (each service a process of its own), its SQL schema tool and the web UI
 * server, built from one Go module of the project at the server version the CLI embeds: the
 * cluster that `npm run temporal:cluster` runs on PostgreSQL.
 */
export const TEMPORAL_SERVER_MODULE = path.join(PROJECT_ROOT, 'tools', 'temporal-server');
export const TEMPORAL_SERVER = path.join(TOOLS_BIN, 'temporal-server');
export const TEMPORAL_SQL_TOOL = path.join(TOOLS_BIN, 'temporal-sql-tool');
export const TEMPORAL_UI_SERVER = path.join(TOOLS_BIN, 'temporal-ui-server');

/** The Java time-skipping test server: jars from Maven, started by an exec launcher. */
export const TEST_SERVER_POM = path.join(PROJECT_ROOT, 'tools', 'test-server', 'pom.xml');
export const TEST_SERVER_LIB = path.join(TOOLS_DIR, 'test-server', 'lib');
export const TEST_SERVER_LAUNCHER = path.join(PROJECT_ROOT, 'tools', 'temporal-test-server');

/** stripe-mock, Stripe's own mock of its API, for the Stripe provider's tests; built with Go. */
export const STRIPE_MOCK_MODULE = 'github.com/stripe/stripe-mock';
export const STRIPE_MOCK_VERSION = '0.203.0';
export const STRIPE_MOCK = path.join(TOOLS_BIN, 'stripe-mock');
/** The fixtures stripe-mock answers from, copied from its module so tests can start it on edited ones. */
export const STRIPE_MOCK_FIXTURES = path.join(TOOLS_DIR, 'stripe-mock', 'fixtures3.json');
