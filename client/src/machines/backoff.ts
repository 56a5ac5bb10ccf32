/**
 * Reconnect backoff: "full jitter" under a ceiling that grows with the outage.
 *
 * When a server restarts, every player drops at the same instant. The old fixed 1 s ceiling
 * brought them all back within the same second, and kept the whole herd knocking about once a
 * second for as long as the outage lasted. Here every wait is uniform in [0, ceiling] (full
 * jitter spreads a herd out within a few attempts). The first retry comes within `baseMs`, so
 * a blip costs nothing; from the second on the ceiling starts at four times the base and
 * doubles every `CEILING_DOUBLING_ATTEMPTS` attempts, up to `capMs`. Counted in attempts, the
 * ceiling grows with the time already waited (about a seventh of the outage once it is past a
 * few seconds), so a short restart is still over for 95 % of players within 2 s, while a long
 * outage brings fewer and fewer attempts a second. ADR-001 records the measured trade-off.
 */

/**
 * Attempts over which the ceiling doubles. 10 keeps a herd's p95 recovery under 2 s after 10 s
 * down and under 5 s after 30 s down (simulated in tests/backoff.test.ts).
 */
export const CEILING_DOUBLING_ATTEMPTS = 10;

/** The largest wait before attempt `attempt` (1-based); never above `capMs`. */
export function backoffCeiling(attempt: number, baseMs: number, capMs: number): number {
  if (attempt <= 1) return Math.min(capMs, baseMs);
  const steps = Math.min(attempt - 2, 64 * CEILING_DOUBLING_ATTEMPTS);
  return Math.min(capMs, 4 * baseMs * 2 ** (steps / CEILING_DOUBLING_ATTEMPTS));
}

/** The wait before reconnect attempt `attempt`: uniform in [0, ceiling] given `random()` in [0, 1). */
export function backoffDelay(
  attempt: number,
  baseMs: number,
  capMs: number,
  random: () => number,
): number {
  const r = Math.min(1, Math.max(0, random()));
  return Math.round(backoffCeiling(attempt, baseMs, capMs) * r);
}
