/**
 * `node --experimental-websocket scripts/herd.mjs --base URL
 *  --tokens FILE --out FILE [--max-seconds 120] [--ramp-ms 2000] [--stop-on-stdin-close]`
 *
 * Runs one real connection machine per token of FILE (a JSON list) against a mythos server and
 * writes every change of a client's state as a JSON line to --out. It bundles herdClient.ts
 * (the machine, its config and the page's services) with vite first, so the code under test
 * is the client's source, not a copy. It stops by itself after --max-seconds, or earlier when
 * its stdin closes (with --stop-on-stdin-close) or it gets SIGTERM/SIGINT; either way it
 * writes each client's final state.
 */
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'vite';

const clientDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const bundleDir = join(clientDir, 'node_modules', '.cache', 'mythos-herd');

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    tokens: { type: 'string' },
    out: { type: 'string' },
    'max-seconds': { type: 'string', default: '120' },
    'ramp-ms': { type: 'string', default: '2000' },
    'stop-on-stdin-close': { type: 'boolean', default: false },
  },
});
if (!values.base || !values.tokens || !values.out) {
  console.error('usage: herd.mjs --base URL --tokens FILE --out FILE [--max-seconds N] [--ramp-ms N]');
  process.exit(2);
}
const maxSeconds = Number(values['max-seconds']);
const rampMs = Number(values['ramp-ms']);
if (!(maxSeconds > 0 && maxSeconds <= 600) || !(rampMs >= 0 && rampMs <= 60_000)) {
  console.error('--max-seconds must be in (0, 600] and --ramp-ms in [0, 60000]');
  process.exit(2);
}
const tokens = JSON.parse(readFileSync(values.tokens, 'utf8'));
if (!Array.isArray(tokens) || tokens.length === 0 || !tokens.every((t) => typeof t === 'string')) {
  console.error(`${values.tokens}: expected a non-empty JSON list of tokens`);
  process.exit(2);
}

await build({
  configFile: false,
  root: clientDir,
  logLevel: 'warn',
  build: {
    ssr: join(clientDir, 'scripts', 'herdClient.ts'),
    outDir: bundleDir,
    emptyOutDir: true,
    minify: false,
    rolldownOptions: { output: { entryFileNames: 'herdClient.mjs' } },
  },
  ssr: { noExternal: true, target: 'node' },
});
const { startHerd } = await import(pathToFileURL(join(bundleDir, 'herdClient.mjs')).href);

mkdirSync(dirname(resolve(values.out)), { recursive: true });
const fd = openSync(values.out, 'w');
/** Synchronous writes: every line is whole and in order even if the process is cut off. */
const emit = (line) => writeSync(fd, `${JSON.stringify(line)}\n`);

emit({ t: Date.now(), client: -1, kind: 'herd', note: `start ${tokens.length} clients against ${values.base}` });
const herd = startHerd({ baseUrl: values.base, tokens, emit, rampMs });

function finish(note) {
  herd.stop(note);
  emit({ t: Date.now(), client: -1, kind: 'herd', note: `stop: ${note}` });
  closeSync(fd);
  // Stopped machines have closed their links; exit without waiting for sockets to linger.
  setTimeout(() => process.exit(0), 200).unref();
}

const deadline = setTimeout(() => finish(`${maxSeconds} s bound`), maxSeconds * 1000);
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    clearTimeout(deadline);
    finish(signal);
  });
}
if (values['stop-on-stdin-close']) {
  // The parent holds the other end: if it dies, the herd stops with it.
  process.stdin.on('end', () => {
    clearTimeout(deadline);
    finish('stdin closed');
  });
  process.stdin.resume();
}
