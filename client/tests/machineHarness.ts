/** Runs the connection machine on a SimulatedClock with fake, recording services. */
import { interpret, type Interpreter } from 'xstate';
import { SimulatedClock } from 'xstate/lib/SimulatedClock';
import { DEFAULT_CONFIG, type ConnectionConfig } from '../src/config';
import {
  connectionStateName,
  createConnectionMachine,
  type ConnectionContext,
  type ConnectionEvent,
  type WebSocketServiceEvent,
} from '../src/machines/connectionMachine';

export const TEST_CONFIG: ConnectionConfig = {
  ...DEFAULT_CONFIG,
  maxAttempts: 3,
  backoffBaseMs: 250,
  backoffCapMs: 1_000,
  connectionTimeoutMs: 30_000,
  attemptTimeoutMs: 5_000,
  heartbeatIntervalMs: 5_000,
  heartbeatTimeoutMs: 10_000,
  wsStartDelayMs: 0,
};

export interface Harness {
  service: Interpreter<ConnectionContext, any, ConnectionEvent, any, any>;
  clock: SimulatedClock;
  open: { sse: number; ws: number };
  closed: { sse: number; ws: number };
  toWs: WebSocketServiceEvent[];
  rejected: string[];
  name: () => string;
  ctx: () => ConnectionContext;
}

export function startHarness(overrides: Partial<ConnectionConfig> = {}, random = () => 1): Harness {
  const clock = new SimulatedClock();
  clock.set(1_000_000);
  const open = { sse: 0, ws: 0 };
  const closed = { sse: 0, ws: 0 };
  const toWs: WebSocketServiceEvent[] = [];
  const rejected: string[] = [];
  const machine = createConnectionMachine(
    { ...TEST_CONFIG, ...overrides },
    { now: () => clock.now(), random },
    'sess-1',
  ).withConfig({
    services: {
      sse: () => () => {
        open.sse += 1;
        return () => {
          closed.sse += 1;
        };
      },
      ws: () => (_send, receive) => {
        open.ws += 1;
        receive((e) => toWs.push(e as WebSocketServiceEvent));
        return () => {
          closed.ws += 1;
        };
      },
    },
    actions: {
      rejectCommand: (_ctx, e) => {
        if (e.type === 'SEND_COMMAND') rejected.push(e.command);
      },
    },
  });
  const service = interpret(machine, { clock }).start();
  return {
    service,
    clock,
    open,
    closed,
    toWs,
    rejected,
    name: () => connectionStateName(service.getSnapshot()),
    ctx: () => service.getSnapshot().context,
  };
}

/** Drive a fresh machine to fully_connected. */
export function connected(overrides: Partial<ConnectionConfig> = {}, random = () => 1): Harness {
  const h = startHarness(overrides, random);
  h.service.send({ type: 'CONNECT', token: 'tok' });
  h.service.send({ type: 'SSE_OPEN' });
  h.clock.increment(0);
  h.service.send({ type: 'WS_OPEN' });
  return h;
}
