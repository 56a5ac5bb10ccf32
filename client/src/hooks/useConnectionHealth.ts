/**
 * Link health from the browser's side. Silence is judged by the machine: each link has a
 * watchdog (a delayed transition restarted by any traffic) that expires after
 * `heartbeatTimeoutMs`, two heartbeat intervals by default, so a blackholed link that
 * stays open is a drop. This hook feeds the browser's own signals in: `offline` is a
 * drop, `online` restarts a machine that had given up.
 */
import { useEffect } from 'react';
import type { ConnectionEvent } from '../machines/connectionMachine';

export function useConnectionHealth(send: (event: ConnectionEvent) => void, target: Window = window): void {
  useEffect(() => {
    const online = () => send({ type: 'ONLINE' });
    const offline = () => send({ type: 'OFFLINE' });
    target.addEventListener('online', online);
    target.addEventListener('offline', offline);
    return () => {
      target.removeEventListener('online', online);
      target.removeEventListener('offline', offline);
    };
  }, [send, target]);
}
