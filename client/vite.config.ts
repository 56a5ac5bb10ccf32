/// <reference types="vitest/config" />
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';
import react from '@vitejs/plugin-react';

const backend = process.env.MYTHOS_DEV_BACKEND ?? 'http://127.0.0.1:8000';
const clientDir = dirname(fileURLToPath(import.meta.url));

/**
 * xstate with its React bindings (and the two small packages only those bindings use), and
 * our machine code, each get a chunk of their own so scripts/bundle-size.mjs can measure what
 * the connection machine adds to the page (gzip). React gets its own chunk too, so the chunks
 * import each other in one direction only.
 */
const chunkGroups = [
  { name: 'xstate', test: /node_modules[\\/](xstate|@xstate|use-sync-external-store|use-isomorphic-layout-effect)[\\/]/, priority: 3 },
  { name: 'react', test: /node_modules[\\/](react|react-dom|scheduler)[\\/]/, priority: 2 },
  { name: 'machine', test: /src[\\/](machines[\\/]|config\.ts)/, priority: 1 },
];

/** The modules the bundle measurement counts as the connection machine's: the seeds below. */
const MACHINE_SEED = /node_modules[\\/](xstate|@xstate)[\\/]|src[\\/](machines[\\/]|config\.ts)/;

/**
 * Writes build-report/<mode>.json (outside dist, so it is never served): every chunk's
 * modules, and the modules only the connection machine needs, found from the module graph
 * (every importer is a seed or itself only needed by the machine). bundle.test.ts checks that
 * each of those is in a counted chunk, so the size figure cannot leave part of XState out.
 */
function connectionModulesReport(mode: string): Plugin {
  return {
    name: 'mythos-connection-modules',
    apply: 'build',
    generateBundle(_options, bundle) {
      const rel = (id: string) => relative(clientDir, id.replace(/^\0/, '')).split('\\').join('/');
      const chunks: Record<string, string[]> = {};
      const all = new Set<string>();
      for (const output of Object.values(bundle)) {
        if (output.type !== 'chunk') continue;
        chunks[output.name] = output.moduleIds.map(rel);
        output.moduleIds.forEach((id) => all.add(id));
      }
      const machineOnly = new Set([...all].filter((id) => MACHINE_SEED.test(id)));
      for (let grew = true; grew; ) {
        grew = false;
        for (const id of all) {
          if (machineOnly.has(id)) continue;
          const info = this.getModuleInfo(id);
          // Importers tree-shaken out of the bundle (useMachine, say) do not count.
          const importers = [...(info?.importers ?? []), ...(info?.dynamicImporters ?? [])].filter((i) => all.has(i));
          if (importers.length > 0 && importers.every((i) => machineOnly.has(i))) {
            machineOnly.add(id);
            grew = true;
          }
        }
      }
      const dir = resolve(clientDir, 'build-report');
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        resolve(dir, `${mode}.json`),
        `${JSON.stringify({ mode, chunks, machineOnly: [...machineOnly].map(rel).sort() }, null, 2)}\n`,
      );
    },
  };
}

export default defineConfig(({ mode }) => ({
  plugins: [react(), connectionModulesReport(mode)],
  server: {
    host: '127.0.0.1',
    proxy: {
      '/auth': { target: backend, changeOrigin: true },
      '/api': { target: backend, changeOrigin: true, ws: true },
    },
  },
  build: {
    outDir: mode === 'e2e' ? 'dist-e2e' : 'dist',
    emptyOutDir: true,
    sourcemap: false,
    rolldownOptions: {
      output: { codeSplitting: { includeDependenciesRecursively: false, groups: chunkGroups } },
    },
  },
  test: {
    environment: 'jsdom',
    globals: true,
    include: ['tests/**/*.test.{ts,tsx}'],
    setupFiles: ['tests/setup.ts'],
    coverage: {
      provider: 'v8',
      include: ['src/**/*.{ts,tsx}'],
      exclude: ['src/main.tsx', 'src/devtools.ts', 'src/**/*.d.ts'],
      reporter: ['text-summary', 'json-summary', 'json'],
      reportsDirectory: 'coverage',
      reportOnFailure: true,
    },
  },
}));
