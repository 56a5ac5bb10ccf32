/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const backend = process.env.MYTHOS_DEV_BACKEND ?? 'http://127.0.0.1:8000';

/**
 * xstate with its React bindings, and our machine code, each get a chunk of their own so
 * scripts/bundle-size.mjs can measure what XState adds to the page (gzip). React gets its
 * own chunk too, so the chunks import each other in one direction only.
 */
const chunkGroups = [
  { name: 'react', test: /node_modules[\\/](react|react-dom|scheduler|use-sync-external-store|use-isomorphic-layout-effect)[\\/]/, priority: 3 },
  { name: 'xstate', test: /node_modules[\\/](xstate|@xstate)[\\/]/, priority: 2 },
  { name: 'machine', test: /src[\\/](machines[\\/]|config\.ts)/, priority: 1 },
];

export default defineConfig({
  plugins: [react()],
  server: {
    host: '127.0.0.1',
    proxy: {
      '/auth': { target: backend, changeOrigin: true },
      '/api': { target: backend, changeOrigin: true, ws: true },
    },
  },
  build: {
    outDir: 'dist',
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
});
