/**
 * Link health from the browser's side, and chat health from the server's.
 *
 * Silence on the links is judged by the machine (a watchdog per link); this hook feeds the
 * browser's own signals in (`offline` is a drop, `online` restarts a machine that had given up)
 * and asks the server, over `GET /api/health`, whether chat is flowing: a game link can be up
 * while the server has lost NATS or its breaker is open, and then a player's lines are kept
 * and sent later rather than delivered now. The indicator shows that as its amber look.
 *
 * It polls slowly while fully connected and more often while the links are down or coming up
 * (so the chat status is fresh the moment they are back), never while the machine has stopped.
 * One request at a time: the next is scheduled when the previous one has ended, and each is
 * aborted after its own timeout or when the hook's mode changes.
 */
import { useEffect, useRef, useState } from 'react';
import { CONFIG_LIMITS, DEFAULT_CONFIG, type ConnectionConfig } from '../config';
import type { ConnectionEvent, ConnectionStateName } from '../machines/connectionMachine';

export type ChatStatus = 'ok' | 'degraded' | 'unknown';

export interface ServerHealth {
  /** `degraded`: the server says chat is delayed (NATS lost, or its breaker not closed). */
  chat: ChatStatus;
  /** Did the last health request get an answer? null before the first one ends. */
  reachable: boolean | null;
  /** `Date.now()` when the last answer arrived, or null. */
  checkedAt: number | null;
}

export const UNKNOWN_HEALTH: ServerHealth = Object.freeze({ chat: 'unknown', reachable: null, checkedAt: null });

/**
 * Bounds of the two poll intervals (the config's own): never a request storm, never so slow
 * that the look lies for long. Applied here again because a config can be handed in directly.
 */
export const HEALTH_LIMITS = Object.freeze({
  connected: CONFIG_LIMITS.healthIntervalMs,
  reconnecting: CONFIG_LIMITS.healthRetryIntervalMs,
});

/**
 * Each wait is the interval times a random factor in 1 ± this: pages that lost their server at
 * the same moment do not ask it again in lockstep when it comes back.
 */
export const HEALTH_JITTER = 0.2;

/** A health request that takes longer than this counts as unanswered. */
export const HEALTH_REQUEST_TIMEOUT_MS = 5_000;

export const HEALTH_URL = '/api/health';

export interface HealthIntervals {
  connectedMs: number;
  reconnectingMs: number;
}

function clamp(value: number, { min, max }: { min: number; max: number }, fallback: number): number {
  if (!Number.isFinite(value)) return fallback;
  return Math.min(max, Math.max(min, Math.round(value)));
}

/** The configured intervals, clamped to {@link HEALTH_LIMITS}; a value that is not a finite number takes the default. */
export function healthIntervals(config: Pick<ConnectionConfig, 'healthIntervalMs' | 'healthRetryIntervalMs'>): HealthIntervals {
  return {
    connectedMs: clamp(config.healthIntervalMs, HEALTH_LIMITS.connected, DEFAULT_CONFIG.healthIntervalMs),
    reconnectingMs: clamp(config.healthRetryIntervalMs, HEALTH_LIMITS.reconnecting, DEFAULT_CONFIG.healthRetryIntervalMs),
  };
}

/**
 * Chat status from a `/api/health` body: degraded when NATS is degraded, the breaker is open,
 * or NATS is down although enabled. NATS switched off on purpose (`nats_state: disabled`) is a
 * single server's own choice, not a delay.
 */
export function chatStatus(body: unknown): ChatStatus {
  if (typeof body !== 'object' || body === null) return 'unknown';
  const { nats, nats_state: state } = body as { nats?: unknown; nats_state?: unknown };
  if (state === 'circuit_open' || state === 'half_open') return 'degraded';
  if (nats === 'ok') return 'ok';
  if (nats === 'degraded') return 'degraded';
  if (nats === 'down') return state === 'disabled' ? 'ok' : 'degraded';
  return 'unknown';
}

export type PollMode = 'connected' | 'reconnecting' | 'idle';

/** Fully connected polls slowly; any state on the way to a link polls often; a stopped machine not at all. */
export function pollMode(state: ConnectionStateName): PollMode {
  switch (state) {
    case 'fully_connected':
      return 'connected';
    case 'connecting_sse':
    case 'sse_connected':
    case 'connecting_ws':
    case 'reconnecting':
      return 'reconnecting';
    case 'failed':
    case 'disconnected':
      return 'idle';
  }
}

export interface UseConnectionHealthOptions {
  send: (event: ConnectionEvent) => void;
  state: ConnectionStateName;
  config: Pick<ConnectionConfig, 'healthIntervalMs' | 'healthRetryIntervalMs'>;
  fetchImpl?: typeof fetch;
  target?: Window;
  url?: string;
  /** Uniform in [0, 1); the jitter's source (tests pass a constant). */
  random?: () => number;
}

/** One wait of the poll: `everyMs` with {@link HEALTH_JITTER} applied. */
export function jittered(everyMs: number, random: () => number): number {
  return Math.round(everyMs * (1 + HEALTH_JITTER * (2 * random() - 1)));
}

export function useConnectionHealth({
  send,
  state,
  config,
  fetchImpl,
  target = window,
  url = HEALTH_URL,
  random = Math.random,
}: UseConnectionHealthOptions): ServerHealth {
  const [health, setHealth] = useState<ServerHealth>(UNKNOWN_HEALTH);
  // Read at each wait, not an effect dependency: a new function each render must not restart the poll.
  const randomRef = useRef(random);
  randomRef.current = random;

  useEffect(() => {
    const online = () => send({ type: 'ONLINE' });
    const offline = () => send({ type: 'OFFLINE' });
    target.addEventListener('online', online);
    target.addEventListener('offline', offline);
    return () => {
      target.removeEventListener('online', online);
      target.removeEventListener('offline', offline);
    };
  }, [send, target]);

  const mode = pollMode(state);
  const { connectedMs, reconnectingMs } = healthIntervals(config);
  useEffect(() => {
    if (mode === 'idle') return undefined;
    const everyMs = mode === 'connected' ? connectedMs : reconnectingMs;
    const doFetch = fetchImpl ?? ((input: RequestInfo | URL, init?: RequestInit) => fetch(input, init));
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let inFlight: AbortController | null = null;

    const check = async (): Promise<void> => {
      if (target.navigator?.onLine === false) return; // the machine already knows; a request would only fail
      const abort = new AbortController();
      inFlight = abort;
      const timeout = setTimeout(() => abort.abort(), Math.min(everyMs, HEALTH_REQUEST_TIMEOUT_MS));
      try {
        const response = await doFetch(url, { cache: 'no-store', signal: abort.signal });
        const body: unknown = await response.json().catch(() => null);
        if (stopped) return;
        // 503 means the database is down: the links will say so; chat status comes only from a served body.
        const chat = response.ok ? chatStatus(body) : 'unknown';
        setHealth((before) => ({ chat: chat === 'unknown' ? before.chat : chat, reachable: true, checkedAt: Date.now() }));
      } catch {
        if (!stopped) setHealth((before) => (before.reachable === false ? before : { ...before, reachable: false }));
      } finally {
        clearTimeout(timeout);
        if (inFlight === abort) inFlight = null;
      }
    };
    const loop = async (): Promise<void> => {
      await check();
      if (!stopped) timer = setTimeout(() => void loop(), jittered(everyMs, randomRef.current));
    };
    // Connected: ask at once (is chat flowing on this fresh link?). On the way back: after one interval.
    if (mode === 'connected') void loop();
    else timer = setTimeout(() => void loop(), jittered(everyMs, randomRef.current));
    return () => {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      inFlight?.abort();
    };
  }, [mode, connectedMs, reconnectingMs, fetchImpl, target, url]);

  return health;
}
