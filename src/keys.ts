/**
 * `npm run keys`: makes, lists and revokes the gateway's API keys, in the service's database
 * (PostgreSQL at LEDGER_URL, or the SQLite file under DATA_DIR), as the gateway reads them;
 * and makes payload keys for PAYLOAD_KEYS, which no database keeps.
 *
 *   npm run keys -- create --tenant T [--scope write|read|admin] [--name N]
 *   npm run keys -- list
 *   npm run keys -- revoke KEY_OR_ID
 *   npm run keys -- payload-key [--id ID]
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { newKey, parseKey, secretMatches } from './access/keys';
import { isTenant } from './domain/tenancy';
import { loadConfigOrExit } from './config';
import { type ApiKeyRecord, KEY_SCOPES, type KeyScope, type Ledger } from './ledger/ledger';
import { openLedger } from './ledger/open';
import { failureText } from './start-failure';
import { KEY_ID_RULE, isPayloadKeyId, newPayloadKey } from './codec/payload-keys';

const USAGE = `usage:
  npm run keys -- create --tenant TENANT [--scope write|read|admin] [--name NAME]
      makes a key and prints it, once: only a hash of its secret is kept; read may only
      GET, write (the default) may also pay and cancel, admin may also read payloads
      through the codec endpoint (/codec)
  npm run keys -- list
      every key: id, tenant, scope, name, when made, last used and revoked
  npm run keys -- revoke KEY_OR_ID
      revokes a key, given whole or by its id
  npm run keys -- payload-key [--id ID]
      prints a new payload encryption key as PAYLOAD_KEYS takes it (id:base64key); it is
      kept nowhere: put it into PAYLOAD_KEYS (docs/data-in-temporal.md, Rotation)
The database of API keys is the service's: LEDGER_URL, or else DATA_DIR/ledger.db.`;

type Command =
  | { name: 'help' }
  | { name: 'create'; tenant: string; scope: KeyScope; keyName: string | null }
  | { name: 'list' }
  | { name: 'revoke'; keyOrId: string }
  | { name: 'payload-key'; id: string | undefined };

class UsageError extends Error {}

/** The options and the exact number of arguments a command takes. */
function parse(command: string, args: string[], options: ParseArgsConfig['options'], positionals: number) {
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: positionals > 0, strict: true });
  } catch (err) {
    // parseArgs's message names the unknown option, or the option missing its value.
    throw new UsageError((err as Error).message);
  }
  if (parsed.positionals.length !== positionals) {
    throw new UsageError(positionals === 0 ? `${command} takes no arguments` : `${command} takes ${positionals} argument`);
  }
  return parsed as { values: Record<string, string | undefined>; positionals: string[] };
}

function parseCommand([name, ...args]: string[]): Command {
  switch (name) {
    case 'create': {
      const options = { tenant: { type: 'string' }, scope: { type: 'string' }, name: { type: 'string' } } as const;
      const { tenant, scope = 'write', name: keyName } = parse(name, args, options, 0).values;
      if (tenant === undefined) throw new UsageError('create needs --tenant');
      if (!isTenant(tenant)) {
        throw new UsageError(`--tenant must be 1 to 64 of the characters A-Z a-z 0-9 . _ - (got ${JSON.stringify(tenant)})`);
      }
      // Names are shown in `list`'s table, in a terminal.
      if (keyName !== undefined && /\p{Cc}/u.test(keyName)) throw new UsageError('--name may not hold control characters');
      if (!(KEY_SCOPES as readonly string[]).includes(scope)) {
        throw new UsageError(`--scope must be one of ${KEY_SCOPES.join(', ')} (got ${JSON.stringify(scope)})`);
      }
      return { name, tenant, scope: scope as KeyScope, keyName: keyName || null };
    }
    case 'list':
      parse(name, args, {}, 0);
      return { name };
    case 'revoke': {
      const keyOrId = parse(name, args, {}, 1).positionals[0]!;
      // Never echoed: a key pasted with a character lost or added is still most of a secret.
      if (!parseKey(keyOrId) && !/^[0-9a-f]{16}$/.test(keyOrId)) {
        throw new UsageError('revoke takes a whole key (pk_<id>_<secret>) or its id (16 hex characters); what was given is neither');
      }
      return { name, keyOrId };
    }
    case 'payload-key': {
      const { id } = parse(name, args, { id: { type: 'string' } }, 0).values;
      if (id !== undefined && !isPayloadKeyId(id)) throw new UsageError(`--id must be ${KEY_ID_RULE} (got ${JSON.stringify(id)})`);
      return { name, id };
    }
    case 'help':
    case '--help':
    case '-h':
      return { name: 'help' };
    case undefined:
      throw new UsageError('no command given');
    default:
      throw new UsageError(`unknown command ${JSON.stringify(name)}`);
  }
}

/** Runs the command; the exit code. */
async function run(ledger: Ledger, command: Exclude<Command, { name: 'help' | 'payload-key' }>): Promise<number> {
  switch (command.name) {
    case 'create': {
      const { id, key, secretHash } = newKey();
      const record = await ledger.createKey({ id, tenant: command.tenant, scope: command.scope, name: command.keyName, secretHash });
      // The key alone on stdout, so that `npm run --silent keys -- create ... > file` keeps just it.
      process.stdout.write(`${key}\n`);
      process.stderr.write(`made key ${label(record)}; it is shown only this once, and cannot be read back from the database\n`);
      return 0;
    }
    case 'list':
      process.stdout.write(table(await ledger.listKeys()));
      return 0;
    case 'revoke': {
      const whole = parseKey(command.keyOrId);
      const id = whole?.id ?? command.keyOrId;
      const known = await ledger.keyById(id);
      if (!known) {
        process.stderr.write(`no API key with id ${JSON.stringify(id)}: nothing revoked (npm run keys -- list shows them)\n`);
        return 1;
      }
      // A whole key names its record by its id only: a mistyped secret must not revoke the key that id belongs to.
      if (whole && !secretMatches(whole.secret, known.secretHash)) {
        process.stderr.write(`that is not key ${id}: its secret does not match. Nothing revoked; to revoke ${id}, give its id\n`);
        return 1;
      }
      if (known.revokedAt) {
        process.stdout.write(`key ${label(known)} was already revoked at ${known.revokedAt}\n`);
        return 0;
      }
      const revoked = (await ledger.revokeKey(id))!;
      process.stdout.write(`revoked key ${label(revoked)} at ${revoked.revokedAt}\n`);
      return 0;
    }
  }
}

function label({ id, tenant, scope, name }: ApiKeyRecord): string {
  return `${id} (tenant ${tenant}, scope ${scope}${name ? `, name ${JSON.stringify(name)}` : ''})`;
}

/** Never the secret's hash: a listing gets pasted into tickets and chats. */
function table(keys: ApiKeyRecord[]): string {
  const rows = [
    ['id', 'tenant', 'scope', 'name', 'created', 'last used', 'revoked'],
    ...keys.map((k) => [k.id, k.tenant, k.scope, k.name ?? '-', k.createdAt, k.lastUsedAt ?? '-', k.revokedAt ?? '-']),
  ];
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const line = (row: string[]) => row.map((cell, i) => (i < row.length - 1 ? cell.padEnd(widths[i]!) : cell)).join('  ');
  return rows.map((row) => `${line(row)}\n`).join('');
}

async function main(argv: string[]): Promise<number> {
  let command: Command;
  try {
    command = parseCommand(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`keys: ${err.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (command.name === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (command.name === 'payload-key') {
    // Alone on stdout, as a new API key is.
    process.stdout.write(`${newPayloadKey(command.id)}\n`);
    return 0;
  }
  const ledger = await openLedger(loadConfigOrExit());
  try {
    return await run(ledger, command);
  } finally {
    await ledger.close();
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err) => {
      process.stderr.write(`keys failed: ${failureText(err)}\n`);
      process.exitCode = 1;
    },
  );
}
