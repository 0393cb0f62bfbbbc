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
    files: ['src/kernel/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ regex: '/services/', message: 'the kernel must not depend on any service' }] }],
    },
  },
);
