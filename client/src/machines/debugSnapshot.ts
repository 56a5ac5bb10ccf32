/**
 * What `window.__mythosConnection` shows: the machine's named state, attempts and a
 * bounded log of transitions with timestamps, so end-to-end tests and a person with the
 * browser console can follow the connection without the inspector.
 */
import type { ConnectionConfig } from '../config';
import { connectionStateName, type ConnectionState, type ConnectionStateName } from './connectionMachine';

export interface TransitionRecord {
  /** Epoch milliseconds and its ISO form. */
  t: number;
  at: string;
  from: ConnectionStateName | null;
  to: ConnectionStateName;
  event: string;
  attempts: number;
  /** Why the machine moved, as it read then (a retry that succeeds clears the context's own). */
  last_error: string | null;
}

export interface ConnectionDebug {
  state: ConnectionStateName;
  attempts: number;
  maxAttempts: number;
  session_id: string;
  last_error: string | null;
  reason: string | null;
  lastRecoveryMs: number | null;
  nextRetryAt: number | null;
  config: ConnectionConfig;
  log: TransitionRecord[];
}

export const LOG_CAPACITY = 200;

export class TransitionLog {
  readonly records: TransitionRecord[] = [];
  private last: ConnectionStateName | null = null;

  constructor(private readonly capacity = LOG_CAPACITY) {}

  /** Record a change of named state; events that keep the same state are not logged. */
  observe(state: ConnectionState, now: number): boolean {
    const to = connectionStateName(state);
    if (to === this.last) return false;
    this.records.push({
      t: now,
      at: new Date(now).toISOString(),
      from: this.last,
      to,
      event: state.event.type,
      attempts: state.context.attempts,
      last_error: state.context.last_error,
    });
    if (this.records.length > this.capacity) this.records.splice(0, this.records.length - this.capacity);
    this.last = to;
    return true;
  }

  snapshot(state: ConnectionState): ConnectionDebug {
    const c = state.context;
    return {
      state: connectionStateName(state),
      attempts: c.attempts,
      maxAttempts: c.maxAttempts,
      session_id: c.session_id,
      last_error: c.last_error,
      reason: c.reason,
      lastRecoveryMs: c.lastRecoveryMs,
      nextRetryAt: c.nextRetryAt,
      config: c.config,
      log: this.records.slice(),
    };
  }
}

declare global {
  interface Window {
    __mythosConnection?: ConnectionDebug;
  }
}
