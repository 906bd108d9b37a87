// Lint rules, kept few; each says why it is here. Formatting is prettier's job (`npm run format:check`).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'bundle/**', '.tap/**', 'coverage/**', '**/*.d.ts', 'build/**', '.cache/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        URL: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        performance: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        TextDecoder: 'readonly',
        TextEncoder: 'readonly',
        structuredClone: 'readonly',
        queueMicrotask: 'readonly',
        NodeJS: 'readonly',
      },
    },
    rules: {
      // One import statement per module (type-only imports may stand apart): a reader finds every name from a module in one place.
      'no-duplicate-imports': ['error', { allowSeparateTypeImports: true }],
      // Unused names are a compile error already (noUnusedLocals); `_`-prefixed parameters document a required-but-unused position.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Control characters are matched on purpose: that is how text from a kernel or launcher is made safe for JSON and terminals.
      'no-control-regex': 'off',
      // One privacy style: ECMAScript `#` fields, which are private at run time too, never TypeScript's `private` keyword.
      'no-restricted-syntax': [
        'error',
        {
          selector: "TSParameterProperty[accessibility='private']",
          message: 'Use a #field instead of a private parameter property (one privacy style).',
        },
        { selector: "PropertyDefinition[accessibility='private']", message: 'Use a #field instead of `private` (one privacy style).' },
        {
          selector: "MethodDefinition[accessibility='private'][kind!='constructor']",
          message: 'Use a #method instead of `private` (one privacy style).',
        },
      ],
    },
  },
  {
    // The launcher's start-up path loads only what it needs: the common barrel pulls every module (pino, tweetnacl) eagerly.
    files: ['packages/launcher/src/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            {
              name: '@gateway-launchers/common',
              message: 'Import the subpath (e.g. @gateway-launchers/common/errors): the barrel loads every module at start-up.',
            },
          ],
        },
      ],
    },
  },
  {
    // Tests, benches and the demo may use non-null assertions on values the test itself set up.
    files: ['**/test/**/*.ts', 'bench/**/*.ts', 'demo/**/*.ts', 'test/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
