/**
 * The always-visible connection indicator. Three looks: green (fully connected), yellow
 * (connecting or reconnecting, with the attempt count and a countdown) and red (failed
 * or disconnected, with the last error and a Reconnect button). `data-connection-state`
 * carries the machine's state name for tests.
 */
import { useEffect, useState } from 'react';
import type { ConnectionStateName } from '../machines/connectionMachine';
import type { ConnectionView } from '../hooks/useConnectionStateMachine';

export type Look = 'green' | 'yellow' | 'red';

export const LOOK: Record<ConnectionStateName, Look> = {
  fully_connected: 'green',
  connecting_sse: 'yellow',
  sse_connected: 'yellow',
  connecting_ws: 'yellow',
  reconnecting: 'yellow',
  failed: 'red',
  disconnected: 'red',
};

/** Re-render while a countdown is on screen; display only, the machine owns the real timer. */
function useNow(active: boolean, clock: () => number, everyMs = 100): number {
  const [now, setNow] = useState(clock);
  useEffect(() => {
    if (!active) return undefined;
    setNow(clock());
    const id = window.setInterval(() => setNow(clock()), everyMs);
    return () => window.clearInterval(id);
  }, [active, clock, everyMs]);
  return now;
}

function seconds(ms: number): string {
  return `${(Math.max(0, ms) / 1000).toFixed(1)} s`;
}

export function describe(view: ConnectionView, now: number): { title: string; detail: string | null } {
  const attempt = `attempt ${view.attempts} of ${view.maxAttempts}`;
  switch (view.state) {
    case 'fully_connected':
      return { title: 'Connected', detail: null };
    case 'reconnecting':
      return {
        title: `Reconnecting: ${attempt}`,
        detail: view.nextRetryAt === null ? null : `next try in ${seconds(view.nextRetryAt - now)}`,
      };
    case 'connecting_sse':
    case 'sse_connected':
    case 'connecting_ws':
      return view.attempts > 0
        ? { title: `Reconnecting: ${attempt}`, detail: 'trying now…' }
        : { title: 'Connecting…', detail: null };
    case 'failed':
      return {
        title: `Disconnected after ${view.attempts} attempts`,
        detail: view.last_error,
      };
    case 'disconnected':
      if (view.reason === 'quit') return { title: 'You left the game', detail: null };
      if (view.reason === 'evicted') {
        return { title: 'Playing in another window', detail: view.last_error };
      }
      return { title: 'Not connected', detail: view.last_error };
  }
}

export interface ConnectionIndicatorProps {
  view: ConnectionView;
  onReconnect: () => void;
  clock?: () => number;
}

export function ConnectionIndicator({ view, onReconnect, clock = Date.now }: ConnectionIndicatorProps) {
  const look = LOOK[view.state];
  const now = useNow(view.state === 'reconnecting', clock);
  const { title, detail } = describe(view, now);
  return (
    <div
      className={`indicator indicator--${look}`}
      data-connection-state={view.state}
      data-look={look}
      role="status"
      aria-live="polite"
    >
      <span className="indicator__dot" aria-hidden="true" />
      <span className="indicator__title">{title}</span>
      {detail && <span className="indicator__detail">{detail}</span>}
      {look === 'red' && (
        <button type="button" className="indicator__button" onClick={onReconnect}>
          Reconnect
        </button>
      )}
    </div>
  );
}
