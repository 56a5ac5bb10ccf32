/**
 * The WebSocket link as an invoked callback service. The machine forwards commands and
 * pings to it; close codes 4401 and 4409 become AUTH_FAILED and EVICTED so the machine
 * stops instead of retrying, every other close is an ordinary drop.
 */
import type { ConnectionContext, ConnectionEvent, WebSocketServiceEvent } from '../machines/connectionMachine';
import { CLOSE_EVICTED, CLOSE_UNAUTHORIZED, commandFrame, parseText, PING_FRAME, wsUrl } from '../protocol';
import { dispatchIncoming, type IncomingHandler } from './sseService';

export interface WsServiceOptions {
  WebSocketImpl: typeof WebSocket;
  location: { protocol: string; host: string };
  onIncoming: IncomingHandler;
  /** Told when a command could not be sent because the socket is not open. */
  onUnsent: (command: string) => void;
}

type SendBack = (event: ConnectionEvent) => void;
type Receive = (listener: (event: WebSocketServiceEvent) => void) => void;

export function closeEvent(code: number, reason: string): ConnectionEvent {
  if (code === CLOSE_UNAUTHORIZED) {
    return { type: 'AUTH_FAILED', message: reason || 'Your session has expired. Please sign in again.' };
  }
  if (code === CLOSE_EVICTED) {
    return { type: 'EVICTED', message: reason || 'You signed in from another window; this one was disconnected.' };
  }
  return { type: 'ERROR', source: 'ws', message: `The game link closed (code ${code}${reason ? `: ${reason}` : ''})` };
}

export function createWsService(options: WsServiceOptions) {
  return (ctx: ConnectionContext) => (sendBack: SendBack, receive: Receive) => {
    if (ctx.token === null) {
      sendBack({ type: 'AUTH_FAILED', message: 'You are not signed in.' });
      return undefined;
    }
    const socket = new options.WebSocketImpl(wsUrl(options.location, ctx.token, ctx.session_id));
    socket.onopen = () => sendBack({ type: 'WS_OPEN' });
    socket.onmessage = (ev: MessageEvent) => {
      sendBack({ type: 'WS_ALIVE' });
      const text = typeof ev.data === 'string' ? ev.data : '';
      const incoming = parseText(text);
      const id = incoming.kind === 'event' && incoming.envelope.sequence_number !== null
        ? String(incoming.envelope.sequence_number)
        : null;
      dispatchIncoming(incoming, { channel: 'ws', id }, sendBack, options.onIncoming);
    };
    socket.onclose = (ev: CloseEvent) => sendBack(closeEvent(ev.code, ev.reason));
    receive((event) => {
      const open = socket.readyState === options.WebSocketImpl.OPEN;
      if (event.type === 'PING') {
        if (open) socket.send(PING_FRAME);
      } else if (open) {
        socket.send(commandFrame(event.command));
      } else {
        options.onUnsent(event.command);
      }
    });
    return () => {
      socket.onopen = null;
      socket.onmessage = null;
      socket.onclose = null;
      socket.close(1000);
    };
  };
}
