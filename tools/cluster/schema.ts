/**
 * Temporal's two databases, created when missing and brought to the schema of the server
 * binary with its own SQL tool (the schemas are embedded in it): safe on every start, a
 * no-op on a database already up to date, and the upgrade step after a server upgrade.
 */
import { execFileSync } from 'node:child_process';
import pg from 'pg';
import protobuf from 'protobufjs';
import { TEMPORAL_SQL_TOOL } from '../paths';
import { CLUSTER_NAME, type Databases } from './server-config';

function client(db: Databases, database: string): pg.Client {
  return new pg.Client({ host: db.host, port: db.port, user: db.user, password: db.password, database });
}

/** One short session on a database, for each of the launcher's few queries. */
async function query<R extends pg.QueryResultRow>(db: Databases, database: string, text: string, values: unknown[] = []): Promise<R[]> {
  const conn = client(db, database);
  await conn.connect();
  try {
    return (await conn.query<R>(text, values)).rows;
  } finally {
    await conn.end();
  }
}

/** PostgreSQL's "database does not exist". */
const INVALID_CATALOG_NAME = '3D000';

/** Whether the database can be connected to; false only when it does not exist. */
async function exists(db: Databases, database: string): Promise<boolean> {
  const conn = client(db, database);
  try {
    await conn.connect();
    return true;
  } catch (err) {
    if ((err as { code?: string }).code === INVALID_CATALOG_NAME) return false;
    throw err;
  } finally {
    await conn.end().catch(() => undefined);
  }
}

/** A user that may only reach its own databases never needs the `postgres` one, unless a database is missing. */
async function createMissing(db: Databases, say: (line: string) => void): Promise<void> {
  for (const name of [db.persistence, db.visibility]) {
    if (await exists(db, name)) continue;
    await query(db, 'postgres', `CREATE DATABASE ${pg.escapeIdentifier(name)}`);
    say(`created database ${name}`);
  }
}

function sqlTool(db: Databases, database: string, args: string[]): void {
  const connection = ['--plugin', 'postgres12', '--ep', db.host, '--port', String(db.port), '--user', db.user, '--db', database];
  try {
    // The password through the environment, not the command line that ps shows.
    execFileSync(TEMPORAL_SQL_TOOL, [...connection, ...args], { stdio: 'pipe', env: { ...process.env, SQL_PASSWORD: db.password } });
  } catch (err) {
    const output = `${(err as { stdout?: Buffer }).stdout ?? ''}${(err as { stderr?: Buffer }).stderr ?? ''}`;
    throw new Error(`temporal-sql-tool ${args[0]} on ${database} failed:\n${output.split('\n').slice(-15).join('\n')}`);
  }
}

export async function ensureDatabases(db: Databases, say: (line: string) => void): Promise<void> {
  await createMissing(db, say);
  for (const [database, schema] of [
    [db.persistence, 'postgresql/v12/temporal'],
    [db.visibility, 'postgresql/v12/visibility'],
  ] as const) {
    // Version tables at 0.0 unless a later version is recorded; then every versioned step after it.
    sqlTool(db, database, ['setup-schema', '-v', '0.0']);
    sqlTool(db, database, ['update-schema', '--schema-name', schema]);
  }
}

/**
 * The history shard count the cluster was created with (field 2 of the server's ClusterMetadata
 * record), or undefined before the first start. The server keeps it whatever its config says.
 */
export async function persistedShardCount(db: Databases): Promise<number | undefined> {
  const [row] = await query<{ data: Buffer }>(
    db,
    db.persistence,
    'SELECT data FROM cluster_metadata_info WHERE metadata_partition = 0 AND cluster_name = $1',
    [CLUSTER_NAME],
  );
  if (!row) return undefined;
  const reader = protobuf.Reader.create(row.data);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag >>> 3 === 2) return reader.int32();
    reader.skipType(tag & 7);
  }
  return undefined;
}

/**
 * Forgets the membership records of this machine's services, all stopped at this point. A
 * service joining the ring tries the hosts recorded there first, and those of a cluster that
 * was killed stay for their record's lifetime: starting beside them took about 50 s instead of 3.
 */
export async function forgetMembers(db: Databases, address: string): Promise<void> {
  await query(db, db.persistence, 'DELETE FROM cluster_membership WHERE rpc_address = $1', [address]);
}
