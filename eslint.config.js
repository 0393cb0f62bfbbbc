import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'coverage/**', 'web/dist/**', '.ci/.work/**', 'web/src/api/schema.d.ts'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      'no-eval': 'error',
      'no-new-func': 'error',
      // Services talk to each other only through contract.ts (checked again by dependency-cruiser).
      'no-restricted-imports': [
        'error',
        { patterns: [{ regex: '^\\.\\./\\.\\./apps/', message: 'services and kernel must not import the app entry points' }] },
      ],
    },
  },
  {
    // A contract is what other services compile against: types only, so importing it pulls in no
    // code (clients live in <service>/remote.ts, declared by the manifest). ADR 0013.
    files: ['src/services/*/contract.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        ...[
          'ImportDeclaration[importKind="value"]',
          'ExportNamedDeclaration[exportKind="value"]',
          'ExportAllDeclaration[exportKind="value"]',
          'ExportDefaultDeclaration',
          'Program > VariableDeclaration',
          'Program > FunctionDeclaration',
          'Program > ClassDeclaration',
          'TSEnumDeclaration',
        ].map((selector) => ({ selector, message: 'contract.ts holds types only: use `import type` / `export type`, and put code in the service (a client in remote.ts)' })),
      ],
    },
  },
  {
    files: ['src/kernel/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '/services/', message: 'the kernel must not depend on any service' }] }],
    },
  },
);
