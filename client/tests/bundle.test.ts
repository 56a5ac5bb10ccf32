// @vitest-environment node
/**
 * Build checks on client/dist and client/dist-e2e (npm test builds both first): the
 * inspector is absent from the production bundle, runtime overrides exist only in the e2e
 * build, the size figure counts every module only the connection machine needs, and that
 * part stays within the size budget.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { COUNTED_CHUNKS, INSPECT_MARKERS, measureBundle } from '../scripts/bundle-size.mjs';

const root = resolve(__dirname, '..');
const dist = resolve(root, 'dist');
const distE2e = resolve(root, 'dist-e2e');

/** Whether any JavaScript file of a build contains `text`. */
function jsContains(dir: string, text: string): boolean {
  const assets = resolve(dir, 'assets');
  return readdirSync(assets)
    .filter((f) => f.endsWith('.js'))
    .some((f) => readFileSync(resolve(assets, f), 'utf8').includes(text));
}

interface BuildReport {
  chunks: Record<string, string[]>;
  machineOnly: string[];
}

function buildReport(mode: string): BuildReport {
  return JSON.parse(readFileSync(resolve(root, 'build-report', `${mode}.json`), 'utf8')) as BuildReport;
}

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

  it('honours no runtime overrides: the code that reads them is not in the production build', () => {
    expect(existsSync(resolve(distE2e, 'index.html')), 'npm run build:e2e (npm test does)').toBe(true);
    // The e2e build keeps it, so the marker is real.
    expect(jsContains(distE2e, '__MYTHOS_CONFIG__')).toBe(true);
    expect(jsContains(dist, '__MYTHOS_CONFIG__')).toBe(false);
  });

  it('counts every module only the connection machine needs', () => {
    const report = buildReport('production');
    const counted = new Set(COUNTED_CHUNKS.flatMap((name) => report.chunks[name] ?? []));
    expect(report.machineOnly).toEqual(expect.arrayContaining([
      'node_modules/use-sync-external-store/shim/with-selector.js',
      'node_modules/use-isomorphic-layout-effect/dist/use-isomorphic-layout-effect.browser.esm.js',
      'src/machines/connectionMachine.ts',
    ]));
    expect(report.machineOnly.filter((id) => !counted.has(id))).toEqual([]);
  });

  it('adds at most 50 KB gzip for the connection machine (goal 20 KB)', () => {
    const { gzipKb, xstate, machine } = measureBundle(dist);
    console.info(`xstate ${xstate.gzipBytes} B + machine ${machine.gzipBytes} B = ${gzipKb.toFixed(2)} KB gzip`);
    expect(gzipKb).toBeGreaterThan(1);
    expect(gzipKb).toBeLessThanOrEqual(50);
  });
});
