/** Pure modules: config, protocol parsing, dedupe, the game log, history (backoff: backoff.test.ts). */
import { DEFAULT_CONFIG, resolveConfig, runtimeConfig } from '../src/config';
import { parseIncoming, parseText, sseUrl, wsUrl, commandFrame, PING_FRAME } from '../src/protocol';
import { SequenceTracker } from '../src/game/sequence';
import { gameReducer, initialGame, MAX_LINES, type GameView } from '../src/game/gameLog';
import { pushHistory, stepHistory, HISTORY_LIMIT } from '../src/components/CommandInput';

describe('runtime config', () => {
  it('uses the defaults when nothing overrides them', () => {
    expect(resolveConfig(undefined, '', true).config).toEqual(DEFAULT_CONFIG);
  });

  it('takes window.__MYTHOS_CONFIG__, then URL parameters over it, where overrides are allowed', () => {
    const { config, rejected } = resolveConfig({ maxAttempts: 5, backoffCapMs: 400 }, '?maxAttempts=3&heartbeatIntervalMs=1000', true);
    expect(config).toMatchObject({ maxAttempts: 3, backoffCapMs: 400, heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 2000 });
    expect(rejected).toEqual([]);
  });

  it('rejects invalid values and keeps the default', () => {
    const { config, rejected } = resolveConfig({ maxAttempts: -1 }, '?attemptTimeoutMs=soon&wsStartDelayMs=0&backoffBaseMs=1.5', true);
    expect(config.maxAttempts).toBe(DEFAULT_CONFIG.maxAttempts);
    expect(config.attemptTimeoutMs).toBe(DEFAULT_CONFIG.attemptTimeoutMs);
    expect(config.wsStartDelayMs).toBe(0);
    expect(rejected).toEqual(['maxAttempts=-1', 'backoffBaseMs=1.5', 'attemptTimeoutMs=soon']);
  });

  it('derives the heartbeat timeout (never an override) and never lets the cap fall below the base', () => {
    const { config, rejected } = resolveConfig({ heartbeatTimeoutMs: 7000, backoffBaseMs: 2000, backoffCapMs: 500 }, '', true);
    expect(config.heartbeatTimeoutMs).toBe(2 * DEFAULT_CONFIG.heartbeatIntervalMs);
    expect(rejected).toEqual(['heartbeatTimeoutMs=7000']);
    expect(config.backoffCapMs).toBe(2000);
  });

  it('reads the page', () => {
    window.__MYTHOS_CONFIG__ = { maxAttempts: 'x' };
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    expect(runtimeConfig().maxAttempts).toBe(DEFAULT_CONFIG.maxAttempts);
    expect(warn).toHaveBeenCalled();
    warn.mockRestore();
    delete window.__MYTHOS_CONFIG__;
  });
});

describe('protocol', () => {
  it('parses a WebSocket envelope', () => {
    const r = parseText(JSON.stringify({ event_type: 'chat', sequence_number: 7, timestamp: 't', data: { content: 'hi' }, room_id: 'r1', player_id: 'p1' }));
    expect(r).toEqual({
      kind: 'event',
      envelope: { event_type: 'chat', sequence_number: 7, timestamp: 't', data: { content: 'hi' }, room_id: 'r1', player_id: 'p1' },
    });
  });

  it('builds an envelope from SSE fields when the data is bare', () => {
    const r = parseText('{"text":"ok"}', { event_type: 'command_result', id: '12' });
    expect(r).toMatchObject({ kind: 'event', envelope: { event_type: 'command_result', sequence_number: 12, data: { text: 'ok' } } });
    expect(parseText('', { event_type: 'heartbeat', id: null })).toMatchObject({ kind: 'event', envelope: { sequence_number: null, data: {} } });
  });

  it('parses server errors, keeping their words', () => {
    expect(parseText('{"type":"error","error_type":"rate_limited","message":"Too many commands: wait 0.4 s","retry_after":0.4}')).toEqual({
      kind: 'error',
      error: { type: 'error', error_type: 'rate_limited', message: 'Too many commands: wait 0.4 s', retry_after: 0.4 },
    });
    expect(parseIncoming({ type: 'error', message: 'x' })).toMatchObject({ error: { error_type: 'error' } });
  });

  it('reads control frames that are not envelopes', () => {
    expect(parseText('{"type":"pong","timestamp":"t"}')).toEqual({
      kind: 'event',
      envelope: { event_type: 'pong', sequence_number: null, timestamp: 't', data: {} },
    });
    expect(parseText('{"type":"pong"}')).toMatchObject({ envelope: { timestamp: null } });
  });

  it.each([
    ['not json', 'message is not JSON'],
    ['[1]', 'message is not an object'],
    ['{}', 'message has no event_type'],
    ['{"type":"error"}', 'error without message'],
    ['{"event_type":"chat","data":5}', 'chat: data is not an object'],
  ])('turns %s into a malformed value', (text, reason) => {
    expect(parseText(text)).toEqual({ kind: 'malformed', reason });
  });

  it('builds URLs and frames', () => {
    expect(sseUrl('', 'a b', 's1', null)).toBe('/api/events?token=a+b&session_id=s1');
    expect(sseUrl('', 't', 's1', '41')).toBe('/api/events?token=t&session_id=s1&last_event_id=41');
    expect(wsUrl({ protocol: 'https:', host: 'h:1' }, 't', 's')).toBe('wss://h:1/api/ws?token=t&session_id=s');
    expect(wsUrl({ protocol: 'http:', host: 'h' }, 't', 's')).toBe('ws://h/api/ws?token=t&session_id=s');
    expect(JSON.parse(commandFrame('look'))).toEqual({ type: 'command', data: { command: 'look' } });
    expect(JSON.parse(PING_FRAME)).toEqual({ type: 'ping' });
  });
});

describe('sequence dedupe', () => {
  it('drops repeats, accepts late lower numbers from the other channel', () => {
    const t = new SequenceTracker(8);
    expect([5, 5, 7, 6, 7, null, null].map((s) => t.accept(s))).toEqual([true, false, true, true, false, true, true]);
  });

  it('forgets old numbers beyond its window and refuses ones older than it', () => {
    const t = new SequenceTracker(3);
    [1, 2, 3, 4].forEach((s) => t.accept(s));
    expect(t.accept(1)).toBe(false);
    expect(t.accept(2)).toBe(false);
    expect(t.accept(5)).toBe(true);
    expect(t.accept(3)).toBe(false);
    expect(t.accept(6)).toBe(true);
  });

  it('remembers the SSE stream position', () => {
    const t = new SequenceTracker();
    t.noteSseId('4');
    t.noteSseId(null);
    t.noteSseId('');
    expect(t.lastSseId).toBe('4');
  });
});

function feed(view: GameView, event_type: string, data: Record<string, unknown>): GameView {
  return gameReducer(view, { type: 'incoming', incoming: { kind: 'event', envelope: { event_type, sequence_number: null, timestamp: null, data } } });
}

describe('game log', () => {
  it('shows a room with its exits and who is here', () => {
    const v = feed(initialGame, 'room_state', {
      room: { id: 'r1', name: 'Miskatonic Library', description: 'Dust.', exits: ['north', 'east'] },
      occupants: ['Armitage', { name: 'Wilmarth' }, 3],
      npcs: ['The Librarian'],
    });
    expect(v.npcs).toEqual(['The Librarian']);
    expect(v.room).toEqual({ id: 'r1', name: 'Miskatonic Library', description: 'Dust.', exits: ['north', 'east'] });
    expect(v.occupants).toEqual(['Armitage', 'Wilmarth']);
    expect(v.lines[0]).toEqual({ id: 1, kind: 'room', text: 'Miskatonic Library\nDust.\nExits: north, east' });
    const bare = feed(initialGame, 'room_state', { room: { exits: { south: 'r2' } } });
    expect(bare.room?.exits).toEqual(['south']);
    expect(feed(initialGame, 'room_state', {}).lines[0].text).toBe('Somewhere\nNo obvious exits.');
  });

  it('formats chat, emotes, arrivals, departures and system lines', () => {
    let v = feed(initialGame, 'chat', { channel: 'say', sender_name: 'Ann', content: 'hello' });
    v = feed(v, 'chat', { channel: 'emote', sender_name: 'Ann', content: 'waves' });
    v = feed(v, 'player_entered', { player_name: 'Bob' });
    v = feed(v, 'player_entered', { player_name: 'Bob' });
    v = feed(v, 'player_left', { name: 'Bob' });
    v = feed(v, 'system', { message: 'The stars are right.' });
    v = feed(v, 'session_evicted', {});
    v = feed(v, 'command_result', { text: 'You see nothing.', ok: true });
    v = feed(v, 'command_result', { text: 'You cannot go that way.', ok: false, error_type: 'no_exit' });
    v = feed(v, 'command_result', { text: '' });
    v = feed(v, 'heartbeat', {});
    v = feed(v, 'chat', {});
    v = feed(v, 'player_left', {});
    expect(v.lines.map((l) => `${l.kind}:${l.text}`)).toEqual([
      'chat:[say] Ann: hello',
      'chat:Ann waves',
      'event:Bob arrives.',
      'event:Bob arrives.',
      'event:Bob leaves.',
      'system:The stars are right.',
      'system:session_evicted',
      'result:You see nothing.',
      'error:You cannot go that way.',
      'chat:[say] Someone: ',
      'event:Someone leaves.',
    ]);
    expect(v.occupants).toEqual([]);
  });

  it('shows refusals as the server words them, local lines, and resets', () => {
    let v = gameReducer(initialGame, { type: 'incoming', incoming: { kind: 'error', error: { type: 'error', error_type: 'rate_limited', message: 'Too many commands: wait 0.4 s' } } });
    v = gameReducer(v, { type: 'incoming', incoming: { kind: 'malformed', reason: 'x' } });
    v = gameReducer(v, { type: 'local', kind: 'input', text: '> look' });
    expect(v.lines.map((l) => l.text)).toEqual(['Too many commands: wait 0.4 s', '> look']);
    expect(gameReducer(v, { type: 'reset' })).toBe(initialGame);
  });

  it('keeps the scrollback bounded', () => {
    let v = initialGame;
    for (let i = 0; i < MAX_LINES + 5; i += 1) v = gameReducer(v, { type: 'local', kind: 'system', text: `${i}` });
    expect(v.lines).toHaveLength(MAX_LINES);
    expect(v.lines[0].text).toBe('5');
  });
});

describe('command history', () => {
  it('walks back and forth, skipping immediate repeats', () => {
    let h = { entries: [] as string[], index: 0 };
    h = pushHistory(pushHistory(pushHistory(h, 'look'), 'look'), 'north');
    expect(h.entries).toEqual(['look', 'north']);
    const up1 = stepHistory(h, -1);
    expect(up1.text).toBe('north');
    const up2 = stepHistory(up1.history, -1);
    expect(up2.text).toBe('look');
    expect(stepHistory(up2.history, -1).text).toBe('look');
    const down = stepHistory(stepHistory(up2.history, 1).history, 1);
    expect(down.text).toBe('');
  });

  it('is bounded', () => {
    let h = { entries: [] as string[], index: 0 };
    for (let i = 0; i < HISTORY_LIMIT + 3; i += 1) h = pushHistory(h, `c${i}`);
    expect(h.entries).toHaveLength(HISTORY_LIMIT);
  });
});
