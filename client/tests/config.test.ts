/**
 * Issue 14, safe defaults: URL and window overrides are honoured only in development and e2e
 * builds, and every value is clamped to a sane range in every build (the built bundles
 * themselves are checked in bundle.test.ts).
 */
import { CONFIG_LIMITS, DEFAULT_CONFIG, clampConfig, resolveConfig, withHeartbeat, type ConnectionConfig } from '../src/config';
import { initialContext } from '../src/machines/connectionMachine';

const HOSTILE = '?maxAttempts=2147483647&backoffCapMs=1&heartbeatIntervalMs=1';

describe('overrides', () => {
  it('are ignored where they are not allowed (production builds), and said so', () => {
    const { config, ignored } = resolveConfig({ maxAttempts: 1 }, HOSTILE, false);
    expect(config).toEqual(DEFAULT_CONFIG);
    expect(ignored.sort()).toEqual(['backoffCapMs', 'heartbeatIntervalMs', 'maxAttempts']);
  });

  it('are clamped where they are allowed (development and e2e builds)', () => {
    const { config, clamped } = resolveConfig(undefined, HOSTILE, true);
    expect(config.maxAttempts).toBe(CONFIG_LIMITS.maxAttempts.max);
    expect(config.backoffCapMs).toBe(DEFAULT_CONFIG.backoffBaseMs); // never below the base
    expect(config.heartbeatIntervalMs).toBe(CONFIG_LIMITS.heartbeatIntervalMs.min);
    expect(config.heartbeatTimeoutMs).toBe(2 * CONFIG_LIMITS.heartbeatIntervalMs.min);
    expect(clamped).toEqual(['maxAttempts=2147483647', 'backoffCapMs=1', 'heartbeatIntervalMs=1']);
  });
});

describe('every value within its range, in every build', () => {
  it('holds the defaults inside the limits', () => {
    for (const key of Object.keys(DEFAULT_CONFIG) as (keyof ConnectionConfig)[]) {
      const { min, max } = CONFIG_LIMITS[key];
      expect(DEFAULT_CONFIG[key], key).toBeGreaterThanOrEqual(min);
      expect(DEFAULT_CONFIG[key], key).toBeLessThanOrEqual(max);
    }
  });

  it('clamps whatever config the machine is given', () => {
    const wild = Object.fromEntries(
      Object.keys(DEFAULT_CONFIG).map((key, i) => [key, i % 2 === 0 ? 1e12 : -5]),
    ) as unknown as ConnectionConfig;
    const safe = initialContext(wild).config;
    for (const key of Object.keys(DEFAULT_CONFIG) as (keyof ConnectionConfig)[]) {
      expect(safe[key], key).toBeGreaterThanOrEqual(CONFIG_LIMITS[key].min);
      expect(safe[key], key).toBeLessThanOrEqual(CONFIG_LIMITS[key].max);
    }
    expect(safe.backoffCapMs).toBeGreaterThanOrEqual(safe.backoffBaseMs);
    expect(safe.heartbeatTimeoutMs).toBe(2 * safe.heartbeatIntervalMs);
    expect(initialContext(wild).maxAttempts).toBe(safe.maxAttempts);
  });

  it('replaces a value that is not a number with its default', () => {
    const broken = { ...DEFAULT_CONFIG, maxAttempts: Number.NaN, attemptTimeoutMs: Infinity } as ConnectionConfig;
    expect(clampConfig(broken)).toMatchObject({ maxAttempts: DEFAULT_CONFIG.maxAttempts, attemptTimeoutMs: CONFIG_LIMITS.attemptTimeoutMs.max });
  });

  it('derives the watchdog from the heartbeat interval', () => {
    expect(withHeartbeat(DEFAULT_CONFIG, 12_000)).toMatchObject({ heartbeatIntervalMs: 12_000, heartbeatTimeoutMs: 24_000 });
    expect(withHeartbeat(DEFAULT_CONFIG, 0).heartbeatIntervalMs).toBe(CONFIG_LIMITS.heartbeatIntervalMs.min);
  });
});
