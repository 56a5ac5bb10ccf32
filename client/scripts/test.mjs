/**
 * `npm test`: type-check and build, run vitest with coverage, then write
 * ../reports/kpi/client.json (the KPI results contract) through kpi-file.mjs. The file is
 * written even when a step fails, but then no KPI carries a value or passes ("not measured:
 * vitest exited N"), so the release gate says why. The old file is removed first: a run that
 * dies early leaves no figures from an earlier run behind.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { measureBundle } from './bundle-size.mjs';
import { clientKpis, runStamp, writeClientReport } from './kpi-file.mjs';

const clientDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const kpiPath = resolve(clientDir, '..', 'reports', 'kpi', 'client.json');
const started = new Date().toISOString();
rmSync(kpiPath, { force: true });

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: clientDir, stdio: 'inherit', env: process.env });
  return r.status ?? 1;
}

const resultsFile = join(clientDir, 'coverage', 'vitest-results.json');
const summaryFile = join(clientDir, 'coverage', 'coverage-summary.json');
for (const stale of [resultsFile, summaryFile]) rmSync(stale, { force: true });
// The production build (measured, served to players) and the e2e build (runtime overrides on,
// served to the browser suite); bundle.test.ts checks that only the second reads overrides.
const buildStatus = run('npm', ['run', 'build']) || run('npx', ['vite', 'build', '--mode', 'e2e', '--logLevel', 'warn']);
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

/** Line coverage of client/src and of client/src/machines, and branch coverage of the machines. */
function coverage() {
  if (!existsSync(summaryFile)) return { all: null, machines: null, machineBranches: null };
  const summary = JSON.parse(readFileSync(summaryFile, 'utf8'));
  const sums = { lines: { covered: 0, total: 0 }, branches: { covered: 0, total: 0 } };
  for (const [path, data] of Object.entries(summary)) {
    if (path === 'total') continue;
    if (relative(clientDir, path).startsWith(`src${sep}machines${sep}`)) {
      for (const kind of ['lines', 'branches']) {
        sums[kind].covered += data[kind].covered;
        sums[kind].total += data[kind].total;
      }
    }
  }
  const pct = ({ covered, total }) => (total ? (100 * covered) / total : null);
  return {
    all: summary.total.lines.pct,
    machines: pct(sums.lines),
    machineBranches: sums.branches.total ? { pct: pct(sums.branches), ...sums.branches } : null,
  };
}

const cov = coverage();
let bundle = null;
let bundleError = null;
try {
  bundle = buildStatus === 0 ? measureBundle(join(clientDir, 'dist')) : null;
} catch (e) {
  bundleError = String(e);
}
const kpis = clientKpis({ buildStatus, testStatus, coverage: cov, bundle, bundleError });

writeClientReport(kpiPath, { started, finished: new Date().toISOString(), kpis, run: runStamp({ cwd: clientDir }) });
for (const k of kpis) console.log(`${k.passed ? 'PASS' : 'FAIL'} ${k.id} = ${k.value} ${k.unit} (${k.comparator} ${k.threshold}, goal ${k.goal})`);
const mb = cov.machineBranches;
console.log(`client/src/machines branch coverage: ${mb ? `${mb.pct.toFixed(2)} % (${mb.covered} of ${mb.total})` : 'not measured'}`);
console.log(`wrote ${relative(process.cwd(), kpiPath)}`);
const c = counts();
if (c) console.log(`client: ${c.passed} passed, ${c.failed} failed${c.skipped ? `, ${c.skipped} skipped` : ''}`);
process.exit(buildStatus || testStatus);
