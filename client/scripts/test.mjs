/**
 * `npm test`: type-check and build, run vitest with coverage, then write
 * ../reports/kpi/client.json (the KPI results contract). KPIs are written even when a
 * step fails, marked failed, so the release gate says why.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measureBundle } from './bundle-size.mjs';

const clientDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const kpiPath = resolve(clientDir, '..', 'reports', 'kpi', 'client.json');
const started = new Date().toISOString();

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: clientDir, stdio: 'inherit', env: process.env });
  return r.status ?? 1;
}

const buildStatus = run('npm', ['run', 'build']);
const resultsFile = join(clientDir, 'coverage', 'vitest-results.json');
const testStatus = run('npx', [
  'vitest', 'run', '--coverage',
  '--reporter=default', '--reporter=json', `--outputFile.json=${resultsFile}`,
  ...process.argv.slice(2),
]);

/** Counts from vitest's JSON report, for a plain closing line. */
function counts() {
  if (!existsSync(resultsFile)) return null;
  const r = JSON.parse(readFileSync(resultsFile, 'utf8'));
  return { passed: r.numPassedTests, failed: r.numFailedTests, skipped: r.numPendingTests + r.numTodoTests };
}

function coverage() {
  const file = join(clientDir, 'coverage', 'coverage-summary.json');
  if (!existsSync(file)) return { all: null, machines: null };
  const summary = JSON.parse(readFileSync(file, 'utf8'));
  let covered = 0;
  let total = 0;
  for (const [path, data] of Object.entries(summary)) {
    if (path === 'total') continue;
    if (relative(clientDir, path).startsWith(`src${sep}machines${sep}`)) {
      covered += data.lines.covered;
      total += data.lines.total;
    }
  }
  return { all: summary.total.lines.pct, machines: total ? (100 * covered) / total : null };
}

function kpi(id, value, unit, comparator, threshold, goal, evidence, extraOk = true) {
  const meets = value !== null && (comparator === '>=' ? value >= threshold : value <= threshold);
  return { id, value: value === null ? null : Math.round(value * 100) / 100, unit, comparator, threshold, goal, passed: meets && extraOk, evidence };
}

const cov = coverage();
let bundle = null;
let bundleError = null;
try {
  bundle = buildStatus === 0 ? measureBundle(join(clientDir, 'dist')) : null;
} catch (e) {
  bundleError = String(e);
}
const testsOk = testStatus === 0;
const suiteNote = testsOk ? 'all client tests passed' : `vitest exited ${testStatus}`;
const kpis = [
  kpi('client_machine_coverage', cov.machines, '%', '>=', 85, 100,
    `vitest --coverage (v8), lines of client/src/machines; ${suiteNote}; every simple path walked by tests/connectionMachine.model.test.ts (@xstate/test)`, testsOk),
  kpi('client_coverage', cov.all, '%', '>=', 80, 90,
    `vitest --coverage (v8), lines of client/src excluding main.tsx and devtools.ts (entry and dev-only inspector); ${suiteNote}`, testsOk),
  kpi('xstate_bundle_gzip_kb', bundle ? bundle.gzipKb : null, 'KB', '<=', 50, 20,
    bundle
      ? `vite build; gzip -9 of ${bundle.xstate.file} (xstate + @xstate/react, ${bundle.xstate.gzipBytes} B) + ${bundle.machine.file} (our machine and config, ${bundle.machine.gzipBytes} B), split by build.rolldownOptions codeSplitting groups; all JS ${bundle.totalJsGzipKb.toFixed(1)} KB gzip; @xstate/inspect markers in production bundle: ${bundle.inspectHits.length === 0 ? 'none' : bundle.inspectHits.join(', ')}`
      : `not measured: build exited ${buildStatus}${bundleError ? `, ${bundleError}` : ''}`,
    bundle !== null && bundle.inspectHits.length === 0),
];

mkdirSync(dirname(kpiPath), { recursive: true });
const report = { suite: 'client', started, finished: new Date().toISOString(), kpis };
writeFileSync(kpiPath, `${JSON.stringify(report, null, 2)}\n`);
for (const k of kpis) console.log(`${k.passed ? 'PASS' : 'FAIL'} ${k.id} = ${k.value} ${k.unit} (${k.comparator} ${k.threshold}, goal ${k.goal})`);
console.log(`wrote ${relative(process.cwd(), kpiPath)}`);
const c = counts();
if (c) console.log(`client: ${c.passed} passed, ${c.failed} failed${c.skipped ? `, ${c.skipped} skipped` : ''}`);
process.exit(buildStatus || testStatus);
