/** The EventSource half of the link, as a service for the connection machine to invoke. */
import { useMemo } from 'react';
import { createSseService, type IncomingHandler } from '../services/sseService';

export interface UseSSEConnectionOptions {
  onIncoming: IncomingHandler;
  /** The last `id:` seen on the stream; the resumed stream starts after it. */
  lastEventId: () => string | null;
  EventSourceImpl?: typeof EventSource;
  fetchImpl?: typeof fetch;
  baseUrl?: string;
}

export function useSSEConnection({ onIncoming, lastEventId, EventSourceImpl, fetchImpl, baseUrl = '' }: UseSSEConnectionOptions) {
  return useMemo(
    () =>
      createSseService({
        EventSourceImpl: EventSourceImpl ?? window.EventSource,
        fetchImpl: fetchImpl ?? window.fetch.bind(window),
        baseUrl,
        lastEventId,
        onIncoming,
      }),
    [onIncoming, lastEventId, EventSourceImpl, fetchImpl, baseUrl],
  );
}
