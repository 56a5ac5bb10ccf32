/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

const backend = process.env.MYTHOS_DEV_BACKEND ?? 'http://127.0.0.1:8000';

/** xstate and its React bindings go to their own chunk so their gzip size can be measured. */
function chunkFor(id: string): string | undefined {
  if (/node_modules[\\/](xstate|@xstate)[\\/]/.test(id)) return 'xstate';
  if (/src[\\/]machines[\\/]/.test(id)) return 'machine';
  return undefined;
}

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
    rollupOptions: { output: { manualChunks: chunkFor } },
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
    },
  },
});
