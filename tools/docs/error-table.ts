/**
 * The README's error table, rendered from the one table of error codes (src/domain/errors.ts).
 * `node --require tsx/cjs tools/docs/error-table.ts` prints it; test/errors.test.ts checks the README holds it.
 */
import { ERRORS } from '../../src/domain/errors';

export function errorTable(): string {
  const rows = Object.entries(ERRORS).map(
    ([code, e]) => `| \`${code}\` | ${e.status} | ${e.when} | ${e.kind === 'retry' ? 'later (`Retry-After`)' : 'no'} | ${e.afterwards} |`,
  );
  return ['| code | status | when | same request again | the payment afterwards |', '| --- | --- | --- | --- | --- |', ...rows].join('\n');
}

if (require.main === module) process.stdout.write(`${errorTable()}\n`);
