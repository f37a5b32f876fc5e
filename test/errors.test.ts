/** The error codes: one table that the gateway answers from and the README shows. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ERRORS, ErrorCode } from '../src/domain/errors';
import { errorTable } from '../tools/docs/error-table';

test("the README's error table is the one in src/domain/errors.ts (regenerate: node --require tsx/cjs tools/docs/error-table.ts)", () => {
  const readme = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
  expect(readme).toContain(errorTable());
});

test('every code raised by name is in the table, and every code in the table has a name', () => {
  expect(Object.values(ErrorCode).sort()).toEqual(Object.keys(ERRORS).sort());
});
