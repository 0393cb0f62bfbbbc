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
  // Database access only in repositories, schema, migrations and the kernel (ADR 0017): a service
  // opens transactions through the kernel's Transactor and hands the Tx to repositories, the audit
  // log and the outbox, but writes no SQL and holds no drizzle handle. Tests may use the database.
  {
    files: ['src/services/**/*.ts'],
    ignores: [
      '**/*repository.ts',
      '**/schema.ts',
      '**/migrations.ts',
      '**/migrations/**',
      '**/*.test.ts',
      '**/*.test-data.ts',
      // Known exceptions, owned elsewhere and to be moved into repositories by their owners (list
      // kept explicit so a new one fails the lint instead of slipping in):
      '**/ops/deployments.ts', // reads kernel.audit_log with sql
      '**/ops/incidents.service.ts', // Db type
    ],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'drizzle-orm', message: 'SQL belongs in a *.repository.ts (ADR 0017)' }],
          patterns: [
            { regex: '^\\.\\./\\.\\./apps/', message: 'services and kernel must not import the app entry points' },
            { regex: '^(drizzle-orm/|pg$|@electric-sql/pglite)', message: 'database drivers belong in the kernel and repositories (ADR 0017)' },
            {
              regex: '/kernel/db/database\\.js$',
              importNames: ['Db', 'DbExecutor', 'DbTx', 'Database', 'RawClient'],
              message: 'a service takes a Transactor and passes a Tx (kernel/db/transaction.js); SQL belongs in a *.repository.ts (ADR 0017)',
            },
            { regex: '/kernel/db/rows\\.js$', message: 'raw rows are read in a *.repository.ts (ADR 0017)' },
          ],
        },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.property.name=/^(execute|query|withClient|withTransaction)$/][callee.object.property.name=/^(db|database|orm)$/]",
          message: 'a service runs no SQL: add a repository method (ADR 0017)',
        },
        {
          selector: "CallExpression[callee.property.name='execute'][callee.object.name=/^(db|tx|ex|client)$/]",
          message: 'a service runs no SQL: add a repository method (ADR 0017)',
        },
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
