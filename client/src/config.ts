/**
 * Connection tuning, overridable at runtime so end-to-end tests can shrink timeouts
 * and attempt limits without rebuilding the client.
 *
 * Precedence: defaults < window.__MYTHOS_CONFIG__ < URL query parameters.
 */

export interface ConnectionConfig {
  /** Reconnect attempts before the machine gives up and enters `failed`. */
  maxAttempts: number;
  /** First backoff ceiling; the ceiling doubles every few attempts up to `backoffCapMs` (machines/backoff.ts). */
  backoffBaseMs: number;
  /** Upper bound of one backoff wait, reached only in a long outage (after three to four minutes). */
  backoffCapMs: number;
  /** Time allowed for the very first connection (SSE, then WebSocket). */
  connectionTimeoutMs: number;
  /** Time allowed for each phase of a reconnect attempt. */
  attemptTimeoutMs: number;
  /** Server heartbeat interval; the client pings over the WebSocket at the same pace. */
  heartbeatIntervalMs: number;
  /** Silence on a link longer than this counts as a drop (default: two heartbeat intervals). */
  heartbeatTimeoutMs: number;
  /** How long a link must stay up before the attempt count starts again from zero. */
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

function toPositiveInt(raw: unknown, allowZero: boolean): number | undefined {
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
  if (!Number.isFinite(n) || !Number.isInteger(n)) return undefined;
  return n > 0 || (allowZero && n === 0) ? n : undefined;
}

/**
 * Merge overrides onto the defaults. Unknown keys and invalid values are ignored
 * (and reported in `rejected`) rather than breaking the page.
 */
export function resolveConfig(
  windowConfig: Partial<Record<string, unknown>> | undefined,
  search: string,
): { config: ConnectionConfig; rejected: string[] } {
  const config: ConnectionConfig = { ...DEFAULT_CONFIG };
  const rejected: string[] = [];
  const params = new URLSearchParams(search);
  const heartbeatTimeoutGiven =
    (windowConfig && 'heartbeatTimeoutMs' in windowConfig) || params.has('heartbeatTimeoutMs');
  for (const key of CONFIG_KEYS) {
    const allowZero = key === 'wsStartDelayMs';
    for (const raw of [windowConfig?.[key], params.get(key) ?? undefined]) {
      if (raw === undefined) continue;
      const value = toPositiveInt(raw, allowZero);
      if (value === undefined) rejected.push(`${key}=${String(raw)}`);
      else config[key] = value;
    }
  }
  if (!heartbeatTimeoutGiven) config.heartbeatTimeoutMs = 2 * config.heartbeatIntervalMs;
  if (config.backoffCapMs < config.backoffBaseMs) config.backoffCapMs = config.backoffBaseMs;
  return { config, rejected };
}

declare global {
  interface Window {
    __MYTHOS_CONFIG__?: Partial<Record<string, unknown>>;
  }
}

/** The configuration for this page load. */
export function runtimeConfig(): ConnectionConfig {
  const { config, rejected } = resolveConfig(window.__MYTHOS_CONFIG__, window.location.search);
  if (rejected.length > 0) console.warn('mythos: ignored invalid connection settings', rejected);
  return config;
}
