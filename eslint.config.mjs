// The house rules a compiler does not check: every promise is awaited or handled, and
// workflow code stays deterministic by reaching only domain types and the workflow SDK.
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((name) => `node:${name}`)];

export default tseslint.config(
  { ignores: ['node_modules/', '.tools/', '.data/', 'dist/', 'bench-results/', 'coverage/', '**/*.js', '**/*.mjs'] },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
    },
  },
  {
    files: ['src/workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'workflow code must be deterministic: no Node built-ins' })),
          patterns: [
            {
              group: ['**/ledger', '**/ledger/**', '**/config', '**/http/**', '**/temporal', '**/payments', '**/providers/**'],
              message: 'workflow code reaches only src/domain and @temporalio/workflow',
            },
            { group: ['**/activities', '**/activities/**'], allowTypeImports: true, message: 'import activities as types only (proxyActivities)' },
            { group: ['@temporalio/*', '!@temporalio/workflow', '!@temporalio/common'], message: 'workflow code uses @temporalio/workflow only' },
          ],
        },
      ],
    },
  },
);
