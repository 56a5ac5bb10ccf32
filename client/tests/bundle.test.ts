// @vitest-environment node
/**
 * Build checks on client/dist (npm test builds first): the inspector is absent from the
 * production bundle, and the XState part of it stays within the size budget.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { INSPECT_MARKERS, measureBundle } from '../scripts/bundle-size.mjs';

const root = resolve(__dirname, '..');
const dist = resolve(root, 'dist');

describe('production bundle', () => {
  it('has been built', () => {
    expect(existsSync(resolve(dist, 'index.html')), 'run `npm run build` first (npm test does)').toBe(true);
  });

  it('would reveal the inspector if it were bundled (the markers are real)', () => {
    const inspector = readFileSync(resolve(root, 'node_modules/@xstate/inspect/es/browser.js'), 'utf8');
    expect(INSPECT_MARKERS.filter((m) => inspector.includes(m))).toEqual(INSPECT_MARKERS);
    const main = readFileSync(resolve(root, 'src/main.tsx'), 'utf8');
    expect(main).toMatch(/import\.meta\.env\.DEV[^\n]*\n\s*const \{ startInspector \} = await import\('\.\/devtools'\)/);
  });

  it('does not contain @xstate/inspect', () => {
    expect(measureBundle(dist).inspectHits).toEqual([]);
  });

  it('adds at most 50 KB gzip of XState', () => {
    const { gzipKb, xstate, machine } = measureBundle(dist);
    console.info(`xstate ${xstate.gzipBytes} B + machine ${machine.gzipBytes} B = ${gzipKb.toFixed(2)} KB gzip`);
    expect(gzipKb).toBeGreaterThan(1);
    expect(gzipKb).toBeLessThanOrEqual(50);
  });
});
