/**
 * A herd of real connection machines in one Node process: `herd.mjs` bundles this file and runs it.
 *
 * Every client is the page's own machine (`createConnectionMachine` with the default config,
 * `Date.now` and `Math.random`) with the page's own SSE and WebSocket services bound, so the
 * backoff, guards, timeouts and watchdogs are the real ones; only the transports are Node's:
 * the EventSource and the stream probe over `node:http` (herdTransport.ts) and undici's
 * WebSocket (`--experimental-websocket`). Each change of a client's named state is one JSON line.
 */
import { interpret } from 'xstate';
import { DEFAULT_CONFIG, type ConnectionConfig } from '../src/config';
import {
  connectionStateName,
  createConnectionMachine,
  type ConnectionEvent,
  type ConnectionStateName,
} from '../src/machines/connectionMachine';
import { createSseService, type IncomingHandler } from '../src/services/sseService';
import { createWsService } from '../src/services/wsService';
import { NodeEventSource, probeFetch } from './herdTransport';

export interface HerdLine {
  /** Epoch ms. */
  t: number;
  client: number;
  /** `transition`, `final` (the state when the herd stopped) or `herd` (the runner itself). */
  kind: 'transition' | 'final' | 'herd';
  state?: ConnectionStateName;
  from?: ConnectionStateName | null;
  event?: string;
  attempts?: number;
  retryDelayMs?: number;
  last_error?: string | null;
  note?: string;
}

export interface HerdOptions {
  baseUrl: string;
  tokens: readonly string[];
  /** Called with each line, in order; the caller writes it out. */
  emit: (line: HerdLine) => void;
  /** CONNECT is spread over this span so the first login is not itself a herd. */
  rampMs: number;
  config?: ConnectionConfig;
}

export interface Herd {
  /** Stops every machine (closing its links) and emits one `final` line per client. */
  stop: (note: string) => void;
  states: () => ConnectionStateName[];
}

function sessionId(): string {
  return globalThis.crypto.randomUUID().replace(/-/g, '');
}

/** Start one machine per token against `baseUrl`; returns at once, the herd runs on timers. */
export function startHerd(options: HerdOptions): Herd {
  const { emit } = options;
  const config = options.config ?? DEFAULT_CONFIG;
  const url = new URL(options.baseUrl);
  const location = { protocol: url.protocol, host: url.host };
  const EventSourceImpl = NodeEventSource as unknown as typeof EventSource;
  const WebSocketImpl = (globalThis as { WebSocket?: typeof WebSocket }).WebSocket;
  if (WebSocketImpl === undefined) {
    throw new Error('WebSocket is missing: run node (20) with --experimental-websocket');
  }
  const services = options.tokens.map((token, client) => {
    let lastSseId: string | null = null;
    const onIncoming: IncomingHandler = (_incoming, origin) => {
      if (origin.channel === 'sse' && origin.id !== null) lastSseId = origin.id;
    };
    const machine = createConnectionMachine(config, { now: Date.now, random: Math.random }, sessionId());
    const service = interpret(
      machine.withConfig({
        services: {
          sse: createSseService({
            EventSourceImpl,
            fetchImpl: probeFetch,
            baseUrl: url.origin,
            lastEventId: () => lastSseId,
            onIncoming,
          }) as never,
          ws: createWsService({ WebSocketImpl, location, onIncoming, onUnsent: () => undefined }) as never,
        },
      }),
    );
    let named: ConnectionStateName | null = null;
    service.onTransition((state) => {
      const now = connectionStateName(state);
      if (now === named) return;
      emit({
        t: Date.now(),
        client,
        kind: 'transition',
        state: now,
        from: named,
        event: state.event.type,
        attempts: state.context.attempts,
        retryDelayMs: state.context.retryDelayMs,
        last_error: state.context.last_error,
      });
      named = now;
    });
    service.start();
    const step = options.tokens.length > 1 ? options.rampMs / (options.tokens.length - 1) : 0;
    const connect: ConnectionEvent = { type: 'CONNECT', token };
    setTimeout(() => service.send(connect), Math.round(client * step));
    return service;
  });
  const states = () => services.map((s) => connectionStateName(s.getSnapshot()));
  let stopped = false;
  return {
    states,
    stop: (note: string) => {
      if (stopped) return;
      stopped = true;
      const t = Date.now();
      services.forEach((service, client) => {
        const state = service.getSnapshot();
        emit({ t, client, kind: 'final', state: connectionStateName(state), attempts: state.context.attempts,
               last_error: state.context.last_error, note });
        service.stop();
      });
    },
  };
}
