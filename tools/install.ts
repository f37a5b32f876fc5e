/**
 * Installs the servers the project runs on into .tools/ (run by `npm install`):
 * - the `temporal` CLI, whose dev server backs `npm start` and the end-to-end tests;
 * - the Java time-skipping test server, which lets workflow tests skip timers;
 * - Temporal's server, SQL tool and web UI server, for the cluster of `npm run temporal:cluster`;
 * - stripe-mock, which only the Stripe provider's tests need.
 * Each step is skipped when its result is already there, so re-running is quick.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  STRIPE_MOCK,
  STRIPE_MOCK_FIXTURES,
  STRIPE_MOCK_MODULE,
  STRIPE_MOCK_VERSION,
  TEMPORAL_CLI,
  TEMPORAL_CLI_MODULE,
  TEMPORAL_CLI_VERSION,
  TEMPORAL_SERVER,
  TEMPORAL_SERVER_MODULE,
  TEMPORAL_SQL_TOOL,
  TEMPORAL_UI_SERVER,
  TEST_SERVER_LIB,
  TEST_SERVER_POM,
  TOOLS_BIN,
} from './paths';

/** The oldest Temporal server a CLI may embed: 1.29.2 carries the update-with-start security fix. */
const MIN_EMBEDDED_SERVER = [1, 29, 2];
const MIN_CLI = TEMPORAL_CLI_VERSION.split('.').map(Number);
const MIN_GO = [1, 25, 0];

class InstallError extends Error {}

function log(message: string): void {
  process.stdout.write(`[install] ${message}\n`);
}

function compareVersions(a: number[], b: number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const diff = (a[i] ?? 0) - (b[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}

function parseVersion(text: string | undefined): number[] | undefined {
  return text?.split('.').map(Number);
}

/** Output of a command, or undefined when it cannot run. */
function tryOutput(command: string, args: string[]): string | undefined {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  return result.status === 0 ? result.stdout + result.stderr : undefined;
}

/** `temporal version 1.5.1 (Server 1.29.7, UI 2.42.1)` -> whether it is recent enough. */
function cliIsRecentEnough(binary: string): boolean {
  const out = tryOutput(binary, ['--version']);
  const match = out?.match(/temporal version (\d+\.\d+\.\d+).*Server (\d+\.\d+\.\d+)/);
  if (!match) return false;
  return compareVersions(parseVersion(match[1])!, MIN_CLI) >= 0 && compareVersions(parseVersion(match[2])!, MIN_EMBEDDED_SERVER) >= 0;
}

function findOnPath(binary: string): string | undefined {
  const out = tryOutput('sh', ['-c', `command -v ${binary}`]);
  return out?.trim() || undefined;
}

/**
 * A stamp records the hash of the files a tool was installed from, so an edited go.mod or
 * pom.xml reinstalls it and an unchanged one is skipped.
 */
function inputsHash(files: string[]): string {
  const hash = createHash('sha256');
  for (const file of files) hash.update(fs.readFileSync(file));
  return hash.digest('hex');
}

function stampMatches(stamp: string, inputs: string[]): boolean {
  return fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === inputsHash(inputs);
}

function writeStamp(stamp: string, inputs: string[]): void {
  fs.writeFileSync(stamp, inputsHash(inputs));
}

const CLI_INPUTS = ['go.mod', 'go.sum'].map((file) => path.join(TEMPORAL_CLI_MODULE, file));
const CLI_STAMP = `${TEMPORAL_CLI}.stamp`;

function installedGo(): string | undefined {
  return tryOutput('go', ['env', 'GOVERSION'])
    ?.trim()
    .match(/^go(\d+\.\d+(?:\.\d+)?)/)?.[1];
}

function ensureTemporalCli(): void {
  if (cliIsRecentEnough(TEMPORAL_CLI) && (fs.lstatSync(TEMPORAL_CLI).isSymbolicLink() || stampMatches(CLI_STAMP, CLI_INPUTS))) {
    log(`temporal CLI present: ${TEMPORAL_CLI}`);
    return;
  }
  fs.mkdirSync(TOOLS_BIN, { recursive: true });

  const onPath = findOnPath('temporal');
  if (onPath && cliIsRecentEnough(onPath)) {
    fs.rmSync(TEMPORAL_CLI, { force: true });
    fs.symlinkSync(onPath, TEMPORAL_CLI);
    log(`using the temporal CLI on PATH: ${onPath}`);
    return;
  }

  const goVersion = installedGo();
  if (!goVersion) {
    throw new InstallError(
      'no recent temporal CLI on PATH and no Go toolchain to build one.\n' +
        `  Install Go ${MIN_GO.join('.')} or newer and run npm install again, or install the temporal CLI ` +
        `(v${TEMPORAL_CLI_VERSION} or newer, embedding Temporal server ${MIN_EMBEDDED_SERVER.join('.')} or newer) ` +
        `and put it on PATH or at ${TEMPORAL_CLI}.`,
    );
  }
  if (compareVersions(parseVersion(goVersion)!, MIN_GO) < 0) {
    throw new InstallError(`Go ${goVersion} is too old to build the temporal CLI; Go ${MIN_GO.join('.')} or newer is needed.`);
  }
  log(
    `building the temporal CLI v${TEMPORAL_CLI_VERSION} with Go ${goVersion} ` +
      `from ${path.relative(process.cwd(), TEMPORAL_CLI_MODULE)}/go.mod ` +
      '(a cold build downloads and compiles for a few minutes)...',
  );
  const started = Date.now();
  execFileSync(
    'go',
    [
      'install',
      `-ldflags=-X github.com/temporalio/cli/temporalcli.Version=${TEMPORAL_CLI_VERSION}`,
      'github.com/temporalio/cli/cmd/temporal',
    ],
    { cwd: TEMPORAL_CLI_MODULE, stdio: 'inherit', env: { ...process.env, GOBIN: TOOLS_BIN } },
  );
  if (!cliIsRecentEnough(TEMPORAL_CLI)) {
    throw new InstallError(`built ${TEMPORAL_CLI}, but it does not report the expected version`);
  }
  writeStamp(CLI_STAMP, CLI_INPUTS);
  log(`temporal CLI built in ${Math.round((Date.now() - started) / 1000)} s: ${tryOutput(TEMPORAL_CLI, ['--version'])?.trim()}`);
}

const TEST_SERVER_STAMP = path.join(TEST_SERVER_LIB, '..', 'installed.stamp');

function testServerJar(): string | undefined {
  const pom = fs.readFileSync(TEST_SERVER_POM, 'utf8');
  const version = pom.match(/<temporal\.test\.server\.version>([^<]+)</)?.[1];
  const jar = path.join(TEST_SERVER_LIB, `temporal-test-server-${version}.jar`);
  return fs.existsSync(jar) ? jar : undefined;
}

function ensureTestServer(): void {
  const present = testServerJar();
  if (present && stampMatches(TEST_SERVER_STAMP, [TEST_SERVER_POM])) {
    log(`time-skipping test server present: ${present}`);
    return;
  }
  if (!tryOutput('java', ['-version'])) {
    throw new InstallError('java is not on PATH: install a JDK (17 or newer) to run the time-skipping test server.');
  }
  if (!tryOutput('mvn', ['-v'])) {
    throw new InstallError('mvn is not on PATH: install Maven to fetch the time-skipping test server.');
  }
  log('fetching the time-skipping test server and its dependencies with Maven...');
  fs.rmSync(TEST_SERVER_LIB, { recursive: true, force: true });
  const maven = spawnSync(
    'mvn',
    ['-B', '-q', '-f', TEST_SERVER_POM, 'dependency:copy-dependencies', '-DincludeScope=runtime', `-DoutputDirectory=${TEST_SERVER_LIB}`],
    { encoding: 'utf8' },
  );
  if (maven.status !== 0) {
    throw new InstallError(`mvn could not fetch the test server (exit ${maven.status}):\n${maven.stdout}${maven.stderr}`);
  }
  const jar = testServerJar();
  if (!jar) throw new InstallError(`Maven finished, but no test server jar is in ${TEST_SERVER_LIB}`);
  writeStamp(TEST_SERVER_STAMP, [TEST_SERVER_POM]);
  log(`time-skipping test server installed: ${jar}`);
}

const SERVER_INPUTS = ['go.mod', 'go.sum'].map((file) => path.join(TEMPORAL_SERVER_MODULE, file));
const SERVER_BINARIES: [string, string][] = [
  [TEMPORAL_SERVER, 'go.temporal.io/server/cmd/server'],
  [TEMPORAL_SQL_TOOL, 'go.temporal.io/server/cmd/tools/sql'],
  [TEMPORAL_UI_SERVER, 'github.com/temporalio/ui-server/v2/cmd/server'],
];
const SERVER_STAMP = `${TEMPORAL_SERVER}.stamp`;

/**
 * The cluster's binaries, from tools/temporal-server/go.mod. Only `npm run temporal:cluster`
 * (and the chaos, bench and test runs on it) need them, so a failure is a warning saying so.
 */
function ensureTemporalServer(): void {
  if (SERVER_BINARIES.every(([binary]) => fs.existsSync(binary)) && stampMatches(SERVER_STAMP, SERVER_INPUTS)) {
    log(`Temporal server, SQL tool and UI server present: ${TOOLS_BIN}`);
    return;
  }
  try {
    if (!installedGo()) throw new InstallError('no Go toolchain on PATH to build them');
    log('building the Temporal server, its SQL tool and the web UI server with Go (for npm run temporal:cluster)...');
    const started = Date.now();
    for (const [binary, pkg] of SERVER_BINARIES) {
      execFileSync('go', ['build', '-o', binary, pkg], { cwd: TEMPORAL_SERVER_MODULE, stdio: 'inherit' });
    }
    writeStamp(SERVER_STAMP, SERVER_INPUTS);
    log(`Temporal server ${tryOutput(TEMPORAL_SERVER, ['--version'])?.trim()} built in ${Math.round((Date.now() - started) / 1000)} s`);
  } catch (err) {
    process.stderr.write(
      `[install] warning: the Temporal server binaries could not be built (${(err as Error).message}).\n` +
        '  Only npm run temporal:cluster and the runs on the cluster need them; the dev server does not. ' +
        'Install Go and run npm install again to get them.\n',
    );
  }
}

const STRIPE_MOCK_STAMP = `${STRIPE_MOCK}.stamp`;

/**
 * stripe-mock at the pinned version, and the fixtures its module ships (the tests start it on
 * a copy with a few fields changed). Only the Stripe tests need it, so a failure here is a
 * warning that says so, not a failed install.
 */
function ensureStripeMock(): void {
  const module = `${STRIPE_MOCK_MODULE}@v${STRIPE_MOCK_VERSION}`;
  if (
    fs.existsSync(STRIPE_MOCK) &&
    fs.existsSync(STRIPE_MOCK_FIXTURES) &&
    fs.existsSync(STRIPE_MOCK_STAMP) &&
    fs.readFileSync(STRIPE_MOCK_STAMP, 'utf8') === module
  ) {
    log(`stripe-mock present: ${STRIPE_MOCK}`);
    return;
  }
  try {
    if (!installedGo()) throw new InstallError('no Go toolchain on PATH to build it');
    log(`building stripe-mock v${STRIPE_MOCK_VERSION} with Go (for the Stripe provider's tests)...`);
    execFileSync('go', ['install', module], { stdio: 'inherit', env: { ...process.env, GOBIN: TOOLS_BIN } });
    const { Dir } = JSON.parse(execFileSync('go', ['mod', 'download', '-json', module], { encoding: 'utf8' })) as { Dir: string };
    fs.mkdirSync(path.dirname(STRIPE_MOCK_FIXTURES), { recursive: true });
    // The module cache's files are read-only, and so is a copy made before.
    fs.rmSync(STRIPE_MOCK_FIXTURES, { force: true });
    fs.copyFileSync(path.join(Dir, 'embedded', 'openapi', 'fixtures3.json'), STRIPE_MOCK_FIXTURES);
    fs.writeFileSync(STRIPE_MOCK_STAMP, module);
    log(`stripe-mock installed: ${STRIPE_MOCK}`);
  } catch (err) {
    process.stderr.write(
      `[install] warning: stripe-mock v${STRIPE_MOCK_VERSION} could not be installed (${(err as Error).message}).\n` +
        "  Only the Stripe provider's tests (test/stripe.test.ts) need it; the project runs without it. " +
        'Install Go and run npm install again to get it.\n',
    );
  }
}

try {
  ensureTemporalCli();
  ensureTestServer();
  ensureTemporalServer();
  ensureStripeMock();
} catch (err) {
  const message = err instanceof InstallError ? err.message : String((err as Error).message ?? err);
  process.stderr.write(`[install] failed: ${message}\n`);
  process.exit(1);
}
