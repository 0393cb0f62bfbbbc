// Runs a TypeScript entry file of this repository in a plain Node process (no build step), with
// Vite's SSR module loader (Vite is already a dev dependency through vitest): node run-ts.mjs <file.ts>
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'vite';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const entry = path.resolve(process.argv[2]);
const server = await createServer({ root, configFile: false, server: { middlewareMode: true, hmr: false, watch: null }, appType: 'custom', optimizeDeps: { noDiscovery: true, include: [] }, logLevel: 'error' });
await server.ssrLoadModule('/' + path.relative(root, entry));
