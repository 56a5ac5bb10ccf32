/**
 * The SSE link as an invoked callback service: opening the EventSource is entering the
 * link state, closing it is leaving it, so no handle is kept anywhere else.
 *
 * The browser's EventSource retries on its own with Last-Event-ID, but the machine owns
 * retries and re-creates the stream each attempt, so the last id seen is also passed as
 * the `last_event_id` query parameter.
 *
 * A stream that fails before opening is explained by one cheap authenticated request
 * (`/api/events/probe`, no stream), aborted if the service stops first so it never holds
 * a connection slot past its link.
 */
import type { ConnectionContext, ConnectionEvent } from '../machines/connectionMachine';
import { EVENT_TYPES, parseText, sseUrl, type Incoming } from '../protocol';

export type Channel = 'sse' | 'ws';
export type IncomingHandler = (incoming: Incoming, origin: { channel: Channel; id: string | null }) => void;

export interface SseServiceOptions {
  EventSourceImpl: typeof EventSource;
  /** Used to learn why a stream failed to open: EventSource hides the HTTP status. */
  fetchImpl: typeof fetch;
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
  if (incoming.kind === 'event' && incoming.envelope.event_type === 'heartbeat') {
    const interval = incoming.envelope.data.interval_ms;
    if (typeof interval === 'number' && Number.isFinite(interval)) sendBack({ type: 'HEARTBEAT_INTERVAL', intervalMs: interval });
  }
  if (incoming.kind === 'event' && incoming.envelope.event_type === 'session_evicted') {
    const text = incoming.envelope.data.message;
    sendBack({
      type: 'EVICTED',
      message: typeof text === 'string' ? text : 'You signed in from another window; this one was disconnected.',
    });
  }
  onIncoming(incoming, origin);
  if (incoming.kind === 'event' && incoming.envelope.event_type === 'command_result' && incoming.envelope.data.quit === true) {
    sendBack({ type: 'QUIT' });
  }
}

/** The cheap authenticated check a stream that failed to open is explained by. */
export function probeUrl(baseUrl: string): string {
  return `${baseUrl}/api/events/probe`;
}

/**
 * The HTTP status of the probe (null when unreachable or aborted); the body is not read.
 * `signal` belongs to the service, which aborts it when it stops.
 */
export async function probeStatus(fetchImpl: typeof fetch, url: string, token: string, signal: AbortSignal): Promise<number | null> {
  try {
    const response = await fetchImpl(url, {
      signal,
      cache: 'no-store',
      headers: { Authorization: `Bearer ${token}`, Accept: 'application/json' },
    });
    return response.status;
  } catch {
    return null;
  }
}

function describeStatus(status: number | null): string {
  if (status === null) return 'Cannot reach the server';
  if (status >= 400) return `The server refused the event stream (HTTP ${status})`;
  return 'The event stream could not be opened';
}

export function createSseService(options: SseServiceOptions) {
  return (ctx: ConnectionContext) => (sendBack: SendBack) => {
    if (ctx.token === null) {
      sendBack({ type: 'AUTH_FAILED', message: 'You are not signed in.' });
      return undefined;
    }
    const token = ctx.token;
    const url = sseUrl(options.baseUrl, token, ctx.session_id, options.lastEventId());
    const source = new options.EventSourceImpl(url);
    const probe = new AbortController();
    const handle = (name: string) => (ev: Event) => {
      const message = ev as MessageEvent<string>;
      const id = message.lastEventId || null;
      sendBack({ type: 'SSE_ALIVE' });
      dispatchIncoming(parseText(message.data ?? '', { event_type: name, id }), { channel: 'sse', id }, sendBack, options.onIncoming);
    };
    let opened = false;
    let stopped = false;
    const interrupted: ConnectionEvent = { type: 'ERROR', source: 'sse', message: 'The event stream was interrupted' };
    source.onopen = () => {
      opened = true;
      sendBack({ type: 'SSE_OPEN' });
    };
    source.onerror = () => {
      source.close();
      if (opened) {
        sendBack(interrupted);
        return;
      }
      // Never opened: a refused token (401) must stop the machine, not burn the retry
      // budget, and only an ordinary request can see the status.
      void probeStatus(options.fetchImpl, probeUrl(options.baseUrl), token, probe.signal).then((status) => {
        if (stopped) return;
        sendBack(status === 401 || status === 403
          ? { type: 'AUTH_FAILED', message: 'Your session has expired. Please sign in again.' }
          : { type: 'ERROR', source: 'sse', message: describeStatus(status) });
      });
    };
    const listeners = ['message', ...EVENT_TYPES].map((name) => [name, handle(name)] as const);
    for (const [name, fn] of listeners) source.addEventListener(name, fn);
    return () => {
      stopped = true;
      probe.abort();
      for (const [name, fn] of listeners) source.removeEventListener(name, fn);
      source.onopen = null;
      source.onerror = null;
      source.close();
    };
  };
}
