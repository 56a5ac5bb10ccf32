export interface KpiSpec { unit: string; comparator: '>=' | '<='; threshold: number; goal: number }
export interface KpiRecord extends KpiSpec { id: string; value: number | null; passed: boolean; evidence: string }
export interface RunStamp { id: string; commit: string | null; dirty: boolean }
export interface Bundle {
  gzipKb: number;
  inspectHits: string[];
  xstate: { file: string; gzipBytes: number };
  machine: { file: string; gzipBytes: number };
  totalJsGzipKb: number;
}
export const CLIENT_KPIS: Record<string, KpiSpec>;
export function kpi(id: string, value: number | null, evidence: string,
  options?: { failure?: string | null; extraOk?: boolean }): KpiRecord;
export function suiteFailure(buildStatus: number, testStatus: number): string | null;
export function clientKpis(run: {
  buildStatus: number;
  testStatus: number;
  coverage: {
    all: number | null;
    machines: number | null;
    machineBranches?: { pct: number; covered: number; total: number } | null;
  };
  bundle: Bundle | null;
  bundleError?: string | null;
}): KpiRecord[];
export function runStamp(options?: {
  env?: Record<string, string | undefined>;
  cwd?: string;
  spawn?: (cmd: string, args: string[], options: object) => { status: number | null; stdout: string | Buffer };
}): RunStamp;
export function writeClientReport(path: string, report: {
  started: string; finished: string; kpis: KpiRecord[]; run: RunStamp;
}): { suite: 'client'; started: string; finished: string; run: RunStamp; kpis: KpiRecord[] };
