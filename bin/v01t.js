#!/usr/bin/env node
// Thin launcher: the CLI is compiled TypeScript under dist/.
import('../dist/src/apps/cli.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/src/apps/cli.js')) {
    console.error('v01t is not built yet: run `npm run build` (npm start builds automatically).');
    process.exit(1);
  }
  throw err;
});
