/**
 * `npm run keys` as an operator runs it: a real process on a SQLite database under DATA_DIR,
 * its standard output and error read apart (the key must be alone on stdout) with its exit code.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseKey, secretMatches } from '../src/access/keys';
import { loadConfig } from '../src/config';
import { SqliteLedger } from '../src/ledger/sqlite';
import { launchNode, TYPESCRIPT } from '../tools/launch';
import { PROJECT_ROOT } from '../tools/paths';
import { tempDir } from './helpers/servers';

jest.setTimeout(60_000);

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

let dataDir: string;
beforeEach(() => {
  dataDir = tempDir('keys');
});

/** `npm run keys -- ...args`; LEDGER_URL emptied so that a PostgreSQL of the surrounding shell is not used. */
function keys(...args: string[]): Promise<Run> {
  const child = launchNode([...TYPESCRIPT, path.join(PROJECT_ROOT, 'src/keys.ts'), ...args], {
    env: { DATA_DIR: dataDir, LEDGER_URL: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk) => (stdout += chunk));
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  // 'close', not 'exit': the output is all read by then.
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

async function created(...args: string[]): Promise<{ key: string; id: string; secret: string }> {
  const run = await keys('create', ...args);
  expect(run).toMatchObject({ code: 0 });
  const key = run.stdout.trimEnd();
  return { key, ...parseKey(key)! };
}

test('create prints the key alone on stdout, once; the database keeps only the hash of its secret', async () => {
  const run = await keys('create', '--tenant', 'default', '--scope', 'read', '--name', 'ci bot');
  expect(run.code).toBe(0);
  expect(run.stdout).toMatch(/^[^\n]+\n$/);
  const parsed = parseKey(run.stdout.trimEnd());
  expect(parsed).toBeDefined();
  expect(run.stderr).toContain(parsed!.id);
  expect(run.stderr).toContain('default');
  expect(run.stderr).toContain('read');
  expect(run.stderr).toMatch(/once/);
  expect(run.stderr).not.toContain(parsed!.secret);

  const ledger = new SqliteLedger({ file: path.join(dataDir, 'ledger.db'), openingBalance: 0 });
  try {
    const record = await ledger.keyById(parsed!.id);
    expect(record).toMatchObject({ tenant: 'default', scope: 'read', name: 'ci bot', revokedAt: null });
    expect(secretMatches(parsed!.secret, record!.secretHash)).toBe(true);
  } finally {
    await ledger.close();
  }
});

test('list shows each key with its id, tenant and scope, never the key, its secret or its hash', async () => {
  const first = await created('--tenant', 'default');
  const second = await created('--tenant', 'default', '--scope', 'read', '--name', 'reports');
  const run = await keys('list');
  expect(run.code).toBe(0);
  const lines = run.stdout.trimEnd().split('\n');
  expect(lines[0]).toMatch(/^id\s+tenant\s+scope\s+name\s+created\s+last used\s+revoked$/);
  expect(lines).toHaveLength(3);
  expect(lines[1]).toMatch(new RegExp(`^${first.id}\\s+default\\s+write\\s+-\\s+\\S+Z\\s+-\\s+-$`));
  expect(lines[2]).toMatch(new RegExp(`^${second.id}\\s+default\\s+read\\s+reports\\s+\\S+Z\\s+-\\s+-$`));
  for (const { key, secret } of [first, second]) {
    expect(run.stdout).not.toContain(key);
    expect(run.stdout).not.toContain(secret);
  }
  expect(run.stdout).not.toMatch(/[0-9a-f]{64}/);
});

test('revoke takes the whole key or its id; a second revoke keeps the first time; an unknown key exits 1', async () => {
  const byKey = await created('--tenant', 'default');
  const byId = await created('--tenant', 'default');
  const kept = await created('--tenant', 'default');

  const revokedByKey = await keys('revoke', byKey.key);
  expect(revokedByKey.code).toBe(0);
  expect(revokedByKey.stdout).toContain(`revoked key ${byKey.id}`);
  const revokedById = await keys('revoke', byId.id);
  expect(revokedById.code).toBe(0);
  expect(revokedById.stdout).toContain(`revoked key ${byId.id}`);
  const revokedAt = /at (\S+)$/.exec(revokedById.stdout.trimEnd())![1]!;

  const again = await keys('revoke', byId.key);
  expect(again.code).toBe(0);
  expect(again.stdout).toContain(`already revoked at ${revokedAt}`);

  const unknown = await keys('revoke', '0123456789abcdef');
  expect(unknown.code).toBe(1);
  expect(unknown.stderr).toContain('no API key with id "0123456789abcdef"');
  // A well-formed key whose secret is not the one stored is not that key.
  const forged = await keys('revoke', `pk_${kept.id}_${'A'.repeat(43)}`);
  expect(forged.code).toBe(1);
  expect(forged.stderr).toContain('does not match');

  const list = (await keys('list')).stdout;
  const row = (id: string) => list.split('\n').find((line) => line.startsWith(id))!;
  expect(row(byKey.id)).toMatch(/\S+Z$/);
  expect(row(byId.id)).toMatch(new RegExp(`${revokedAt}$`));
  expect(row(kept.id)).toMatch(/ -$/);
});

test('a bad tenant exits 2 naming --tenant and its alphabet, and makes no key', async () => {
  const run = await keys('create', '--tenant', 'acme/eu');
  expect(run.code).toBe(2);
  expect(run.stdout).toBe('');
  expect(run.stderr).toContain('--tenant');
  expect(run.stderr).toContain('A-Z a-z 0-9 . _ -');
  expect((await keys('list')).stdout.trimEnd().split('\n')).toHaveLength(1);
});

test('create --scope admin makes an admin key, which list shows', async () => {
  const { id, secret } = await created('--tenant', 'default', '--scope', 'admin');
  const list = (await keys('list')).stdout;
  expect(list.split('\n').find((line) => line.startsWith(id))).toMatch(new RegExp(`^${id}\\s+default\\s+admin\\s`));
  expect(list).not.toContain(secret);
});

test('a key of another tenant is made for that tenant', async () => {
  const { id } = await created('--tenant', 'acme');
  const list = (await keys('list')).stdout;
  expect(list.split('\n').find((line) => line.startsWith(id))).toMatch(new RegExp(`^${id}\\s+acme\\s+write\\s`));
});

test.each([
  { usage: 'an unknown command', args: ['rotate'], says: 'unknown command "rotate"' },
  { usage: 'no command', args: [], says: 'no command given' },
  { usage: 'an unknown option', args: ['list', '--all'], says: "'--all'" },
  { usage: 'an option without its value', args: ['create', '--tenant'], says: '--tenant' },
  { usage: 'create without --tenant', args: ['create'], says: 'create needs --tenant' },
  { usage: 'a scope other than read, write or admin', args: ['create', '--tenant', 'default', '--scope', 'owner'], says: '--scope' },
  { usage: 'revoke without its argument', args: ['revoke'], says: 'revoke takes 1 argument' },
  { usage: 'revoke of a mangled key', args: ['revoke', `pk_0123456789abcdef_${'S'.repeat(40)}`], says: 'what was given is neither' },
])('$usage exits 2 with the usage on stderr', async ({ args, says }) => {
  const run = await keys(...args);
  expect(run.code).toBe(2);
  expect(run.stdout).toBe('');
  expect(run.stderr).toContain(says);
  expect(run.stderr).toContain('usage:');
  // Whatever was typed is never echoed: a mangled key is still most of a secret.
  for (const arg of args.slice(1)) if (arg.length > 20) expect(run.stderr).not.toContain(arg.slice(20));
});

test('payload-key prints a new PAYLOAD_KEYS entry alone on stdout, touching no database; a bad --id exits 2', async () => {
  const named = await keys('payload-key', '--id', 'k2');
  expect(named).toMatchObject({ code: 0, stderr: '' });
  const [key] = loadConfig({ PAYLOAD_KEYS: named.stdout.trim() }).payloadKeys!;
  expect(key.id).toBe('k2');
  const dated = (await keys('payload-key')).stdout.trim();
  expect(dated).toMatch(/^key-\d{4}-\d{2}-\d{2}-[0-9a-f]{4}:/);
  expect(dated.split(':')[1]).not.toBe(named.stdout.trim().split(':')[1]);
  expect(fs.readdirSync(dataDir)).toEqual([]);

  const refused = await keys('payload-key', '--id', 'k 2');
  expect(refused).toMatchObject({ code: 2, stdout: '' });
  expect(refused.stderr).toContain('--id must be 1 to 64 of A-Z a-z 0-9 . _ -');
});
