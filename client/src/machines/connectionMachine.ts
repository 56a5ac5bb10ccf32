/**
 * The client's connection lifecycle as an XState 4 statechart.
 *
 * The machine is configuration: it names its actions, guards, delays and services and
 * `connectionOptions` supplies the pure ones. Real I/O (EventSource, WebSocket) is bound
 * with `withConfig` by the hooks, so tests inject fakes and a SimulatedClock. Every timer
 * is a delayed transition; every failure funnels into the same drop path, which either
 * schedules a bounded, jittered retry or gives up in `failed`.
 *
 * The watchdog is sized from the heartbeat interval the server advertises, and the attempt
 * count starts again only once a link has lasted a full heartbeat timeout and then carried
 * traffic on both transports, so a link that opens and goes silent always spends the budget.
 */
import { assign, createMachine, forwardTo, send } from 'xstate';
import type { MachineOptions, StateMachine } from 'xstate';
import { clampConfig, DEFAULT_CONFIG, withHeartbeat, type ConnectionConfig } from '../config';
import { backoffDelay } from './backoff';

export const CONNECTION_STATES = [
  'disconnected',
  'connecting_sse',
  'sse_connected',
  'connecting_ws',
  'fully_connected',
  'reconnecting',
  'failed',
] as const;
export type ConnectionStateName = (typeof CONNECTION_STATES)[number];

/** Why the machine stopped without retrying; the page decides what to show. */
export type StopReason = 'unauthorized' | 'evicted' | 'logout' | 'quit' | null;

export interface ConnectionContext {
  token: string | null;
  session_id: string;
  attempts: number;
  maxAttempts: number;
  last_error: string | null;
  reason: StopReason;
  /** The backoff chosen for the current wait, and when it ends (for the countdown). */
  retryDelayMs: number;
  nextRetryAt: number | null;
  connectStartedAt: number | null;
  /** When the link being opened must be fully connected (SSE and WebSocket together). */
  linkDeadline: number | null;
  connectedAt: number | null;
  /** When the current outage began; cleared once fully connected again. */
  droppedAt: number | null;
  /** Time from the first drop of the last outage to fully_connected. */
  lastRecoveryMs: number | null;
  config: ConnectionConfig;
}

export type ErrorSource = 'sse' | 'ws' | 'network';

export type ConnectionEvent =
  | { type: 'CONNECT'; token: string }
  | { type: 'DISCONNECT' }
  | { type: 'QUIT' }
  | { type: 'RECONNECT' }
  | { type: 'SSE_OPEN' }
  | { type: 'WS_OPEN' }
  | { type: 'SSE_ALIVE' }
  | { type: 'WS_ALIVE' }
  | { type: 'ERROR'; source: ErrorSource; message: string }
  | { type: 'AUTH_FAILED'; message: string }
  | { type: 'EVICTED'; message: string }
  | { type: 'MALFORMED'; message: string }
  | { type: 'ONLINE' }
  | { type: 'OFFLINE' }
  /** The server's heartbeat interval, from its first SSE frame. */
  | { type: 'HEARTBEAT_INTERVAL'; intervalMs: number }
  | { type: 'SEND_COMMAND'; command: string };

/** Messages the machine sends to the invoked WebSocket service. */
export type WebSocketServiceEvent = { type: 'SEND_COMMAND'; command: string } | { type: 'PING' };

export interface ConnectionDeps {
  now: () => number;
  random: () => number;
}

export type ConnectionMachine = StateMachine<ConnectionContext, any, ConnectionEvent>;
/** The parts of an XState state the client reads (structural, so any typegen variant fits). */
export interface ConnectionState {
  configuration: ReadonlyArray<{ key: string }>;
  context: ConnectionContext;
  event: { type: string };
}

export function initialContext(
  config: ConnectionConfig = DEFAULT_CONFIG,
  session_id = '',
): ConnectionContext {
  const safe = clampConfig(config);
  return {
    token: null,
    session_id,
    attempts: 0,
    maxAttempts: safe.maxAttempts,
    last_error: null,
    reason: null,
    retryDelayMs: 0,
    nextRetryAt: null,
    connectStartedAt: null,
    linkDeadline: null,
    connectedAt: null,
    droppedAt: null,
    lastRecoveryMs: null,
    config: safe,
  };
}

type Transitions = { target: string; cond?: string; actions: string }[];

/** The one drop path: retry while attempts remain, otherwise stop in `failed`. */
function drop(record: string): Transitions {
  return [
    { target: '#connection.reconnecting', cond: 'canRetry', actions: record },
    { target: '#connection.failed', actions: record },
  ];
}

/** Once the link has lasted STABLE_AFTER: waits for traffic on one transport. */
function heard(aliveEvent: 'SSE_ALIVE' | 'WS_ALIVE') {
  return {
    initial: 'waiting',
    states: { waiting: { on: { [aliveEvent]: 'heard' } }, heard: { type: 'final' as const } },
  };
}

/** A region that counts silence on one link as a drop; any traffic restarts its timer. */
function watchdog(aliveEvent: 'SSE_ALIVE' | 'WS_ALIVE', record: string) {
  return {
    initial: 'alive',
    states: {
      alive: {
        after: { HEARTBEAT_TIMEOUT: drop(record) },
        on: { [aliveEvent]: { target: 'alive', internal: false } },
      },
    },
  };
}

const restart = { target: '#connection.link', actions: 'restart' } as const;

export const connectionMachine = createMachine<ConnectionContext, ConnectionEvent>(
  {
    id: 'connection',
    predictableActionArguments: true,
    context: initialContext(),
    initial: 'disconnected',
    on: {
      DISCONNECT: { target: '#connection.disconnected', actions: 'recordLogout' },
      // The player typed `quit`: the server closes the link on purpose, so do not retry.
      QUIT: { target: '#connection.disconnected', actions: 'recordQuit' },
      MALFORMED: { actions: 'recordMalformed' },
      SEND_COMMAND: { actions: 'rejectCommand' },
    },
    states: {
      disconnected: {
        on: {
          CONNECT: { target: 'link', actions: 'startSession' },
          RECONNECT: { ...restart, cond: 'hasToken' },
        },
      },
      link: {
        invoke: { id: 'sse', src: 'sse' },
        entry: 'startDeadline',
        initial: 'connecting_sse',
        on: {
          HEARTBEAT_INTERVAL: { actions: 'adoptHeartbeat' },
          ERROR: drop('recordError'),
          OFFLINE: drop('recordOffline'),
          AUTH_FAILED: { target: 'disconnected', actions: 'recordUnauthorized' },
          EVICTED: { target: 'disconnected', actions: 'recordEvicted' },
        },
        states: {
          connecting_sse: {
            after: { CONNECT_TIMEOUT: drop('recordTimeout') },
            on: { SSE_OPEN: 'sse_connected' },
          },
          sse_connected: {
            after: { WS_START_DELAY: 'ws' },
          },
          ws: {
            invoke: { id: 'ws', src: 'ws' },
            initial: 'connecting_ws',
            states: {
              connecting_ws: {
                after: { CONNECT_TIMEOUT: drop('recordTimeout') },
                on: { WS_OPEN: 'fully_connected' },
              },
              fully_connected: {
                type: 'parallel',
                entry: 'recordConnected',
                on: { SEND_COMMAND: { actions: 'forwardCommand' } },
                states: {
                  sse_watch: watchdog('SSE_ALIVE', 'recordStale'),
                  ws_watch: watchdog('WS_ALIVE', 'recordStale'),
                  pinger: {
                    initial: 'waiting',
                    states: {
                      waiting: {
                        after: { PING_INTERVAL: { target: 'waiting', internal: false, actions: 'sendPing' } },
                      },
                    },
                  },
                  // Attempts reset only once the link has lasted a full heartbeat timeout
                  // (STABLE_AFTER) and then carried traffic on both transports: a link that
                  // opens and goes silent, or a server that accepts and then drops every
                  // connection, still exhausts the budget instead of looping.
                  stability: {
                    initial: 'settling',
                    states: {
                      settling: { after: { STABLE_AFTER: 'proving' } },
                      proving: {
                        type: 'parallel',
                        states: { sse: heard('SSE_ALIVE'), ws: heard('WS_ALIVE') },
                        onDone: { target: 'stable', actions: 'resetAttempts' },
                      },
                      stable: {},
                    },
                  },
                },
              },
            },
          },
        },
      },
      reconnecting: {
        entry: ['countAttempt', 'scheduleRetry'],
        after: { BACKOFF: 'link' },
        on: { ONLINE: 'link', RECONNECT: 'link' },
      },
      failed: {
        on: { RECONNECT: restart, ONLINE: restart },
      },
    },
  },
);

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

/** The deadline of a whole link: the first connection's, or a reconnect attempt's. */
function linkTimeoutMs(ctx: ConnectionContext): number {
  return ctx.attempts === 0 ? ctx.config.connectionTimeoutMs : ctx.config.attemptTimeoutMs;
}

/** The pure half of the machine's implementation; I/O services are bound by the caller. */
export function connectionOptions(
  deps: ConnectionDeps,
): Partial<MachineOptions<ConnectionContext, ConnectionEvent>> {
  const recordFailure = (message: (ctx: ConnectionContext, e: ConnectionEvent) => string) =>
    assign<ConnectionContext, ConnectionEvent>({
      last_error: (ctx, e) => message(ctx, e),
      droppedAt: (ctx) => ctx.droppedAt ?? deps.now(),
    });
  const unbound = () => (sendBack: (e: ConnectionEvent) => void) => {
    sendBack({ type: 'ERROR', source: 'network', message: 'No connection service is bound' });
  };
  return {
    guards: {
      canRetry: (ctx) => ctx.attempts < ctx.maxAttempts,
      hasToken: (ctx) => ctx.token !== null,
    },
    delays: {
      // What is left of the one deadline for the whole link (SSE and WebSocket phases).
      CONNECT_TIMEOUT: (ctx) => Math.max(0, (ctx.linkDeadline ?? deps.now() + linkTimeoutMs(ctx)) - deps.now()),
      WS_START_DELAY: (ctx) => ctx.config.wsStartDelayMs,
      HEARTBEAT_TIMEOUT: (ctx) => ctx.config.heartbeatTimeoutMs,
      PING_INTERVAL: (ctx) => ctx.config.heartbeatIntervalMs,
      STABLE_AFTER: (ctx) => Math.max(ctx.config.stableAfterMs, ctx.config.heartbeatTimeoutMs),
      BACKOFF: (ctx) => ctx.retryDelayMs,
    },
    services: { sse: unbound, ws: unbound },
    actions: {
      startSession: assign({
        token: (ctx, e) => (e.type === 'CONNECT' ? e.token : ctx.token),
        attempts: (_ctx) => 0,
        reason: (_ctx) => null,
        last_error: (_ctx) => null,
        connectStartedAt: (_ctx) => deps.now(),
        droppedAt: (_ctx) => null,
      }),
      restart: assign({
        attempts: (_ctx) => 0,
        reason: (_ctx) => null,
        connectStartedAt: (_ctx) => deps.now(),
      }),
      startDeadline: assign({ linkDeadline: (ctx) => deps.now() + linkTimeoutMs(ctx) }),
      adoptHeartbeat: assign({
        config: (ctx, e) => (e.type === 'HEARTBEAT_INTERVAL' ? withHeartbeat(ctx.config, e.intervalMs) : ctx.config),
      }),
      recordError: recordFailure((ctx, e) =>
        e.type === 'ERROR' ? e.message : ctx.last_error ?? 'Connection error',
      ),
      recordTimeout: recordFailure((ctx) => `No answer from the server within ${seconds(linkTimeoutMs(ctx))}`),
      recordStale: recordFailure(
        (ctx) => `The server went silent (no heartbeat for ${seconds(ctx.config.heartbeatTimeoutMs)})`,
      ),
      recordOffline: recordFailure(() => 'Your browser went offline'),
      recordMalformed: assign({
        last_error: (ctx, e) => (e.type === 'MALFORMED' ? e.message : ctx.last_error),
      }),
      recordUnauthorized: assign({
        reason: (_ctx) => 'unauthorized' as StopReason,
        token: (_ctx) => null,
        last_error: (ctx, e) => (e.type === 'AUTH_FAILED' ? e.message : ctx.last_error),
      }),
      recordEvicted: assign({
        reason: (_ctx) => 'evicted' as StopReason,
        last_error: (ctx, e) => (e.type === 'EVICTED' ? e.message : ctx.last_error),
      }),
      recordQuit: assign({
        reason: (_ctx) => 'quit' as StopReason,
        last_error: (_ctx) => null,
      }),
      recordLogout: assign({
        reason: (_ctx) => 'logout' as StopReason,
        token: (_ctx) => null,
      }),
      countAttempt: assign({ attempts: (ctx) => ctx.attempts + 1 }),
      scheduleRetry: assign((ctx) => {
        const retryDelayMs = backoffDelay(
          ctx.attempts,
          ctx.config.backoffBaseMs,
          ctx.config.backoffCapMs,
          deps.random,
        );
        return { retryDelayMs, nextRetryAt: deps.now() + retryDelayMs };
      }),
      recordConnected: assign((ctx) => {
        const now = deps.now();
        return {
          connectedAt: now,
          lastRecoveryMs: ctx.droppedAt === null ? ctx.lastRecoveryMs : now - ctx.droppedAt,
          droppedAt: null,
          nextRetryAt: null,
          last_error: null,
        };
      }),
      resetAttempts: assign({ attempts: (_ctx) => 0 }),
      forwardCommand: forwardTo('ws'),
      sendPing: send({ type: 'PING' }, { to: 'ws' }),
      rejectCommand: () => undefined,
    },
  };
}

/** The machine with its pure implementation bound; bind `sse` and `ws` with withConfig. */
export function createConnectionMachine(
  config: ConnectionConfig,
  deps: ConnectionDeps,
  session_id = '',
): ConnectionMachine {
  return connectionMachine
    .withConfig(connectionOptions(deps))
    .withContext(initialContext(config, session_id)) as ConnectionMachine;
}

const STATE_NAMES: ReadonlySet<string> = new Set(CONNECTION_STATES);

/** The named state the machine is in; this is also the page's data-connection-state. */
export function connectionStateName(state: Pick<ConnectionState, 'configuration'>): ConnectionStateName {
  const node = state.configuration.find((n) => STATE_NAMES.has(n.key));
  return (node?.key ?? 'disconnected') as ConnectionStateName;
}
