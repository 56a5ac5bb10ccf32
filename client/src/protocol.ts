/**
 * The wire protocol, validated at the edge: anything the server sends is parsed here
 * into typed values, and a malformed message becomes a value, never an exception.
 */

export const EVENT_TYPES = [
  'room_state',
  'command_result',
  'chat',
  'player_entered',
  'player_left',
  'system',
  'heartbeat',
  'pong',
  'session_evicted',
] as const;

export interface Envelope {
  event_type: string;
  sequence_number: number | null;
  timestamp: string | null;
  data: Record<string, unknown>;
  room_id?: string;
  player_id?: string;
}

export interface ServerError {
  type: 'error';
  error_type: string;
  message: string;
  retry_after?: number;
}

export type Incoming =
  | { kind: 'event'; envelope: Envelope }
  | { kind: 'error'; error: ServerError }
  | { kind: 'malformed'; reason: string };

/** WebSocket close codes the server uses to say "do not simply retry". */
export const CLOSE_UNAUTHORIZED = 4401;
export const CLOSE_EVICTED = 4409;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function toSeq(v: unknown): number | null {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  if (typeof v === 'string' && /^\d+$/.test(v)) return Number(v);
  return null;
}

/** Parse one decoded JSON value; `fallback` fills in what SSE carries outside the data. */
export function parseIncoming(
  value: unknown,
  fallback: { event_type?: string; id?: string | null } = {},
): Incoming {
  if (!isRecord(value)) return { kind: 'malformed', reason: 'message is not an object' };
  if (value.type === 'error') {
    if (typeof value.message !== 'string') return { kind: 'malformed', reason: 'error without message' };
    const error: ServerError = {
      type: 'error',
      error_type: typeof value.error_type === 'string' ? value.error_type : 'error',
      message: value.message,
    };
    if (typeof value.retry_after === 'number') error.retry_after = value.retry_after;
    return { kind: 'error', error };
  }
  const hasEnvelope = typeof value.event_type === 'string';
  // Control frames such as {"type": "pong", "timestamp": ...} are not envelopes.
  if (!hasEnvelope && typeof value.type === 'string') {
    return {
      kind: 'event',
      envelope: { event_type: value.type, sequence_number: null, timestamp: typeof value.timestamp === 'string' ? value.timestamp : null, data: {} },
    };
  }
  const event_type = hasEnvelope ? (value.event_type as string) : fallback.event_type;
  if (!event_type) return { kind: 'malformed', reason: 'message has no event_type' };
  const data = hasEnvelope ? value.data : value;
  if (data !== undefined && data !== null && !isRecord(data)) {
    return { kind: 'malformed', reason: `${event_type}: data is not an object` };
  }
  const envelope: Envelope = {
    event_type,
    sequence_number: toSeq(hasEnvelope ? value.sequence_number : undefined) ?? toSeq(fallback.id),
    timestamp: typeof value.timestamp === 'string' ? value.timestamp : null,
    data: (data as Record<string, unknown> | null | undefined) ?? {},
  };
  if (typeof value.room_id === 'string') envelope.room_id = value.room_id;
  if (typeof value.player_id === 'string') envelope.player_id = value.player_id;
  return { kind: 'event', envelope };
}

/** Parse raw text (a WebSocket frame or an SSE data field). */
export function parseText(text: string, fallback: { event_type?: string; id?: string | null } = {}): Incoming {
  let value: unknown;
  try {
    value = text === '' ? {} : JSON.parse(text);
  } catch {
    return { kind: 'malformed', reason: 'message is not JSON' };
  }
  return parseIncoming(value, fallback);
}

export function sseUrl(base: string, token: string, sessionId: string, lastEventId: string | null): string {
  const q = new URLSearchParams({ token, session_id: sessionId });
  if (lastEventId !== null) q.set('last_event_id', lastEventId);
  return `${base}/api/events?${q.toString()}`;
}

export function wsUrl(location: { protocol: string; host: string }, token: string, sessionId: string): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const q = new URLSearchParams({ token, session_id: sessionId });
  return `${scheme}//${location.host}/api/ws?${q.toString()}`;
}

export function commandFrame(command: string): string {
  return JSON.stringify({ type: 'command', data: { command } });
}

export const PING_FRAME = JSON.stringify({ type: 'ping' });
