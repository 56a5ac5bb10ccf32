/** The WebSocket half of the link (commands and pings), as a service for the machine. */
import { useMemo } from 'react';
import { createWsService } from '../services/wsService';
import type { IncomingHandler } from '../services/sseService';

export interface UseWebSocketConnectionOptions {
  onIncoming: IncomingHandler;
  onUnsent: (command: string) => void;
  WebSocketImpl?: typeof WebSocket;
  location?: { protocol: string; host: string };
}

export function useWebSocketConnection({ onIncoming, onUnsent, WebSocketImpl, location }: UseWebSocketConnectionOptions) {
  return useMemo(
    () =>
      createWsService({
        WebSocketImpl: WebSocketImpl ?? window.WebSocket,
        location: location ?? window.location,
        onIncoming,
        onUnsent,
      }),
    [onIncoming, onUnsent, WebSocketImpl, location],
  );
}
