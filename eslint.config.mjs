// Lint (`npm run lint`, and step 2 of `npm test`): the async-correctness rules a type checker cannot give. This code
// base is mostly lifecycles (workers, queues, servers, shutdowns), where a promise nobody awaits or handles is a lost
// error or a close that never happens, so those rules are errors. Style is not linted (tsc --strict covers types).
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.cache/**', '.scratch/**', '.serverless/**', '.build/**', '.esbuild/**', '.bench-tmp/**', 'coverage/**'] },
  {
    files: ['**/*.ts'],
    languageOptions: { parser: tseslint.parser, parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { '@typescript-eslint': tseslint.plugin },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // node:test's test()/describe() return promises the runner itself tracks; awaiting them is not needed.
      '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['test', 'describe', 'it', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] }] }],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/require-array-sort-compare': ['error', { ignoreStringArrays: true }],
      '@typescript-eslint/prefer-promise-reject-errors': 'off',
    },
  },
);
