/**
 * Connection tuning. Every value is clamped to a sane range in every build; runtime
 * overrides (so end-to-end tests can shrink timeouts and attempt limits without a
 * rebuild) are honoured only in development and e2e builds (`vite build --mode e2e`),
 * never in the production bundle players get.
 *
 * Precedence where allowed: defaults < window.__MYTHOS_CONFIG__ < URL query parameters.
 * The heartbeat interval the server advertises (its first SSE frame) replaces
 * `heartbeatIntervalMs` once the stream is open; the watchdog is always derived from it.
 */

export interface ConnectionConfig {
  /** Reconnect attempts before the machine gives up and enters `failed`. */
  maxAttempts: number;
  /** First backoff ceiling; the ceiling doubles every few attempts up to `backoffCapMs` (machines/backoff.ts). */
  backoffBaseMs: number;
  /** Upper bound of one backoff wait, reached only in a long outage (after three to four minutes). */
  backoffCapMs: number;
  /** One deadline for the very first connection, SSE and WebSocket phases together. */
  connectionTimeoutMs: number;
  /** One deadline for each reconnect attempt, both phases together. */
  attemptTimeoutMs: number;
  /**
   * The server's heartbeat interval (until the server advertises its own); the client pings
   * over the WebSocket at the same pace.
   */
  heartbeatIntervalMs: number;
  /** Silence on a link longer than this counts as a drop: always two heartbeat intervals. */
  heartbeatTimeoutMs: number;
  /**
   * Least time a link must stay up before the attempt count starts again from zero; the
   * machine also waits a full heartbeat timeout and then for traffic on both links.
   */
  stableAfterMs: number;
  /** Pause between the SSE stream opening and the WebSocket opening. */
  wsStartDelayMs: number;
  /** `/api/health` poll while fully connected (is chat flowing?); clamped by useConnectionHealth. */
  healthIntervalMs: number;
  /** `/api/health` poll while the links are down or coming up; clamped by useConnectionHealth. */
  healthRetryIntervalMs: number;
}

/** The server's HEARTBEAT_INTERVAL default. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 5_000;

/**
 * 128 attempts with the backoff below (a ceiling growing from 250 ms to 30 s, full jitter)
 * keep retrying through an outage of over twenty minutes, yet stay bounded.
 */
export const DEFAULT_CONFIG: Readonly<ConnectionConfig> = Object.freeze({
  maxAttempts: 128,
  backoffBaseMs: 250,
  backoffCapMs: 30_000,
  connectionTimeoutMs: 30_000,
  attemptTimeoutMs: 5_000,
  heartbeatIntervalMs: DEFAULT_HEARTBEAT_INTERVAL_MS,
  heartbeatTimeoutMs: 2 * DEFAULT_HEARTBEAT_INTERVAL_MS,
  stableAfterMs: DEFAULT_HEARTBEAT_INTERVAL_MS,
  wsStartDelayMs: 0,
  healthIntervalMs: 15_000,
  healthRetryIntervalMs: 2_000,
});

export const CONFIG_KEYS = Object.keys(DEFAULT_CONFIG) as (keyof ConnectionConfig)[];

/** A drop after this many heartbeat intervals of silence on a link. */
export const HEARTBEAT_TIMEOUT_FACTOR = 2;

export interface Limit {
  min: number;
  max: number;
}

/**
 * The sane range of every value. The heartbeat range covers the server's HEARTBEAT_INTERVAL
 * (whose start-up check assumes a client that pings at most once a second), so an advertised
 * interval is never shortened into false drops.
 */
export const CONFIG_LIMITS: Readonly<Record<keyof ConnectionConfig, Limit>> = Object.freeze({
  maxAttempts: { min: 1, max: 1_000 },
  backoffBaseMs: { min: 10, max: 10_000 },
  backoffCapMs: { min: 10, max: 60_000 },
  connectionTimeoutMs: { min: 1_000, max: 60_000 },
  attemptTimeoutMs: { min: 500, max: 30_000 },
  heartbeatIntervalMs: { min: 1_000, max: 300_000 },
  heartbeatTimeoutMs: { min: 2_000, max: 600_000 },
  stableAfterMs: { min: 0, max: 600_000 },
  wsStartDelayMs: { min: 0, max: 5_000 },
  healthIntervalMs: { min: 1_000, max: 300_000 },
  healthRetryIntervalMs: { min: 500, max: 60_000 },
});

function clampValue(key: keyof ConnectionConfig, value: number): number {
  if (Number.isNaN(value) || typeof value !== 'number') return DEFAULT_CONFIG[key];
  const { min, max } = CONFIG_LIMITS[key];
  return Math.min(max, Math.max(min, Math.round(value)));
}

/** The heartbeat interval clamped, and the watchdog derived from it. */
export function withHeartbeat(config: ConnectionConfig, intervalMs: number): ConnectionConfig {
  const heartbeatIntervalMs = clampValue('heartbeatIntervalMs', intervalMs);
  return { ...config, heartbeatIntervalMs, heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_FACTOR * heartbeatIntervalMs };
}

/** Every value within its range, the backoff cap at least its base, the watchdog derived. */
export function clampConfig(config: ConnectionConfig): ConnectionConfig {
  const out = { ...config };
  for (const key of CONFIG_KEYS) out[key] = clampValue(key, config[key]);
  if (out.backoffCapMs < out.backoffBaseMs) out.backoffCapMs = out.backoffBaseMs;
  return withHeartbeat(out, out.heartbeatIntervalMs);
}

function toInt(raw: unknown, allowZero: boolean): number | undefined {
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
  if (!Number.isFinite(n) || !Number.isInteger(n)) return undefined;
  return n > 0 || (allowZero && n === 0) ? n : undefined;
}

export interface ResolvedConfig {
  config: ConnectionConfig;
  /** Overrides that are not whole numbers of the right sign (`key=value`); the default stays. */
  rejected: string[];
  /** Overrides outside their range (`key=value`), used at the nearest bound. */
  clamped: string[];
  /** Overrides present where overrides are not honoured (production builds). */
  ignored: string[];
}

/**
 * Merge overrides onto the defaults when `allowOverrides`, then clamp. Unknown keys and
 * invalid values are ignored (and reported) rather than breaking the page. The heartbeat
 * timeout is not an override: it is derived from the interval.
 */
export function resolveConfig(
  windowConfig: Partial<Record<string, unknown>> | undefined,
  search: string,
  allowOverrides: boolean,
): ResolvedConfig {
  const config: ConnectionConfig = { ...DEFAULT_CONFIG };
  const result: ResolvedConfig = { config, rejected: [], clamped: [], ignored: [] };
  const params = new URLSearchParams(search);
  for (const key of CONFIG_KEYS) {
    for (const raw of [windowConfig?.[key], params.get(key) ?? undefined]) {
      if (raw === undefined) continue;
      if (!allowOverrides) {
        if (!result.ignored.includes(key)) result.ignored.push(key);
        continue;
      }
      const value = key === 'heartbeatTimeoutMs' ? undefined : toInt(raw, key === 'wsStartDelayMs');
      if (value === undefined) {
        result.rejected.push(`${key}=${String(raw)}`);
        continue;
      }
      config[key] = value;
      if (clampValue(key, value) !== value) result.clamped.push(`${key}=${String(raw)}`);
    }
  }
  result.config = clampConfig(config);
  return result;
}

declare global {
  interface Window {
    __MYTHOS_CONFIG__?: Partial<Record<string, unknown>>;
  }
}

/**
 * Whether this build honours overrides: development (`vite`) and e2e (`vite build --mode e2e`)
 * builds. A literal expression, so the production build folds it to false and drops the rest.
 */
export const OVERRIDES_ALLOWED: boolean = import.meta.env.DEV || import.meta.env.MODE === 'e2e';

/** The configuration for this page load. */
export function runtimeConfig(): ConnectionConfig {
  if (!OVERRIDES_ALLOWED) return clampConfig(DEFAULT_CONFIG);
  const { config, rejected, clamped } = resolveConfig(window.__MYTHOS_CONFIG__, window.location.search, true);
  if (rejected.length > 0) console.warn('mythos: ignored invalid connection settings', rejected);
  if (clamped.length > 0) console.warn('mythos: connection settings out of range, clamped', clamped);
  return config;
}
