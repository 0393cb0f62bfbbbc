/** Service boundaries (ARCHITECTURE.md, habit 2): checked by `npm run lint`. */
module.exports = {
  forbidden: [
    {
      name: 'kernel-is-service-agnostic',
      comment: 'The kernel is shared machinery; it must not import any service.',
      severity: 'error',
      from: { path: '^src/kernel/' },
      to: { path: '^src/services/' },
    },
    {
      name: 'services-use-contracts-only',
      comment: 'A service may import another service only through its contract.ts.',
      severity: 'error',
      from: { path: '^src/services/([^/]+)/' },
      to: { path: '^src/services/([^/]+)/', pathNot: ['^src/services/$1/', '^src/services/[^/]+/contract\\.ts$'] },
    },
    {
      name: 'contracts-are-types-only',
      comment: 'A service reaches another through ctx.contracts; the code behind it (index.ts, remote.ts) is wired by the app entry points only.',
      severity: 'error',
      from: { path: '^src/services/([^/]+)/' },
      to: { path: '^src/services/([^/]+)/contract\\.ts$', pathNot: '^src/services/$1/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'no-apps-from-library-code',
      severity: 'error',
      from: { path: '^src/(kernel|services)/' },
      to: { path: '^src/apps/' },
    },
    { name: 'no-circular-kernel', severity: 'warn', from: { path: '^src/kernel/' }, to: { circular: true } },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
