/**
 * What the terminal shows, as a reducer over incoming events: the scrollback, the
 * current room and who is here. Pure, so it is tested without a browser.
 */
import type { Incoming } from '../protocol';

export type LineKind = 'room' | 'result' | 'chat' | 'system' | 'event' | 'error' | 'input';

export interface Line {
  id: number;
  kind: LineKind;
  text: string;
}

export interface Room {
  id: string;
  name: string;
  description: string;
  exits: string[];
}

export interface GameView {
  lines: Line[];
  room: Room | null;
  occupants: string[];
  npcs: string[];
  nextId: number;
}

export type GameAction =
  | { type: 'incoming'; incoming: Incoming }
  | { type: 'local'; kind: LineKind; text: string }
  | { type: 'reset' };

/** Scrollback beyond this is dropped from the top; a long session must not grow forever. */
export const MAX_LINES = 1000;

export const initialGame: GameView = { lines: [], room: null, occupants: [], npcs: [], nextId: 1 };

function str(v: unknown): string | null {
  return typeof v === 'string' && v !== '' ? v : null;
}

function exitsOf(v: unknown): string[] {
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  if (v && typeof v === 'object') return Object.keys(v as object);
  return [];
}

function namesOf(v: unknown): string[] {
  if (!Array.isArray(v)) return [];
  return v
    .map((x) => (typeof x === 'string' ? x : x && typeof x === 'object' ? str((x as Record<string, unknown>).name) : null))
    .filter((x): x is string => x !== null);
}

function addLine(view: GameView, kind: LineKind, text: string): GameView {
  const lines = [...view.lines, { id: view.nextId, kind, text }];
  return { ...view, lines: lines.length > MAX_LINES ? lines.slice(-MAX_LINES) : lines, nextId: view.nextId + 1 };
}

function playerName(data: Record<string, unknown>): string {
  return str(data.player_name) ?? str(data.name) ?? str(data.sender_name) ?? 'Someone';
}

export function gameReducer(view: GameView, action: GameAction): GameView {
  if (action.type === 'reset') return initialGame;
  if (action.type === 'local') return addLine(view, action.kind, action.text);
  const { incoming } = action;
  if (incoming.kind === 'malformed') return view;
  if (incoming.kind === 'error') return addLine(view, 'error', incoming.error.message);
  const { event_type, data } = incoming.envelope;
  switch (event_type) {
    case 'room_state': {
      const raw = (data.room ?? {}) as Record<string, unknown>;
      const room: Room = {
        id: str(raw.id) ?? '',
        name: str(raw.name) ?? 'Somewhere',
        description: str(raw.description) ?? '',
        exits: exitsOf(raw.exits),
      };
      const next = { ...view, room, occupants: namesOf(data.occupants), npcs: namesOf(data.npcs) };
      const exits = room.exits.length ? `Exits: ${room.exits.join(', ')}` : 'No obvious exits.';
      return addLine(next, 'room', [room.name, room.description, exits].filter(Boolean).join('\n'));
    }
    case 'command_result': {
      const text = str(data.text);
      if (text === null) return view;
      return addLine(view, data.ok === false ? 'error' : 'result', text);
    }
    case 'chat': {
      const channel = str(data.channel) ?? 'say';
      const sender = str(data.sender_name) ?? 'Someone';
      const content = str(data.content) ?? '';
      const text = channel === 'emote' ? `${sender} ${content}` : `[${channel}] ${sender}: ${content}`;
      return addLine(view, 'chat', text);
    }
    case 'player_entered': {
      const name = playerName(data);
      const occupants = view.occupants.includes(name) ? view.occupants : [...view.occupants, name];
      return addLine({ ...view, occupants }, 'event', `${name} arrives.`);
    }
    case 'player_left': {
      const name = playerName(data);
      return addLine({ ...view, occupants: view.occupants.filter((n) => n !== name) }, 'event', `${name} leaves.`);
    }
    case 'system':
    case 'session_evicted':
      return addLine(view, 'system', str(data.text) ?? str(data.message) ?? str(data.content) ?? event_type);
    default:
      return view;
  }
}
