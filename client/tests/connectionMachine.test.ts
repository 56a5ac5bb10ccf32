/** Every transition of the connection machine, driven on a SimulatedClock. */
import { interpret } from 'xstate';
import { SimulatedClock } from 'xstate/lib/SimulatedClock';
import {
  CONNECTION_STATES,
  connectionMachine,
  connectionStateName,
  createConnectionMachine,
} from '../src/machines/connectionMachine';
import { backoffDelay } from '../src/machines/backoff';
import { connected, startHarness, TEST_CONFIG } from './machineHarness';

describe('disconnected', () => {
  it('starts disconnected with nothing open', () => {
    const h = startHarness();
    expect(h.name()).toBe('disconnected');
    expect(h.open).toEqual({ sse: 0, ws: 0 });
    expect(h.ctx().session_id).toBe('sess-1');
  });

  it('CONNECT opens the SSE stream first', () => {
    const h = startHarness();
    h.service.send({ type: 'CONNECT', token: 'tok' });
    expect(h.name()).toBe('connecting_sse');
    expect(h.ctx()).toMatchObject({ token: 'tok', attempts: 0, reason: null, connectStartedAt: 1_000_000 });
    expect(h.open).toEqual({ sse: 1, ws: 0 });
  });

  it('RECONNECT without a token stays disconnected', () => {
    const h = startHarness();
    h.service.send({ type: 'RECONNECT' });
    expect(h.name()).toBe('disconnected');
    expect(h.open.sse).toBe(0);
  });

  it('refuses commands while not connected', () => {
    const h = startHarness();
    h.service.send({ type: 'SEND_COMMAND', command: 'look' });
    expect(h.rejected).toEqual(['look']);
  });

  it('records a malformed message without changing state', () => {
    const h = startHarness();
    h.service.send({ type: 'MALFORMED', message: 'bad frame' });
    expect(h.name()).toBe('disconnected');
    expect(h.ctx().last_error).toBe('bad frame');
  });

  it('ignores link events that belong to other states', () => {
    const h = startHarness();
    h.service.send({ type: 'ERROR', source: 'sse', message: 'x' });
    h.service.send({ type: 'SSE_OPEN' });
    h.service.send({ type: 'ONLINE' });
    expect(h.name()).toBe('disconnected');
  });
});

describe('connecting_sse', () => {
  it('SSE_OPEN moves to sse_connected, then the WebSocket opens after the start delay', () => {
    const h = startHarness({ wsStartDelayMs: 50 });
    h.service.send({ type: 'CONNECT', token: 'tok' });
    h.service.send({ type: 'SSE_OPEN' });
    expect(h.name()).toBe('sse_connected');
    expect(h.open.ws).toBe(0);
    h.clock.increment(49);
    expect(h.name()).toBe('sse_connected');
    h.clock.increment(1);
    expect(h.name()).toBe('connecting_ws');
    expect(h.open.ws).toBe(1);
  });

  it('gives the first connection 30 s before counting it as a drop', () => {
    const h = startHarness();
    h.service.send({ type: 'CONNECT', token: 'tok' });
    h.clock.increment(29_999);
    expect(h.name()).toBe('connecting_sse');
    h.clock.increment(1);
    expect(h.name()).toBe('reconnecting');
    expect(h.ctx().attempts).toBe(1);
    expect(h.ctx().last_error).toBe('No answer from the server within 30 s');
    expect(h.closed.sse).toBe(1);
  });

  it('gives a reconnect attempt 5 s', () => {
    const h = startHarness();
    h.service.send({ type: 'CONNECT', token: 'tok' });
    h.service.send({ type: 'ERROR', source: 'sse', message: 'refused' });
    h.clock.increment(h.ctx().retryDelayMs);
    expect(h.name()).toBe('connecting_sse');
    h.clock.increment(4_999);
    expect(h.name()).toBe('connecting_sse');
    h.clock.increment(1);
    expect(h.name()).toBe('reconnecting');
    expect(h.ctx().last_error).toBe('No answer from the server within 5 s');
  });

  it.each([
    [{ type: 'ERROR', source: 'sse', message: 'The event stream was interrupted' }, 'The event stream was interrupted'],
    [{ type: 'OFFLINE' }, 'Your browser went offline'],
  ] as const)('%j is a drop', (event, message) => {
    const h = startHarness();
    h.service.send({ type: 'CONNECT', token: 'tok' });
    h.service.send(event);
    expect(h.name()).toBe('reconnecting');
    expect(h.ctx().last_error).toBe(message);
    expect(h.ctx().droppedAt).toBe(1_000_000);
  });

  it('AUTH_FAILED stops without retrying and forgets the token', () => {
    const h = startHarness();
    h.service.send({ type: 'CONNECT', token: 'tok' });
    h.service.send({ type: 'AUTH_FAILED', message: 'expired' });
    expect(h.name()).toBe('disconnected');
    expect(h.ctx()).toMatchObject({ reason: 'unauthorized', token: null, last_error: 'expired' });
    expect(h.closed.sse).toBe(1);
    h.clock.increment(600_000);
    expect(h.open.sse).toBe(1);
  });

  it('EVICTED stops without retrying; RECONNECT is the player taking the session back', () => {
    const h = startHarness();
    h.service.send({ type: 'CONNECT', token: 'tok' });
    h.service.send({ type: 'EVICTED', message: 'signed in elsewhere' });
    expect(h.name()).toBe('disconnected');
    expect(h.ctx()).toMatchObject({ reason: 'evicted', last_error: 'signed in elsewhere', token: 'tok' });
    h.clock.increment(600_000);
    expect(h.open.sse).toBe(1);
    h.service.send({ type: 'RECONNECT' });
    expect(h.name()).toBe('connecting_sse');
    expect(h.ctx().reason).toBeNull();
  });

  it('QUIT (the player typed quit) stops without retrying, keeping the token for Reconnect', () => {
    const h = connected();
    h.service.send({ type: 'QUIT' });
    expect(h.name()).toBe('disconnected');
    expect(h.ctx()).toMatchObject({ reason: 'quit', token: 'tok' });
    expect(h.closed).toEqual({ sse: 1, ws: 1 });
    h.clock.increment(600_000);
    expect(h.open.sse).toBe(1);
    h.service.send({ type: 'RECONNECT' });
    expect(h.name()).toBe('connecting_sse');
  });

  it('DISCONNECT (sign out) closes everything', () => {
    const h = startHarness();
    h.service.send({ type: 'CONNECT', token: 'tok' });
    h.service.send({ type: 'DISCONNECT' });
    expect(h.name()).toBe('disconnected');
    expect(h.ctx()).toMatchObject({ reason: 'logout', token: null });
    expect(h.closed.sse).toBe(1);
  });
});

describe('sse_connected and connecting_ws', () => {
  it('an SSE error while waiting to open the WebSocket is a drop', () => {
    const h = startHarness({ wsStartDelayMs: 100 });
    h.service.send({ type: 'CONNECT', token: 'tok' });
    h.service.send({ type: 'SSE_OPEN' });
    h.service.send({ type: 'ERROR', source: 'sse', message: 'cut' });
    expect(h.name()).toBe('reconnecting');
  });

  it('WS_OPEN completes the connection', () => {
    const h = connected();
    expect(h.name()).toBe('fully_connected');
    expect(h.ctx()).toMatchObject({ connectedAt: 1_000_000, last_error: null, nextRetryAt: null });
  });

  it('a WebSocket that never opens times out', () => {
    const h = startHarness();
    h.service.send({ type: 'CONNECT', token: 'tok' });
    h.service.send({ type: 'SSE_OPEN' });
    h.clock.increment(0);
    expect(h.name()).toBe('connecting_ws');
    h.clock.increment(30_000);
    expect(h.name()).toBe('reconnecting');
    expect(h.closed).toEqual({ sse: 1, ws: 1 });
  });

  it('a WebSocket close is a drop that closes both links', () => {
    const h = startHarness();
    h.service.send({ type: 'CONNECT', token: 'tok' });
    h.service.send({ type: 'SSE_OPEN' });
    h.clock.increment(0);
    h.service.send({ type: 'ERROR', source: 'ws', message: 'closed 1006' });
    expect(h.name()).toBe('reconnecting');
    expect(h.closed).toEqual({ sse: 1, ws: 1 });
  });

  it('close code 4409 (EVICTED) from the WebSocket stops', () => {
    const h = startHarness();
    h.service.send({ type: 'CONNECT', token: 'tok' });
    h.service.send({ type: 'SSE_OPEN' });
    h.clock.increment(0);
    h.service.send({ type: 'EVICTED', message: 'taken over' });
    expect(h.name()).toBe('disconnected');
  });
});

describe('fully_connected', () => {
  it('forwards commands to the WebSocket', () => {
    const h = connected();
    h.service.send({ type: 'SEND_COMMAND', command: 'look' });
    expect(h.toWs).toEqual([{ type: 'SEND_COMMAND', command: 'look' }]);
    expect(h.rejected).toEqual([]);
  });

  it('pings every heartbeat interval', () => {
    const h = connected();
    for (let i = 0; i < 3; i += 1) {
      h.service.send({ type: 'SSE_ALIVE' });
      h.service.send({ type: 'WS_ALIVE' });
      h.clock.increment(5_000);
    }
    expect(h.toWs.filter((e) => e.type === 'PING')).toHaveLength(3);
    expect(h.name()).toBe('fully_connected');
  });

  it('traffic on both links keeps it connected indefinitely', () => {
    const h = connected();
    for (let i = 0; i < 20; i += 1) {
      h.clock.increment(9_000);
      h.service.send({ type: 'SSE_ALIVE' });
      h.service.send({ type: 'WS_ALIVE' });
    }
    expect(h.name()).toBe('fully_connected');
  });

  it.each(['SSE_ALIVE', 'WS_ALIVE'] as const)(
    'silence on the other link for two heartbeat intervals is a drop (only %s arrives)',
    (alive) => {
      const h = connected();
      h.clock.increment(6_000);
      h.service.send({ type: alive });
      h.clock.increment(3_999);
      expect(h.name()).toBe('fully_connected');
      h.clock.increment(1);
      expect(h.name()).toBe('reconnecting');
      expect(h.ctx().last_error).toBe('The server went silent (no heartbeat for 10 s)');
      expect(h.ctx().droppedAt).toBe(1_010_000);
    },
  );

  it('resets the attempt count only after the link has stayed up', () => {
    const h = connected();
    h.service.send({ type: 'ERROR', source: 'ws', message: 'drop' });
    h.clock.increment(h.ctx().retryDelayMs);
    h.service.send({ type: 'SSE_OPEN' });
    h.clock.increment(0);
    h.service.send({ type: 'WS_OPEN' });
    expect(h.name()).toBe('fully_connected');
    expect(h.ctx().attempts).toBe(1);
    h.service.send({ type: 'SSE_ALIVE' });
    h.service.send({ type: 'WS_ALIVE' });
    h.clock.increment(5_000);
    expect(h.ctx().attempts).toBe(1); // stableAfterMs alone is not enough: a full heartbeat timeout
    h.service.send({ type: 'SSE_ALIVE' });
    h.service.send({ type: 'WS_ALIVE' });
    h.clock.increment(5_000);
    expect(h.ctx().attempts).toBe(1); // ... and then traffic on both links
    h.service.send({ type: 'SSE_ALIVE' });
    h.service.send({ type: 'WS_ALIVE' });
    expect(h.ctx().attempts).toBe(0);
  });

  it('records how long recovery took, from the first drop of the outage', () => {
    const h = connected();
    h.service.send({ type: 'ERROR', source: 'ws', message: 'drop' });
    const wait1 = h.ctx().retryDelayMs;
    h.clock.increment(wait1);
    h.service.send({ type: 'ERROR', source: 'sse', message: 'refused' });
    const wait2 = h.ctx().retryDelayMs;
    h.clock.increment(wait2);
    h.clock.increment(40);
    h.service.send({ type: 'SSE_OPEN' });
    h.clock.increment(0);
    h.service.send({ type: 'WS_OPEN' });
    expect(h.ctx().lastRecoveryMs).toBe(wait1 + wait2 + 40);
    expect(h.ctx().droppedAt).toBeNull();
  });

  it('a flapping server still exhausts the attempt budget', () => {
    const h = startHarness({ maxAttempts: 3 });
    h.service.send({ type: 'CONNECT', token: 'tok' });
    for (let i = 0; i < 10 && h.name() !== 'failed'; i += 1) {
      if (h.name() === 'reconnecting') h.clock.increment(h.ctx().retryDelayMs);
      h.service.send({ type: 'SSE_OPEN' });
      h.clock.increment(0);
      h.service.send({ type: 'WS_OPEN' });
      h.service.send({ type: 'ERROR', source: 'ws', message: 'dropped at once' });
    }
    expect(h.name()).toBe('failed');
    expect(h.ctx().attempts).toBe(3);
  });
});

describe('reconnecting', () => {
  it('waits the backoff, then tries again from the SSE stream', () => {
    const h = connected();
    h.service.send({ type: 'ERROR', source: 'ws', message: 'drop' });
    expect(h.name()).toBe('reconnecting');
    expect(h.ctx()).toMatchObject({ attempts: 1, retryDelayMs: 250, nextRetryAt: 1_000_250 });
    h.clock.increment(249);
    expect(h.name()).toBe('reconnecting');
    h.clock.increment(1);
    expect(h.name()).toBe('connecting_sse');
    expect(h.open.sse).toBe(2);
  });

  it('waits the jittered backoff of each attempt, its ceiling growing (backoff.test.ts)', () => {
    const h = startHarness({ maxAttempts: 10, backoffCapMs: 30_000 }, () => 1);
    h.service.send({ type: 'CONNECT', token: 'tok' });
    const waits: number[] = [];
    for (let i = 0; i < 6; i += 1) {
      h.service.send({ type: 'ERROR', source: 'sse', message: 'refused' });
      waits.push(h.ctx().retryDelayMs);
      h.clock.increment(h.ctx().retryDelayMs);
    }
    expect(waits).toEqual([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, 250, 30_000, () => 1)));
    expect(waits.slice(0, 2)).toEqual([250, 1_000]);
  });

  it.each(['ONLINE', 'RECONNECT'] as const)('%s skips the wait', (type) => {
    const h = connected();
    h.service.send({ type: 'ERROR', source: 'ws', message: 'drop' });
    h.service.send({ type });
    expect(h.name()).toBe('connecting_sse');
    expect(h.ctx().attempts).toBe(1);
  });

  it('DISCONNECT cancels the retry', () => {
    const h = connected();
    h.service.send({ type: 'ERROR', source: 'ws', message: 'drop' });
    h.service.send({ type: 'DISCONNECT' });
    h.clock.increment(60_000);
    expect(h.name()).toBe('disconnected');
    expect(h.open.sse).toBe(1);
  });

  it('gives up in failed after the maximum number of attempts', () => {
    const h = startHarness({ maxAttempts: 3 });
    h.service.send({ type: 'CONNECT', token: 'tok' });
    const seen: string[] = [];
    for (let i = 0; i < 4; i += 1) {
      h.service.send({ type: 'ERROR', source: 'sse', message: `refused ${i}` });
      seen.push(`${h.name()}:${h.ctx().attempts}`);
      if (h.name() === 'reconnecting') h.clock.increment(h.ctx().retryDelayMs);
    }
    expect(seen).toEqual(['reconnecting:1', 'reconnecting:2', 'reconnecting:3', 'failed:3']);
    expect(h.ctx().last_error).toBe('refused 3');
  });
});

describe('failed', () => {
  function failedHarness() {
    const h = startHarness({ maxAttempts: 1 });
    h.service.send({ type: 'CONNECT', token: 'tok' });
    h.service.send({ type: 'ERROR', source: 'sse', message: 'a' });
    h.clock.increment(h.ctx().retryDelayMs);
    h.service.send({ type: 'ERROR', source: 'sse', message: 'b' });
    return h;
  }

  it('never retries by itself', () => {
    const h = failedHarness();
    expect(h.name()).toBe('failed');
    const opened = h.open.sse;
    h.clock.increment(3_600_000);
    h.service.send({ type: 'ERROR', source: 'sse', message: 'late' });
    h.service.send({ type: 'SSE_OPEN' });
    expect(h.name()).toBe('failed');
    expect(h.open.sse).toBe(opened);
  });

  it.each(['RECONNECT', 'ONLINE'] as const)('%s starts again with a fresh attempt budget', (type) => {
    const h = failedHarness();
    h.service.send({ type });
    expect(h.name()).toBe('connecting_sse');
    expect(h.ctx().attempts).toBe(0);
    h.clock.increment(29_999);
    expect(h.name()).toBe('connecting_sse');
  });
});

describe('machine definition', () => {
  it('has exactly the named states of the spec', () => {
    const names = new Set<string>();
    const walk = (node: { key: string; states: Record<string, any> }) => {
      if ((CONNECTION_STATES as readonly string[]).includes(node.key)) names.add(node.key);
      Object.values(node.states).forEach(walk);
    };
    walk(connectionMachine as never);
    expect([...names].sort()).toEqual([...CONNECTION_STATES].sort());
  });

  it('reports an unbound connection service as an error instead of hanging', () => {
    const clock = new SimulatedClock();
    const service = interpret(createConnectionMachine(TEST_CONFIG, { now: () => clock.now(), random: () => 0.5 }), {
      clock,
    }).start();
    service.send({ type: 'CONNECT', token: 'tok' });
    expect(connectionStateName(service.getSnapshot())).toBe('reconnecting');
    expect(service.getSnapshot().context.last_error).toBe('No connection service is bound');
    service.send({ type: 'SEND_COMMAND', command: 'look' });
    expect(connectionStateName(service.getSnapshot())).toBe('reconnecting');
    service.stop();
  });

  it('names a state even when given an empty configuration', () => {
    expect(connectionStateName({ configuration: [] })).toBe('disconnected');
  });

  it('refuses to reconnect without a token', () => {
    const h = startHarness();
    h.service.send({ type: 'CONNECT', token: 'tok' });
    h.service.send({ type: 'AUTH_FAILED', message: 'no' });
    h.service.send({ type: 'RECONNECT' });
    expect(h.name()).toBe('disconnected');
  });
});
