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
    {
      name: 'http-suites-live-in-test',
      comment:
        'A suite that starts a whole platform (test/helpers/platform.ts) is an HTTP or end-to-end suite: it lives in test/<service>/. Beside the code sit unit and medium tests only.',
      severity: 'error',
      from: { path: '^src/.+\\.test\\.ts$' },
      to: { path: '^test/helpers/platform\\.ts$' },
    },
    {
      name: 'no-circular',
      comment: 'An import circle means two modules share a room: move what both need into a third (a port or a types file).',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
