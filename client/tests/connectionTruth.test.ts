/**
 * Issue 14, connection truth: the watchdog is sized from the heartbeat interval the server
 * advertises, a link counts as stable only after a full heartbeat timeout followed by
 * traffic on both links, and one deadline covers the whole link (SSE and WebSocket phases).
 */
import { connected, startHarness, type Harness } from './machineHarness';

/** The server's first SSE frame: a heartbeat carrying its interval. */
function advertise(h: Harness, intervalMs: number): void {
  h.service.send({ type: 'SSE_ALIVE' });
  h.service.send({ type: 'HEARTBEAT_INTERVAL', intervalMs });
}

function openLink(h: Harness, intervalMs?: number): void {
  h.service.send({ type: 'SSE_OPEN' });
  if (intervalMs !== undefined) advertise(h, intervalMs);
  h.clock.increment(0);
  h.service.send({ type: 'WS_OPEN' });
}

describe('the advertised heartbeat interval', () => {
  it('sizes the watchdog and the ping pace: two intervals of silence is a drop', () => {
    const h = startHarness();
    h.service.send({ type: 'CONNECT', token: 'tok' });
    openLink(h, 30_000);
    expect(h.ctx().config).toMatchObject({ heartbeatIntervalMs: 30_000, heartbeatTimeoutMs: 60_000 });
    h.service.send({ type: 'SSE_ALIVE' });
    h.service.send({ type: 'WS_ALIVE' });
    h.clock.increment(30_000);
    expect(h.toWs.filter((e) => e.type === 'PING')).toHaveLength(1);
    h.service.send({ type: 'SSE_ALIVE' });
    h.service.send({ type: 'WS_ALIVE' });
    h.clock.increment(59_999);
    expect(h.name()).toBe('fully_connected');
    h.clock.increment(1);
    expect(h.name()).toBe('reconnecting');
    expect(h.ctx().last_error).toBe('The server went silent (no heartbeat for 60 s)');
  });

  it.each([
    [1, 1_000],
    [999_999_999, 300_000],
    [Number.NaN, 5_000],
  ])('is clamped to a sane range: %d ms becomes %d ms', (advertised, used) => {
    const h = startHarness();
    h.service.send({ type: 'CONNECT', token: 'tok' });
    h.service.send({ type: 'SSE_OPEN' });
    advertise(h, advertised);
    expect(h.ctx().config.heartbeatIntervalMs).toBe(used);
    expect(h.ctx().config.heartbeatTimeoutMs).toBe(2 * used);
  });
});

describe('stability (when the attempt count starts again)', () => {
  function reconnected(intervalMs = 5_000): Harness {
    const h = connected();
    h.service.send({ type: 'ERROR', source: 'ws', message: 'drop' });
    h.clock.increment(h.ctx().retryDelayMs);
    openLink(h, intervalMs);
    expect(h.name()).toBe('fully_connected');
    expect(h.ctx().attempts).toBe(1);
    return h;
  }

  it('needs a full heartbeat timeout, then traffic on both links', () => {
    const h = reconnected();
    h.service.send({ type: 'SSE_ALIVE' });
    h.service.send({ type: 'WS_ALIVE' });
    h.clock.increment(9_999);
    h.service.send({ type: 'SSE_ALIVE' });
    h.service.send({ type: 'WS_ALIVE' });
    expect(h.ctx().attempts).toBe(1); // traffic before a full timeout proves nothing
    h.clock.increment(1);
    expect(h.ctx().attempts).toBe(1); // a full timeout without traffic since proves nothing
    h.service.send({ type: 'SSE_ALIVE' });
    expect(h.ctx().attempts).toBe(1); // one link is not both
    h.service.send({ type: 'WS_ALIVE' });
    expect(h.ctx().attempts).toBe(0);
  });

  it('is never reached by a link carrying traffic on one side only', () => {
    const h = reconnected();
    for (let i = 0; i < 20 && h.name() === 'fully_connected'; i += 1) {
      h.service.send({ type: 'SSE_ALIVE' });
      h.clock.increment(1_000);
    }
    expect(h.name()).toBe('reconnecting');
    expect(h.ctx().attempts).toBe(2);
  });

  it('waits at least a heartbeat timeout even when stableAfterMs is shorter', () => {
    const h = startHarness({ stableAfterMs: 1_000 });
    h.service.send({ type: 'CONNECT', token: 'tok' });
    h.service.send({ type: 'ERROR', source: 'sse', message: 'refused' });
    h.clock.increment(h.ctx().retryDelayMs);
    openLink(h, 20_000);
    for (let t = 0; t < 39_000; t += 1_000) {
      h.service.send({ type: 'SSE_ALIVE' });
      h.service.send({ type: 'WS_ALIVE' });
      h.clock.increment(1_000);
    }
    expect(h.ctx().attempts).toBe(1);
    h.clock.increment(1_000);
    h.service.send({ type: 'SSE_ALIVE' });
    h.service.send({ type: 'WS_ALIVE' });
    expect(h.ctx().attempts).toBe(0);
  });
});

describe('one deadline for the whole link', () => {
  it('the first connection gets 30 s for SSE and WebSocket together', () => {
    const h = startHarness();
    h.service.send({ type: 'CONNECT', token: 'tok' });
    h.clock.increment(29_000);
    h.service.send({ type: 'SSE_OPEN' });
    h.clock.increment(0);
    expect(h.name()).toBe('connecting_ws');
    h.clock.increment(999);
    expect(h.name()).toBe('connecting_ws');
    h.clock.increment(1);
    expect(h.name()).toBe('reconnecting');
    expect(h.ctx().last_error).toBe('No answer from the server within 30 s');
    expect(h.closed).toEqual({ sse: 1, ws: 1 });
  });

  it('a reconnect attempt gets 5 s for both phases', () => {
    const h = startHarness();
    h.service.send({ type: 'CONNECT', token: 'tok' });
    h.service.send({ type: 'ERROR', source: 'sse', message: 'refused' });
    h.clock.increment(h.ctx().retryDelayMs);
    h.clock.increment(4_000);
    h.service.send({ type: 'SSE_OPEN' });
    h.clock.increment(999);
    expect(h.name()).toBe('connecting_ws');
    h.clock.increment(1);
    expect(h.name()).toBe('reconnecting');
    expect(h.ctx().last_error).toBe('No answer from the server within 5 s');
  });

  it('a WebSocket opened in time ends the deadline', () => {
    const h = startHarness();
    h.service.send({ type: 'CONNECT', token: 'tok' });
    h.clock.increment(29_000);
    openLink(h);
    for (let t = 0; t < 60_000; t += 1_000) {
      h.service.send({ type: 'SSE_ALIVE' });
      h.service.send({ type: 'WS_ALIVE' });
      h.clock.increment(1_000);
    }
    expect(h.name()).toBe('fully_connected');
  });
});
