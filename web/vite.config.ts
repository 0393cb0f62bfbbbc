import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// The web app builds into dist/web, which the orchestrator's process serves at `/` (docs/adr/0024-web-app.md).
export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
  build: {
    outDir: '../dist/web',
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    // A strict CSP forbids inline script: keep Vite from inlining its module preload helper.
    modulePreload: { polyfill: false },
  },
  server: {
    // `npx vite web` during development: the API runs on :8080 (npm start).
    proxy: { '/v1': 'http://127.0.0.1:8080', '/hooks': 'http://127.0.0.1:8080' },
  },
});
