/**
 * Exponential backoff with "equal jitter": half the step is fixed, half random.
 * The fixed half spaces attempts out (no thundering herd of instant retries); the
 * cap keeps the wait short, so a player is back soon after the server is.
 */
export function backoffDelay(
  attempt: number,
  baseMs: number,
  capMs: number,
  random: () => number,
): number {
  const exponent = Math.max(0, attempt - 1);
  const step = Math.min(capMs, baseMs * 2 ** Math.min(exponent, 30));
  const r = Math.min(1, Math.max(0, random()));
  return Math.round(step / 2 + (step / 2) * r);
}
