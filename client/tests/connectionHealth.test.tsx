/**
 * The health hook (polls /api/health: slowly while connected, often while reconnecting, never
 * when stopped) and the indicator's fourth look, amber "chat is delayed" (issue 14 item 2), and
 * what the indicator announces to a screen reader (item 7: state changes only, no countdown).
 * Fake timers and an injected fetch; the hook runs in React as on the page.
 */
import { act, fireEvent, render, renderHook, screen, waitFor } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { App } from '../src/App';
import { ConnectionIndicator, lookOf } from '../src/components/ConnectionIndicator';
import { DEFAULT_CONFIG } from '../src/config';
import {
  HEALTH_JITTER,
  HEALTH_LIMITS,
  chatStatus,
  healthIntervals,
  jittered,
  pollMode,
  useConnectionHealth,
  type ServerHealth,
} from '../src/hooks/useConnectionHealth';
import type { ConnectionView } from '../src/hooks/useConnectionStateMachine';
import type { ConnectionStateName } from '../src/machines/connectionMachine';
import { FakeEventSource, FakeWebSocket } from './fakes';

const OK_BODY = { status: 'ok', database: 'ok', nats: 'ok', nats_state: 'connected' };
const NATS_LOST = { status: 'degraded', database: 'ok', nats: 'degraded', nats_state: 'reconnecting' };
const BREAKER_OPEN = { status: 'degraded', database: 'ok', nats: 'ok', nats_state: 'circuit_open' };

/** A fetch that answers with whatever `body` holds at the time of the call, and records each call. */
function fakeFetch() {
  const calls: { url: string; at: number; signal: AbortSignal | undefined }[] = [];
  const state = { body: OK_BODY as unknown, status: 200, fail: false, hang: false };
  const impl = vi.fn((url: RequestInfo | URL, init?: RequestInit) => {
    calls.push({ url: String(url), at: Date.now(), signal: init?.signal ?? undefined });
    if (state.fail) return Promise.reject(new TypeError('Failed to fetch'));
    if (state.hang) {
      return new Promise<Response>((_resolve, reject) => {
        init?.signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
      });
    }
    const body = state.body;
    return Promise.resolve({ ok: state.status < 400, status: state.status, json: () => Promise.resolve(body) } as Response);
  });
  return { impl: impl as unknown as typeof fetch, calls, state };
}

const config = { ...DEFAULT_CONFIG, healthIntervalMs: 10_000, healthRetryIntervalMs: 1_000 };

function mount(fetchImpl: typeof fetch, state: ConnectionStateName, target: Window = window) {
  const send = vi.fn();
  const hook = renderHook((props: { state: ConnectionStateName }) =>
    useConnectionHealth({ send, state: props.state, config, fetchImpl, target, random: () => 0.5 }), { initialProps: { state } });
  return { ...hook, send };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('health intervals and the health body', () => {
  it('clamps the configured intervals to sane bounds', () => {
    expect(healthIntervals({ healthIntervalMs: 10_000, healthRetryIntervalMs: 1_000 })).toEqual({ connectedMs: 10_000, reconnectingMs: 1_000 });
    expect(healthIntervals({ healthIntervalMs: 1, healthRetryIntervalMs: 0 })).toEqual({
      connectedMs: HEALTH_LIMITS.connected.min, reconnectingMs: HEALTH_LIMITS.reconnecting.min });
    expect(healthIntervals({ healthIntervalMs: 2_147_483_647, healthRetryIntervalMs: 1e12 })).toEqual({
      connectedMs: HEALTH_LIMITS.connected.max, reconnectingMs: HEALTH_LIMITS.reconnecting.max });
    expect(healthIntervals({ healthIntervalMs: Number.NaN, healthRetryIntervalMs: Infinity })).toEqual({
      connectedMs: DEFAULT_CONFIG.healthIntervalMs, reconnectingMs: DEFAULT_CONFIG.healthRetryIntervalMs });
    // The slow pace is slower than the fast one at the defaults.
    const d = healthIntervals(DEFAULT_CONFIG);
    expect(d.connectedMs).toBeGreaterThan(d.reconnectingMs);
  });

  it('reads chat as delayed when NATS is degraded, the breaker is not closed, or NATS is down though enabled', () => {
    expect(chatStatus(OK_BODY)).toBe('ok');
    expect(chatStatus(NATS_LOST)).toBe('degraded');
    expect(chatStatus(BREAKER_OPEN)).toBe('degraded');
    expect(chatStatus({ nats: 'degraded', nats_state: 'half_open' })).toBe('degraded');
    expect(chatStatus({ nats: 'down', nats_state: 'closed' })).toBe('degraded');
    expect(chatStatus({ nats: 'down', nats_state: 'disabled' })).toBe('ok');
    expect(chatStatus(null)).toBe('unknown');
    expect(chatStatus({ nats: 42 })).toBe('unknown');
  });

  it('spreads each wait by the jitter, so pages that lost the same server do not ask in lockstep', () => {
    expect(jittered(10_000, () => 0.5)).toBe(10_000);
    expect(jittered(10_000, () => 0)).toBe(10_000 * (1 - HEALTH_JITTER));
    expect(jittered(10_000, () => 0.999999)).toBeLessThanOrEqual(10_000 * (1 + HEALTH_JITTER));
    const waits = new Set(Array.from({ length: 50 }, () => jittered(2_000, Math.random)));
    expect(waits.size).toBeGreaterThan(1);
  });

  it('polls while connected or on the way back, never when the machine has stopped', () => {
    expect(pollMode('fully_connected')).toBe('connected');
    for (const s of ['connecting_sse', 'sse_connected', 'connecting_ws', 'reconnecting'] as const) expect(pollMode(s)).toBe('reconnecting');
    expect(pollMode('failed')).toBe('idle');
    expect(pollMode('disconnected')).toBe('idle');
  });
});

describe('useConnectionHealth', () => {
  it('asks at once when connected, then at the slow interval', async () => {
    const f = fakeFetch();
    const { result } = mount(f.impl, 'fully_connected');
    await act(() => vi.advanceTimersByTimeAsync(0));
    expect(f.calls.map((c) => c.url)).toEqual(['/api/health']);
    expect(result.current.chat).toBe('ok');
    expect(result.current.reachable).toBe(true);
    await act(() => vi.advanceTimersByTimeAsync(9_999));
    expect(f.calls).toHaveLength(1);
    await act(() => vi.advanceTimersByTimeAsync(1));
    expect(f.calls).toHaveLength(2);
    await act(() => vi.advanceTimersByTimeAsync(30_000));
    expect(f.calls).toHaveLength(5);
  });

  it('shows degraded when the server says so and ok again after the heal', async () => {
    const f = fakeFetch();
    const { result } = mount(f.impl, 'fully_connected');
    await act(() => vi.advanceTimersByTimeAsync(0));
    expect(result.current.chat).toBe('ok');
    f.state.body = NATS_LOST;
    await act(() => vi.advanceTimersByTimeAsync(10_000));
    expect(result.current.chat).toBe('degraded');
    f.state.body = BREAKER_OPEN;
    await act(() => vi.advanceTimersByTimeAsync(10_000));
    expect(result.current.chat).toBe('degraded');
    f.state.body = OK_BODY;
    await act(() => vi.advanceTimersByTimeAsync(10_000));
    expect(result.current.chat).toBe('ok');
  });

  it('polls more often while reconnecting, and stops when the machine stops', async () => {
    const f = fakeFetch();
    const { rerender } = mount(f.impl, 'reconnecting');
    await act(() => vi.advanceTimersByTimeAsync(0));
    expect(f.calls).toHaveLength(0); // on the way back: after one interval, not at once
    await act(() => vi.advanceTimersByTimeAsync(5_000));
    expect(f.calls).toHaveLength(5);
    rerender({ state: 'failed' });
    await act(() => vi.advanceTimersByTimeAsync(60_000));
    expect(f.calls).toHaveLength(5);
    rerender({ state: 'disconnected' });
    await act(() => vi.advanceTimersByTimeAsync(60_000));
    expect(f.calls).toHaveLength(5);
  });

  it('keeps the last chat status through failed requests and error answers, and says the server did not answer', async () => {
    const f = fakeFetch();
    f.state.body = NATS_LOST;
    const { result } = mount(f.impl, 'fully_connected');
    await act(() => vi.advanceTimersByTimeAsync(0));
    expect(result.current.chat).toBe('degraded');
    f.state.fail = true;
    await act(() => vi.advanceTimersByTimeAsync(10_000));
    expect(result.current).toMatchObject({ chat: 'degraded', reachable: false });
    f.state.fail = false;
    f.state.status = 503;
    f.state.body = { status: 'down', database: 'down', nats: 'ok', nats_state: 'connected' };
    await act(() => vi.advanceTimersByTimeAsync(10_000));
    expect(result.current).toMatchObject({ chat: 'degraded', reachable: true });
  });

  it('aborts a request that outlives its timeout or its mode, and never has two in flight', async () => {
    const f = fakeFetch();
    f.state.hang = true;
    const { rerender } = mount(f.impl, 'fully_connected');
    await act(() => vi.advanceTimersByTimeAsync(0));
    expect(f.calls).toHaveLength(1);
    await act(() => vi.advanceTimersByTimeAsync(4_999));
    expect(f.calls[0].signal?.aborted).toBe(false);
    await act(() => vi.advanceTimersByTimeAsync(1));
    expect(f.calls[0].signal?.aborted).toBe(true); // 5 s request timeout
    expect(f.calls).toHaveLength(1); // the next one waits a whole interval after this one ended
    await act(() => vi.advanceTimersByTimeAsync(10_000));
    expect(f.calls).toHaveLength(2);
    rerender({ state: 'reconnecting' });
    expect(f.calls[1].signal?.aborted).toBe(true);
  });

  it('sends no request while the browser is offline, and forwards online/offline to the machine', async () => {
    const f = fakeFetch();
    const target = new EventTarget() as unknown as Window;
    Object.defineProperty(target, 'navigator', { value: { onLine: false } });
    const { send } = mount(f.impl, 'fully_connected', target);
    await act(() => vi.advanceTimersByTimeAsync(30_000));
    expect(f.calls).toHaveLength(0);
    target.dispatchEvent(new Event('offline'));
    target.dispatchEvent(new Event('online'));
    expect(send.mock.calls.map(([e]) => e.type)).toEqual(['OFFLINE', 'ONLINE']);
  });
});

const base: ConnectionView = { state: 'fully_connected', attempts: 0, maxAttempts: 8, last_error: null, reason: null, nextRetryAt: null };
const degraded: ServerHealth = { chat: 'degraded', reachable: true, checkedAt: 1 };

function indicator() {
  return document.querySelector('[data-connection-state]') as HTMLElement;
}

describe('the indicator with the server health', () => {
  it('is amber, saying chat is delayed, when connected to a server whose chat is degraded', () => {
    render(<ConnectionIndicator view={base} health={degraded} onReconnect={() => undefined} />);
    expect(indicator().dataset.connectionState).toBe('fully_connected');
    expect(indicator().dataset.look).toBe('amber');
    expect(screen.getByText('Chat is delayed; your messages are being kept')).toBeTruthy();
    expect(screen.queryByRole('button')).toBeNull();
  });

  it('is green again when the health is ok, and the link looks win over chat while the link is down', () => {
    expect(lookOf(base, { ...degraded, chat: 'ok' })).toBe('green');
    expect(lookOf(base, { ...degraded, chat: 'unknown' })).toBe('green');
    expect(lookOf(base, degraded)).toBe('amber');
    expect(lookOf({ ...base, state: 'reconnecting', attempts: 1 }, degraded)).toBe('yellow');
    expect(lookOf({ ...base, state: 'failed' }, degraded)).toBe('red');
  });
});

describe('what the indicator announces', () => {
  function live(): HTMLElement {
    const regions = document.querySelectorAll('[aria-live]');
    expect(regions).toHaveLength(1);
    return regions[0] as HTMLElement;
  }

  it('keeps the countdown and the attempt count out of the live region', async () => {
    let now = 10_000;
    const view: ConnectionView = { ...base, state: 'reconnecting', attempts: 3, nextRetryAt: 11_000 };
    const { rerender } = render(<ConnectionIndicator view={view} onReconnect={() => undefined} clock={() => now} />);
    const countdown = screen.getByText('next try in 1.0 s');
    const announced = live().textContent;
    expect(live().contains(countdown)).toBe(false);
    expect(announced).not.toMatch(/\d/);
    now = 10_500;
    await act(() => vi.advanceTimersByTimeAsync(500));
    expect(screen.getByText('next try in 0.5 s')).toBeTruthy();
    expect(live().textContent).toBe(announced);
    rerender(<ConnectionIndicator view={{ ...view, attempts: 4, nextRetryAt: 12_000 }} onReconnect={() => undefined} clock={() => now} />);
    expect(screen.getByText('Reconnecting: attempt 4 of 8')).toBeTruthy();
    expect(live().textContent).toBe(announced);
  });

  it('announces each change of state, including chat delayed and back', () => {
    const texts: string[] = [];
    const { rerender } = render(<ConnectionIndicator view={base} onReconnect={() => undefined} />);
    texts.push(live().textContent ?? '');
    rerender(<ConnectionIndicator view={base} health={degraded} onReconnect={() => undefined} />);
    texts.push(live().textContent ?? '');
    rerender(<ConnectionIndicator view={{ ...base, state: 'reconnecting', attempts: 1 }} onReconnect={() => undefined} />);
    texts.push(live().textContent ?? '');
    rerender(<ConnectionIndicator view={{ ...base, state: 'failed', attempts: 8, last_error: 'closed' }} onReconnect={() => undefined} />);
    texts.push(live().textContent ?? '');
    expect(new Set(texts).size).toBe(4);
    expect(texts[1]).toMatch(/chat is delayed/i);
    expect(live().getAttribute('aria-live')).toBe('polite');
  });
});

describe('the game page with the health poll', () => {
  it('turns amber when the server it plays on says chat is delayed, and green when it recovers', async () => {
    vi.useRealTimers();
    FakeEventSource.reset();
    FakeWebSocket.reset();
    let healthBody: unknown = NATS_LOST;
    const healthCalls: string[] = [];
    const fetchImpl = vi.fn(async (url: RequestInfo | URL) => {
      if (String(url) === '/api/health') {
        healthCalls.push(String(url));
        return new Response(JSON.stringify(healthBody), { status: 200 });
      }
      return new Response(JSON.stringify({ access_token: 'TOKEN', token_type: 'bearer', player_id: 'p1', expires_in: 3600 }), { status: 200 });
    });
    const pageConfig = { ...DEFAULT_CONFIG, healthIntervalMs: 1_000, wsStartDelayMs: 0 };
    render(<App config={pageConfig} EventSourceImpl={FakeEventSource as never} WebSocketImpl={FakeWebSocket as never} fetchImpl={fetchImpl as never} />);
    fireEvent.change(screen.getByLabelText('Username'), { target: { value: 'randolph' } });
    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'carter123' } });
    fireEvent.click(screen.getByRole('button', { name: 'Enter' }));
    await waitFor(() => expect(FakeEventSource.instances.length).toBeGreaterThan(0));
    act(() => FakeEventSource.latest().open());
    await waitFor(() => expect(FakeWebSocket.instances.length).toBeGreaterThan(0));
    act(() => FakeWebSocket.latest().open());
    await waitFor(() => expect(indicator().dataset.look).toBe('amber'));
    expect(indicator().dataset.connectionState).toBe('fully_connected');
    expect(screen.getByText('Chat is delayed; your messages are being kept')).toBeTruthy();
    healthBody = OK_BODY;
    await waitFor(() => expect(indicator().dataset.look).toBe('green'), { timeout: 3_000 });
    expect(healthCalls.length).toBeGreaterThanOrEqual(2);
  });
});
