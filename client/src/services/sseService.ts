/**
 * The SSE link as an invoked callback service: opening the EventSource is entering the
 * link state, closing it is leaving it, so no handle is kept anywhere else.
 *
 * The browser's EventSource retries on its own with Last-Event-ID, but the machine owns
 * retries and re-creates the stream each attempt, so the last id seen is also passed as
 * the `last_event_id` query parameter.
 */
import type { ConnectionContext, ConnectionEvent } from '../machines/connectionMachine';
import { EVENT_TYPES, parseText, sseUrl, type Incoming } from '../protocol';

export type Channel = 'sse' | 'ws';
export type IncomingHandler = (incoming: Incoming, origin: { channel: Channel; id: string | null }) => void;

export interface SseServiceOptions {
  EventSourceImpl: typeof EventSource;
  baseUrl: string;
  lastEventId: () => string | null;
  onIncoming: IncomingHandler;
}

type SendBack = (event: ConnectionEvent) => void;

/** Route one parsed message: control events go to the machine, the rest to the game. */
export function dispatchIncoming(
  incoming: Incoming,
  origin: { channel: Channel; id: string | null },
  sendBack: SendBack,
  onIncoming: IncomingHandler,
): void {
  if (incoming.kind === 'malformed') {
    sendBack({ type: 'MALFORMED', message: `Ignored a malformed message: ${incoming.reason}` });
    return;
  }
  if (incoming.kind === 'event' && incoming.envelope.event_type === 'session_evicted') {
    const text = incoming.envelope.data.message;
    sendBack({
      type: 'EVICTED',
      message: typeof text === 'string' ? text : 'You signed in from another window; this one was disconnected.',
    });
  }
  onIncoming(incoming, origin);
}

export function createSseService(options: SseServiceOptions) {
  return (ctx: ConnectionContext) => (sendBack: SendBack) => {
    if (ctx.token === null) {
      sendBack({ type: 'AUTH_FAILED', message: 'You are not signed in.' });
      return undefined;
    }
    const source = new options.EventSourceImpl(
      sseUrl(options.baseUrl, ctx.token, ctx.session_id, options.lastEventId()),
    );
    const handle = (name: string) => (ev: Event) => {
      const message = ev as MessageEvent<string>;
      const id = message.lastEventId || null;
      sendBack({ type: 'SSE_ALIVE' });
      dispatchIncoming(parseText(message.data ?? '', { event_type: name, id }), { channel: 'sse', id }, sendBack, options.onIncoming);
    };
    source.onopen = () => sendBack({ type: 'SSE_OPEN' });
    source.onerror = () => sendBack({ type: 'ERROR', source: 'sse', message: 'The event stream was interrupted' });
    const listeners = ['message', ...EVENT_TYPES].map((name) => [name, handle(name)] as const);
    for (const [name, fn] of listeners) source.addEventListener(name, fn);
    return () => {
      for (const [name, fn] of listeners) source.removeEventListener(name, fn);
      source.onopen = null;
      source.onerror = null;
      source.close();
    };
  };
}
