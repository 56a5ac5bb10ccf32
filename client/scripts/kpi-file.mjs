/**
 * The client suite's KPI file (reports/kpi/client.json), split out of test.mjs so that its
 * rules are tested: a failed build or vitest run writes no passing value (each KPI is "not
 * measured", value null, passed false), and the file is stamped with the run and the commit
 * the way harness.kpi.write_suite stamps the Python suites' files.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** The catalogue rows of this suite (harness/kpi.py is the source; the gate checks they agree). */
export const CLIENT_KPIS = {
  client_machine_coverage: { unit: '%', comparator: '>=', threshold: 85, goal: 100 },
  client_coverage: { unit: '%', comparator: '>=', threshold: 80, goal: 90 },
  xstate_bundle_gzip_kb: { unit: 'KB', comparator: '<=', threshold: 50, goal: 20 },
};

function meets(value, comparator, threshold) {
  if (typeof value !== 'number' || !Number.isFinite(value)) return false;
  return comparator === '>=' ? value >= threshold : value <= threshold;
}

const round2 = (value) => Math.round(value * 100) / 100;

/** One KPI record; `failure` (why the suite failed) turns any figure into "not measured". */
export function kpi(id, value, evidence, { failure = null, extraOk = true } = {}) {
  const spec = CLIENT_KPIS[id];
  if (failure !== null || value === null || value === undefined) {
    const seen = typeof value === 'number' ? ` (read ${round2(value)} ${spec.unit}, not counted)` : '';
    return { id, value: null, ...spec, passed: false, evidence: `not measured: ${failure ?? 'no figure'}${seen}; ${evidence}` };
  }
  return { id, value: round2(value), ...spec, passed: meets(value, spec.comparator, spec.threshold) && extraOk, evidence };
}

/** Why the suite failed, or null: a failed build or vitest run measures nothing. */
export function suiteFailure(buildStatus, testStatus) {
  const reasons = [];
  if (buildStatus !== 0) reasons.push(`build exited ${buildStatus}`);
  if (testStatus !== 0) reasons.push(`vitest exited ${testStatus}`);
  return reasons.length ? reasons.join(', ') : null;
}

/**
 * The three client KPIs from what the run produced.
 * @param {{buildStatus: number, testStatus: number, coverage: {all: number|null, machines: number|null},
 *          bundle: null | {gzipKb: number, inspectHits: string[], xstate: {file: string, gzipBytes: number},
 *                          machine: {file: string, gzipBytes: number}, totalJsGzipKb: number},
 *          bundleError?: string|null}} run
 */
export function clientKpis({ buildStatus, testStatus, coverage, bundle, bundleError = null }) {
  const failure = suiteFailure(buildStatus, testStatus);
  const note = failure ?? 'all client tests passed';
  const bundleEvidence = bundle
    ? `vite build; gzip -9 of ${bundle.xstate.file} (xstate, @xstate/react and use-sync-external-store / use-isomorphic-layout-effect, which only it uses: ${bundle.xstate.gzipBytes} B) + ${bundle.machine.file} (our machine and config, ${bundle.machine.gzipBytes} B), split by build.rolldownOptions codeSplitting groups; all JS ${bundle.totalJsGzipKb.toFixed(1)} KB gzip; @xstate/inspect markers in production bundle: ${bundle.inspectHits.length === 0 ? 'none' : bundle.inspectHits.join(', ')}`
    : `no bundle measured${bundleError ? `: ${bundleError}` : ''}`;
  const b = coverage.machineBranches ?? null;
  const branches = b ? `branches ${round2(b.pct)} % (${b.covered} of ${b.total})` : 'branches not measured';
  return [
    kpi('client_machine_coverage', coverage.machines,
      `vitest --coverage (v8), lines of client/src/machines (${branches}); ${note}; tests/connectionMachine.model.test.ts replays the model graph's simple paths that can happen in time (@xstate/test; DISCONNECT, QUIT, ONLINE, OFFLINE, commands, malformed messages and the heartbeat advert are not edges of the model: see its header)`,
      { failure }),
    kpi('client_coverage', coverage.all,
      `vitest --coverage (v8), lines of client/src excluding main.tsx and devtools.ts (entry and dev-only inspector); ${note}`,
      { failure }),
    kpi('xstate_bundle_gzip_kb', bundle ? bundle.gzipKb : null, bundleEvidence,
      { failure, extraOk: bundle !== null && bundle.inspectHits.length === 0 }),
  ];
}

function git(args, cwd, spawn) {
  const r = spawn('git', args, { cwd, encoding: 'utf8' });
  return r.status === 0 ? String(r.stdout) : null;
}

/** {id, commit, dirty}: HARNESS_RUN_ID (or "adhoc"), HEAD's sha and whether the tree has changes. */
export function runStamp({ env = process.env, cwd = process.cwd(), spawn = spawnSync } = {}) {
  const head = git(['rev-parse', 'HEAD'], cwd, spawn);
  const status = git(['status', '--porcelain'], cwd, spawn);
  return {
    id: env.HARNESS_RUN_ID || 'adhoc',
    commit: head === null ? null : head.trim(),
    // unknown is reported as dirty: a file must not claim a clean tree it could not check
    dirty: status === null ? true : status.trim().length > 0,
  };
}

/** Write the suite file; returns the object written. */
export function writeClientReport(path, { started, finished, kpis, run }) {
  const report = { suite: 'client', started, finished, run, kpis };
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(report, null, 2)}\n`);
  return report;
}
