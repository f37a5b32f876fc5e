// The house rules a compiler does not check: every promise is awaited or handled, and
// workflow code stays deterministic by reaching only domain types and the workflow SDK.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', '.tools/', '.data/', '.cache/', 'dist/', 'bench-results/', 'coverage/', '**/*.js', '**/*.mjs'] },
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
      // An allowlist: whatever is not named here (Node built-ins, the ledger, config, any npm
      // package) is refused, so a new import has to be argued for here first.
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!@temporalio/workflow$|\\./[^/]+$|\\.\\./domain/[^/]+$|\\.\\./activities$)',
              message: 'workflow code reaches only src/domain, its own folder and @temporalio/workflow',
            },
            { group: ['../activities'], allowTypeImports: true, message: 'import activities as types only (proxyActivities)' },
          ],
        },
      ],
    },
  },
);
