// @vitest-environment node
/**
 * reports/kpi/client.json's rules (scripts/kpi-file.mjs): a failed build or vitest run writes no
 * passing value, and the file carries the run id and the commit it measured.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { clientKpis, runStamp, writeClientReport } from '../scripts/kpi-file.mjs';

const bundle = {
  gzipKb: 14.2,
  inspectHits: [],
  xstate: { file: 'assets/xstate-a.js', gzipBytes: 12000 },
  machine: { file: 'assets/machine-b.js', gzipBytes: 2500 },
  totalJsGzipKb: 70.1,
};
const goodCoverage = { all: 93.5, machines: 99.1 };

describe('client KPI file', () => {
  it('passes measured figures when build and vitest pass', () => {
    const kpis = clientKpis({ buildStatus: 0, testStatus: 0, coverage: goodCoverage, bundle });
    expect(kpis.map((k) => [k.id, k.value, k.passed])).toEqual([
      ['client_machine_coverage', 99.1, true],
      ['client_coverage', 93.5, true],
      ['xstate_bundle_gzip_kb', 14.2, true],
    ]);
  });

  it('reports the machines\' branch coverage beside their line coverage, or says it is missing', () => {
    const withBranches = clientKpis({ buildStatus: 0, testStatus: 0, bundle,
      coverage: { ...goodCoverage, machineBranches: { pct: 91.234, covered: 73, total: 80 } } });
    expect(withBranches[0].evidence).toContain('lines of client/src/machines (branches 91.23 % (73 of 80))');
    const without = clientKpis({ buildStatus: 0, testStatus: 0, coverage: goodCoverage, bundle });
    expect(without[0].evidence).toContain('branches not measured');
  });

  it('writes no passing value when vitest failed, whatever coverage it read', () => {
    const kpis = clientKpis({ buildStatus: 0, testStatus: 1, coverage: goodCoverage, bundle });
    for (const k of kpis) {
      expect(k.value, k.id).toBeNull();
      expect(k.passed, k.id).toBe(false);
      expect(k.evidence, k.id).toMatch(/^not measured: vitest exited 1/);
    }
    expect(kpis[1].evidence).toContain('read 93.5 %, not counted');
  });

  it('writes no passing value when the build failed', () => {
    const kpis = clientKpis({ buildStatus: 2, testStatus: 0, coverage: goodCoverage, bundle: null });
    expect(kpis.every((k) => k.value === null && !k.passed)).toBe(true);
    expect(kpis[2].evidence).toMatch(/^not measured: build exited 2/);
  });

  it('fails a figure below the threshold and a bundle carrying the inspector', () => {
    const low = clientKpis({ buildStatus: 0, testStatus: 0, coverage: { all: 79.9, machines: 85 },
      bundle: { ...bundle, inspectHits: ['assets/x.js'] } });
    expect(low.map((k) => k.passed)).toEqual([true, false, false]);
  });

  it('reports missing coverage as not measured', () => {
    const kpis = clientKpis({ buildStatus: 0, testStatus: 0, coverage: { all: null, machines: null }, bundle });
    expect(kpis[0]).toMatchObject({ value: null, passed: false });
    expect(kpis[0].evidence).toMatch(/^not measured: no figure/);
  });

  it('stamps the run id, HEAD and the dirty flag', () => {
    const cwd = resolve(__dirname, '..');
    const head = spawnSync('git', ['rev-parse', 'HEAD'], { cwd, encoding: 'utf8' }).stdout.trim();
    expect(runStamp({ env: { HARNESS_RUN_ID: 'run-42' }, cwd })).toMatchObject({ id: 'run-42', commit: head });
    expect(runStamp({ env: {}, cwd }).id).toBe('adhoc');
    const fake = (changes: string) => (_cmd: string, args: string[]) =>
      ({ status: 0, stdout: args[0] === 'rev-parse' ? 'abc123\n' : changes });
    expect(runStamp({ env: {}, cwd, spawn: fake(' M src/a.ts\n') })).toEqual({ id: 'adhoc', commit: 'abc123', dirty: true });
    expect(runStamp({ env: {}, cwd, spawn: fake('') }).dirty).toBe(false);
    const broken = () => ({ status: 128, stdout: '' });
    expect(runStamp({ env: {}, cwd, spawn: broken })).toEqual({ id: 'adhoc', commit: null, dirty: true });
  });

  it('writes a file in which a failed suite has no passing KPI', () => {
    const path = join(mkdtempSync(join(tmpdir(), 'client-kpi-')), 'kpi', 'client.json');
    const kpis = clientKpis({ buildStatus: 0, testStatus: 1, coverage: goodCoverage, bundle });
    writeClientReport(path, { started: 'a', finished: 'b', kpis, run: { id: 'r', commit: 'c', dirty: false } });
    const stored = JSON.parse(readFileSync(path, 'utf8'));
    expect(stored.suite).toBe('client');
    expect(stored.run).toEqual({ id: 'r', commit: 'c', dirty: false });
    expect(stored.kpis.filter((k: { passed: boolean }) => k.passed)).toEqual([]);
  });
});
