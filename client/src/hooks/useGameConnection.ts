/**
 * The one hook the game screen uses: composes the session, both links, the machine and
 * the health signals, and turns incoming events (deduplicated by sequence number) into
 * the terminal's view.
 */
import { useCallback, useEffect, useReducer, useState } from 'react';
import type { ConnectionConfig } from '../config';
import { gameReducer, initialGame } from '../game/gameLog';
import { SequenceTracker } from '../game/sequence';
import type { IncomingHandler } from '../services/sseService';
import { useConnectionHealth } from './useConnectionHealth';
import { useConnectionStateMachine } from './useConnectionStateMachine';
import type { AuthInfo } from './useSessionManagement';
import { useSSEConnection } from './useSSEConnection';
import { useWebSocketConnection } from './useWebSocketConnection';

export interface UseGameConnectionOptions {
  auth: AuthInfo | null;
  sessionId: string;
  config: ConnectionConfig;
  /** Called when the server rejects the token: the page returns to the sign-in screen. */
  onUnauthorized: () => void;
  EventSourceImpl?: typeof EventSource;
  WebSocketImpl?: typeof WebSocket;
  fetchImpl?: typeof fetch;
}

export function useGameConnection(options: UseGameConnectionOptions) {
  const { auth, sessionId, config, onUnauthorized } = options;
  const [game, dispatch] = useReducer(gameReducer, initialGame);
  const [tracker] = useState(() => new SequenceTracker());

  const onIncoming = useCallback<IncomingHandler>(
    (incoming, origin) => {
      if (origin.channel === 'sse') tracker.noteSseId(origin.id);
      if (incoming.kind === 'event' && !tracker.accept(incoming.envelope.sequence_number)) return;
      dispatch({ type: 'incoming', incoming });
    },
    [tracker],
  );
  const lastEventId = useCallback(() => tracker.lastSseId, [tracker]);
  const onUnsent = useCallback((command: string) => {
    dispatch({ type: 'local', kind: 'error', text: `Not connected: "${command}" was not sent.` });
  }, []);

  const sse = useSSEConnection({ onIncoming, lastEventId, EventSourceImpl: options.EventSourceImpl, fetchImpl: options.fetchImpl });
  const ws = useWebSocketConnection({ onIncoming, onUnsent, WebSocketImpl: options.WebSocketImpl });
  const actions = useState(() => ({
    rejectCommand: (_ctx: unknown, e: { type: string; command?: string }) => {
      if (e.type === 'SEND_COMMAND') onUnsent(e.command ?? '');
    },
  }))[0];
  const { view, send } = useConnectionStateMachine({ config, sessionId, services: { sse, ws }, actions });
  const health = useConnectionHealth({ send, state: view.state, config, fetchImpl: options.fetchImpl });

  const token = auth?.token ?? null;
  useEffect(() => {
    if (token !== null) send({ type: 'CONNECT', token });
    else send({ type: 'DISCONNECT' });
  }, [token, send]);

  useEffect(() => {
    if (view.reason === 'unauthorized') onUnauthorized();
  }, [view.reason, onUnauthorized]);

  const sendCommand = useCallback(
    (command: string) => {
      dispatch({ type: 'local', kind: 'input', text: `> ${command}` });
      send({ type: 'SEND_COMMAND', command });
    },
    [send],
  );
  const reconnect = useCallback(() => send({ type: 'RECONNECT' }), [send]);

  return { game, connection: view, health, sendCommand, reconnect };
}
