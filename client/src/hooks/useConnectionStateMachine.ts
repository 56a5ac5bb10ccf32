/**
 * Runs the connection machine for a component tree and publishes its state to the page
 * (`window.__mythosConnection`) for end-to-end tests and debugging.
 */
import { useInterpret, useSelector } from '@xstate/react';
import { useEffect, useState } from 'react';
import type { ConnectionConfig } from '../config';
import {
  connectionStateName,
  createConnectionMachine,
  type ConnectionContext,
  type ConnectionEvent,
  type ConnectionState,
  type ConnectionStateName,
  type StopReason,
} from '../machines/connectionMachine';
import { TransitionLog } from '../machines/debugSnapshot';

export interface ConnectionView {
  state: ConnectionStateName;
  attempts: number;
  maxAttempts: number;
  last_error: string | null;
  reason: StopReason;
  nextRetryAt: number | null;
}

export function toView(state: ConnectionState): ConnectionView {
  const c = state.context;
  return {
    state: connectionStateName(state),
    attempts: c.attempts,
    maxAttempts: c.maxAttempts,
    last_error: c.last_error,
    reason: c.reason,
    nextRetryAt: c.nextRetryAt,
  };
}

export function sameView(a: ConnectionView, b: ConnectionView): boolean {
  return (
    a.state === b.state &&
    a.attempts === b.attempts &&
    a.maxAttempts === b.maxAttempts &&
    a.last_error === b.last_error &&
    a.reason === b.reason &&
    a.nextRetryAt === b.nextRetryAt
  );
}

type ServiceCreator = (ctx: ConnectionContext) => (...args: any[]) => unknown;

export interface UseConnectionStateMachineOptions {
  config: ConnectionConfig;
  sessionId: string;
  services: { sse: ServiceCreator; ws: ServiceCreator };
  actions?: { rejectCommand?: (ctx: ConnectionContext, e: ConnectionEvent) => void };
  publish?: Window;
}

export function useConnectionStateMachine({ config, sessionId, services, actions, publish = window }: UseConnectionStateMachineOptions) {
  const [machine] = useState(() =>
    createConnectionMachine(config, { now: Date.now, random: Math.random }, sessionId),
  );
  const service = useInterpret(machine, {
    services: services as never,
    actions: actions as never,
    devTools: import.meta.env.DEV,
  });
  const view = useSelector(service, toView, sameView);
  useEffect(() => {
    const log = new TransitionLog();
    const record = (state: ConnectionState) => {
      log.observe(state, Date.now());
      publish.__mythosConnection = log.snapshot(state);
    };
    record(service.getSnapshot());
    const subscription = service.subscribe(record);
    return () => subscription.unsubscribe();
  }, [service, publish]);
  return { view, send: service.send as (event: ConnectionEvent) => void, service };
}
