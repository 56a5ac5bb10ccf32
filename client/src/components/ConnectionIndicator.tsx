/**
 * The always-visible connection indicator. Four looks: green (fully connected), amber (fully
 * connected, but the server says chat is delayed: NATS lost or its breaker open), yellow
 * (connecting or reconnecting, with the attempt count and a countdown) and red (failed or
 * disconnected, with the last error and a Reconnect button). `data-connection-state` carries
 * the machine's state name and `data-look` the look, for tests.
 *
 * Screen readers hear only changes of look or state, from one polite live region: the countdown
 * re-renders ten times a second and the attempt count climbs through an outage, so both stay
 * outside it (announced, they would drown out the game).
 */
import { useEffect, useState } from 'react';
import type { ConnectionStateName } from '../machines/connectionMachine';
import type { ConnectionView } from '../hooks/useConnectionStateMachine';
import { UNKNOWN_HEALTH, type ServerHealth } from '../hooks/useConnectionHealth';

export type LinkLook = 'green' | 'yellow' | 'red';
export type Look = LinkLook | 'amber';

/** The look of each machine state, before the server's chat health is taken into account. */
export const LOOK: Record<ConnectionStateName, LinkLook> = {
  fully_connected: 'green',
  connecting_sse: 'yellow',
  sse_connected: 'yellow',
  connecting_ws: 'yellow',
  reconnecting: 'yellow',
  failed: 'red',
  disconnected: 'red',
};

export const CHAT_DELAYED = 'Chat is delayed; your messages are being kept';

/** Amber only over a working link: while the link is down, the link is the news. */
export function lookOf(view: ConnectionView, health: ServerHealth): Look {
  const look = LOOK[view.state];
  return look === 'green' && health.chat === 'degraded' ? 'amber' : look;
}

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

/** What the live region says: a function of the look and the kind of state only, never of counts or time. */
export function announcement(view: ConnectionView, look: Look): string {
  if (look === 'amber') return `Connection: ${CHAT_DELAYED.toLowerCase()}.`;
  switch (view.state) {
    case 'fully_connected':
      return 'Connection: connected.';
    case 'reconnecting':
      return 'Connection lost: reconnecting.';
    case 'connecting_sse':
    case 'sse_connected':
    case 'connecting_ws':
      return view.attempts > 0 ? 'Connection lost: reconnecting.' : 'Connection: connecting.';
    case 'failed':
      return 'Connection lost: retrying has stopped. Press Reconnect to try again.';
    case 'disconnected':
      if (view.reason === 'quit') return 'Connection: you left the game.';
      if (view.reason === 'evicted') return 'Connection: playing in another window. Press Reconnect to play here.';
      return 'Connection: not connected.';
  }
}

export interface ConnectionIndicatorProps {
  view: ConnectionView;
  onReconnect: () => void;
  /** The server's own word on chat (`useConnectionHealth`); unknown until the first answer. */
  health?: ServerHealth;
  clock?: () => number;
}

export function ConnectionIndicator({ view, onReconnect, health = UNKNOWN_HEALTH, clock = Date.now }: ConnectionIndicatorProps) {
  const look = lookOf(view, health);
  const now = useNow(view.state === 'reconnecting', clock);
  const { title, detail } = look === 'amber' ? { title: CHAT_DELAYED, detail: null } : describe(view, now);
  return (
    <div
      className={`indicator indicator--${look}`}
      data-connection-state={view.state}
      data-look={look}
      data-chat={health.chat}
    >
      <span className="indicator__dot" aria-hidden="true" />
      <span className="indicator__title">{title}</span>
      {detail && <span className="indicator__detail">{detail}</span>}
      <span className="visually-hidden" role="status" aria-live="polite" aria-atomic="true">
        {announcement(view, look)}
      </span>
      {look === 'red' && (
        <button type="button" className="indicator__button" onClick={onReconnect}>
          Reconnect
        </button>
      )}
    </div>
  );
}
