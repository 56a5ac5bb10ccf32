/** Backoff: the formula, and a seeded herd of 200 clients dropped at once by a server restart. */
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG } from '../src/config';
import { CEILING_DOUBLING_ATTEMPTS, backoffCeiling, backoffDelay } from '../src/machines/backoff';

/** mulberry32: a small seeded generator, so every figure below is the same on every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const { backoffBaseMs: BASE, backoffCapMs: CAP, maxAttempts: BUDGET } = DEFAULT_CONFIG;

interface HerdOutcome {
  /** ms from the server answering to each client's first successful attempt (Infinity: gave up). */
  recoveries: number[];
  /** Attempts by the whole herd in each second of the outage, [0, downMs). */
  attemptsPerSecond: number[];
  mostAttempts: number;
}

/**
 * `clients` machines all drop at t = 0; the server answers again at `downMs`. An attempt before
 * that fails at once (connection refused) and counts one more attempt, as in the machine.
 */
function simulateHerd(downMs: number, random: () => number, clients = 200): HerdOutcome {
  const recoveries: number[] = [];
  const attemptsPerSecond = new Array<number>(Math.ceil(downMs / 1000)).fill(0);
  let mostAttempts = 0;
  for (let c = 0; c < clients; c += 1) {
    let t = 0;
    let attempts = 0;
    for (;;) {
      if (attempts >= BUDGET) {
        recoveries.push(Infinity);
        break;
      }
      attempts += 1;
      t += backoffDelay(attempts, BASE, CAP, random);
      if (t >= downMs) {
        recoveries.push(t - downMs);
        break;
      }
      attemptsPerSecond[Math.floor(t / 1000)] += 1;
    }
    mostAttempts = Math.max(mostAttempts, attempts);
  }
  return { recoveries, attemptsPerSecond, mostAttempts };
}

function p95(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.ceil(0.95 * sorted.length) - 1];
}

describe('backoff formula', () => {
  it('draws from zero to a ceiling: the base first, then four times it doubling every few attempts', () => {
    const k = CEILING_DOUBLING_ATTEMPTS;
    expect(backoffCeiling(1, 250, 30_000)).toBe(250);
    expect(backoffCeiling(2, 250, 30_000)).toBe(1_000);
    expect(backoffCeiling(2 + k, 250, 30_000)).toBe(2_000);
    expect(backoffCeiling(2 + 3 * k, 250, 30_000)).toBe(8_000);
    expect(backoffCeiling(500, 250, 30_000)).toBe(30_000);
    expect(backoffDelay(2 + k, 250, 30_000, () => 0)).toBe(0);
    expect(backoffDelay(2 + k, 250, 30_000, () => 0.5)).toBe(1_000);
    for (let n = 2; n < 200; n += 1) {
      expect(backoffCeiling(n, 250, 30_000)).toBeGreaterThanOrEqual(backoffCeiling(n - 1, 250, 30_000));
    }
  });

  it('clamps a misbehaving random source, attempt 0 and huge attempt numbers', () => {
    expect(backoffDelay(10_000, 250, 30_000, () => 7)).toBe(30_000);
    expect(backoffDelay(0, 250, 30_000, () => -3)).toBe(0);
    expect(backoffDelay(0, 250, 30_000, () => 1)).toBe(250);
    expect(backoffDelay(Number.MAX_SAFE_INTEGER, 250, 30_000, () => 1)).toBe(30_000);
    expect(backoffCeiling(1, 250, 100)).toBe(100); // a cap below the base wins
    expect(backoffCeiling(3, 250, 100)).toBe(100);
  });

  it('spreads the waits over the whole window (seeded)', () => {
    const random = seeded(14);
    const ceiling = backoffCeiling(20, BASE, CAP);
    const waits = Array.from({ length: 4_000 }, () => backoffDelay(20, BASE, CAP, random));
    const mean = waits.reduce((a, b) => a + b, 0) / waits.length;
    expect(Math.min(...waits)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...waits)).toBeLessThanOrEqual(ceiling);
    expect(mean / ceiling).toBeGreaterThan(0.47);
    expect(mean / ceiling).toBeLessThan(0.53);
    // Each tenth of the window gets its share: no lump at the ceiling as with a fixed half.
    const tenths = new Array<number>(10).fill(0);
    for (const w of waits) tenths[Math.min(9, Math.floor((10 * w) / ceiling))] += 1;
    for (const count of tenths) expect(count).toBeGreaterThan(300);
  });
});

describe('a herd of 200 clients with the default config (seeded)', () => {
  it('is back within 2 s (p95) after a server restart of up to 10 s, within 5 s after 30 s', () => {
    for (const downMs of [1_000, 3_000, 5_000, 8_000, 10_000]) {
      for (let seed = 0; seed < 5; seed += 1) {
        expect(p95(simulateHerd(downMs, seeded(downMs + seed)).recoveries)).toBeLessThanOrEqual(2_000);
      }
    }
    expect(p95(simulateHerd(30_000, seeded(30)).recoveries)).toBeLessThanOrEqual(5_000);
  });

  it('knocks less and less often as an outage goes on', () => {
    const { attemptsPerSecond } = simulateHerd(120_000, seeded(120));
    // Before: ~270 attempts a second for the whole outage (a wait of 0.5-1 s, forever).
    expect(Math.max(...attemptsPerSecond.slice(10, 20))).toBeLessThan(200);
    expect(Math.max(...attemptsPerSecond.slice(50, 60))).toBeLessThan(60);
    expect(Math.max(...attemptsPerSecond.slice(110, 120))).toBeLessThan(30);
  });

  it('still has attempts left when the server is back after 30 s or even 10 minutes', () => {
    for (const downMs of [30_000, 600_000]) {
      const { recoveries, mostAttempts } = simulateHerd(downMs, seeded(downMs + 1));
      expect(recoveries.filter((r) => r === Infinity)).toEqual([]);
      expect(mostAttempts).toBeLessThan(BUDGET);
    }
  });

  it('comes back from a 2 minute outage within the cap', () => {
    expect(Math.max(...simulateHerd(120_000, seeded(31)).recoveries)).toBeLessThanOrEqual(CAP);
  });
});
