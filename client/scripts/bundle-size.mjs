/**
 * Measures what the connection machine adds to the production bundle. vite.config.ts puts
 * xstate, @xstate/react and the packages only they use (use-sync-external-store,
 * use-isomorphic-layout-effect) in the `xstate` chunk and our machine code (with its config)
 * in the `machine` chunk; each is gzipped at level 9 and the two are added up. React and the
 * rest of the app are in other chunks and not counted; bundle.test.ts checks, from the
 * module graph the build reports, that nothing only the machine needs is left outside.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

/** Strings that only @xstate/inspect (and our dev-only devtools module) contain. */
export const INSPECT_MARKERS = ['xstate.inspecting', 'stately.ai/viz'];

/** The chunks the size figure adds up. */
export const COUNTED_CHUNKS = ['xstate', 'machine'];

export function measureBundle(distDir) {
  const assets = join(distDir, 'assets');
  const files = readdirSync(assets).filter((f) => f.endsWith('.js'));
  const chunk = (prefix) => {
    const name = files.find((f) => f.startsWith(`${prefix}-`));
    if (!name) throw new Error(`no ${prefix}-*.js chunk in ${assets}; check vite.config.ts chunk groups`);
    const bytes = readFileSync(join(assets, name));
    return { file: `assets/${name}`, bytes: bytes.length, gzipBytes: gzipSync(bytes, { level: 9 }).length };
  };
  const xstate = chunk('xstate');
  const machine = chunk('machine');
  const inspectHits = files.filter((f) => {
    const text = readFileSync(join(assets, f), 'utf8');
    return INSPECT_MARKERS.some((m) => text.includes(m));
  });
  const totalJsGzip = files.reduce((n, f) => n + gzipSync(readFileSync(join(assets, f)), { level: 9 }).length, 0);
  return { xstate, machine, gzipKb: (xstate.gzipBytes + machine.gzipBytes) / 1024, inspectHits, totalJsGzipKb: totalJsGzip / 1024 };
}
