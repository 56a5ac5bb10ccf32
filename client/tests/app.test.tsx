/**
 * The whole page with fake transports: sign in, connect over SSE then WebSocket, show
 * events once each even when both links deliver them, send commands, and react to
 * drops, eviction and an expired token.
 */
import { act, fireEvent, render, renderHook, screen, waitFor } from '@testing-library/react';
import { useGameConnection } from '../src/hooks/useGameConnection';
import { App } from '../src/App';
import { DEFAULT_CONFIG, type ConnectionConfig } from '../src/config';
import { AUTH_KEY, SESSION_KEY, loadAuth, loadOrCreateSessionId } from '../src/hooks/useSessionManagement';
import { FakeEventSource, FakeWebSocket } from './fakes';

const config: ConnectionConfig = { ...DEFAULT_CONFIG, maxAttempts: 2, backoffBaseMs: 20, backoffCapMs: 40, wsStartDelayMs: 0 };

function fetchOk() {
  return vi.fn(async () => new Response(JSON.stringify({ access_token: 'TOKEN', token_type: 'bearer', player_id: 'p1', expires_in: 3600 }), { status: 200 }));
}

function state(): string | null {
  return document.querySelector('[data-connection-state]')?.getAttribute('data-connection-state') ?? null;
}

async function signIn() {
  render(<App config={config} EventSourceImpl={FakeEventSource as never} WebSocketImpl={FakeWebSocket as never} fetchImpl={fetchOk() as never} />);
  fireEvent.change(screen.getByLabelText('Username'), { target: { value: 'randolph' } });
  fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'carter123' } });
  fireEvent.click(screen.getByRole('button', { name: 'Enter' }));
  await waitFor(() => expect(state()).toBe('connecting_sse'));
}

async function connect() {
  await signIn();
  act(() => FakeEventSource.latest().open());
  await waitFor(() => expect(FakeWebSocket.instances.length).toBeGreaterThan(0));
  act(() => FakeWebSocket.latest().open());
  await waitFor(() => expect(state()).toBe('fully_connected'));
}

beforeEach(() => {
  FakeEventSource.reset();
  FakeWebSocket.reset();
});

describe('the game page', () => {
  it('connects SSE first, then the WebSocket, and publishes its state to the page', async () => {
    await connect();
    const es = FakeEventSource.latest();
    const sessionId = sessionStorage.getItem(SESSION_KEY);
    expect(sessionId).toBeTruthy();
    expect(es.url).toBe(`/api/events?token=TOKEN&session_id=${sessionId}`);
    expect(FakeWebSocket.latest().url).toContain(`/api/ws?token=TOKEN&session_id=${sessionId}`);
    const debug = window.__mythosConnection!;
    expect(debug).toMatchObject({ state: 'fully_connected', attempts: 0, maxAttempts: 2, session_id: sessionId });
    expect(debug.log.map((r) => r.to)).toEqual(['disconnected', 'connecting_sse', 'sse_connected', 'connecting_ws', 'fully_connected']);
    expect(typeof debug.log[1].at).toBe('string');
  });

  it('shows each event once even when both links carry it, and sends commands', async () => {
    await connect();
    const es = FakeEventSource.latest();
    const ws = FakeWebSocket.latest();
    const room = { event_type: 'room_state', sequence_number: 1, data: { room: { id: 'r', name: 'Arkham Station', description: 'Fog.', exits: ['north'] }, occupants: ['Nyarlathotep'] } };
    act(() => {
      es.emit('room_state', room, '1');
      ws.receive(room);
      ws.receive({ event_type: 'chat', sequence_number: 3, data: { channel: 'say', sender_name: 'Nyarlathotep', content: 'Welcome' } });
      es.emit('chat', { event_type: 'chat', sequence_number: 2, data: { channel: 'say', sender_name: 'Ann', content: 'late but new' } }, '2');
      es.emit('chat', { event_type: 'chat', sequence_number: 3, data: { channel: 'say', sender_name: 'Nyarlathotep', content: 'Welcome' } }, '3');
      ws.receive({ type: 'error', error_type: 'rate_limited', message: 'Too many commands: wait 0.4 s', retry_after: 0.4 });
    });
    expect(screen.getAllByText(/Arkham Station/).length).toBe(2); // scrollback + room panel
    expect(screen.getAllByText('[say] Nyarlathotep: Welcome')).toHaveLength(1);
    expect(screen.getByText('[say] Ann: late but new')).toBeTruthy();
    expect(screen.getByText('Too many commands: wait 0.4 s').className).toContain('line--error');
    expect(screen.getByText('Exits: north')).toBeTruthy();
    expect(screen.getByText('Nyarlathotep', { selector: 'li' })).toBeTruthy();

    const input = screen.getByLabelText('Command');
    fireEvent.change(input, { target: { value: 'look' } });
    fireEvent.keyDown(input, { key: 'Enter' });
    expect(ws.sent.map((f) => JSON.parse(f))).toContainEqual({ type: 'command', data: { command: 'look' } });
    expect(screen.getByText('> look')).toBeTruthy();
    fireEvent.keyDown(input, { key: 'ArrowUp' });
    expect((input as HTMLInputElement).value).toBe('look');
    fireEvent.keyDown(input, { key: 'ArrowDown' });
    expect((input as HTMLInputElement).value).toBe('');
    fireEvent.keyDown(input, { key: 'Enter' });
  });

  it('resumes the stream after a drop from the last id it saw', async () => {
    await connect();
    act(() => FakeEventSource.latest().emit('chat', { event_type: 'chat', sequence_number: 41, data: { content: 'x' } }, '41'));
    act(() => FakeWebSocket.latest().serverClose(1006));
    await waitFor(() => expect(state()).toBe('reconnecting'));
    expect(screen.getByText(/attempt 1 of 2/)).toBeTruthy();
    await waitFor(() => expect(FakeEventSource.instances.length).toBe(2));
    expect(FakeEventSource.latest().url).toContain('last_event_id=41');
    expect(FakeEventSource.instances[0].closed).toBe(true);
  });

  it('gives up after the maximum attempts and only the button starts it again', async () => {
    await signIn();
    for (let i = 0; i < 3; i += 1) {
      const count = FakeEventSource.instances.length;
      act(() => FakeEventSource.latest().fail());
      if (i < 2) await waitFor(() => expect(FakeEventSource.instances.length).toBe(count + 1));
    }
    await waitFor(() => expect(state()).toBe('failed'));
    expect(screen.getByText('The event stream could not be opened')).toBeTruthy();
    const count = FakeEventSource.instances.length;
    fireEvent.click(screen.getByRole('button', { name: 'Reconnect' }));
    await waitFor(() => expect(state()).toBe('connecting_sse'));
    expect(FakeEventSource.instances.length).toBe(count + 1);
  });

  it('the browser going offline and online drives the machine', async () => {
    await connect();
    act(() => {
      window.dispatchEvent(new Event('offline'));
    });
    expect(state()).toBe('reconnecting');
    act(() => {
      window.dispatchEvent(new Event('online'));
    });
    expect(state()).toBe('connecting_sse');
  });

  it('tells the player when another login took over, and does not reconnect', async () => {
    await connect();
    act(() => FakeWebSocket.latest().serverClose(4409, 'You signed in from another window.'));
    await waitFor(() => expect(state()).toBe('disconnected'));
    expect(screen.getByText('Playing in another window')).toBeTruthy();
    expect(screen.getByText('You signed in from another window.', { selector: '.indicator__detail' })).toBeTruthy();
    const count = FakeEventSource.instances.length;
    await new Promise((r) => setTimeout(r, 100));
    expect(FakeEventSource.instances.length).toBe(count);
    const input = screen.getByLabelText('Command');
    fireEvent.change(input, { target: { value: 'look' } });
    fireEvent.keyDown(input, { key: 'Enter' });
    expect(screen.getByText('Not connected: "look" was not sent.')).toBeTruthy();
  });

  it('returns to the sign-in screen when the token is refused', async () => {
    await connect();
    act(() => FakeWebSocket.latest().serverClose(4401));
    expect(await screen.findByText('Your session has expired. Please sign in again.')).toBeTruthy();
    expect(sessionStorage.getItem(AUTH_KEY)).toBeNull();
  });

  it('returns to the sign-in screen when the stream refuses the token (HTTP 401)', async () => {
    const fetchImpl = vi.fn(async (url: string) =>
      url.startsWith('/api/events')
        ? new Response('', { status: 401 })
        : new Response(JSON.stringify({ access_token: 'OLD', token_type: 'bearer', player_id: 'p1', expires_in: 3600 }), { status: 200 }),
    );
    render(<App config={config} EventSourceImpl={FakeEventSource as never} WebSocketImpl={FakeWebSocket as never} fetchImpl={fetchImpl as never} />);
    fireEvent.change(screen.getByLabelText('Username'), { target: { value: 'randolph' } });
    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'carter123' } });
    fireEvent.click(screen.getByRole('button', { name: 'Enter' }));
    await waitFor(() => expect(FakeEventSource.instances).toHaveLength(1));
    act(() => FakeEventSource.latest().fail());
    expect(await screen.findByText('Your session has expired. Please sign in again.')).toBeTruthy();
    expect(FakeEventSource.instances).toHaveLength(1);
  });

  it('does not reconnect after the player quits', async () => {
    await connect();
    act(() => FakeWebSocket.latest().receive({ event_type: 'command_result', sequence_number: 5, data: { command: 'quit', text: 'Farewell.', ok: true, quit: true } }));
    await waitFor(() => expect(state()).toBe('disconnected'));
    expect(screen.getByText('You left the game')).toBeTruthy();
    expect(screen.getByText('Farewell.')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Reconnect' }));
    await waitFor(() => expect(state()).toBe('connecting_sse'));
  });

  it('signs out', async () => {
    await connect();
    fireEvent.click(screen.getByRole('button', { name: 'sign out' }));
    expect(await screen.findByRole('button', { name: 'Enter' })).toBeTruthy();
    expect(FakeWebSocket.latest().closedWith).toBe(1000);
  });
});

describe('useGameConnection', () => {
  it('stays disconnected without a token', () => {
    const { result } = renderHook(() =>
      useGameConnection({ auth: null, sessionId: 's', config, onUnauthorized: () => undefined, EventSourceImpl: FakeEventSource as never, WebSocketImpl: FakeWebSocket as never }),
    );
    expect(result.current.connection.state).toBe('disconnected');
    expect(FakeEventSource.instances).toHaveLength(0);
  });
});

describe('session management', () => {
  it('makes an id without crypto.randomUUID', () => {
    const original = crypto.randomUUID;
    Object.defineProperty(crypto, 'randomUUID', { value: undefined, configurable: true });
    try {
      expect(loadOrCreateSessionId(sessionStorage)).toMatch(/^s-/);
    } finally {
      Object.defineProperty(crypto, 'randomUUID', { value: original, configurable: true });
    }
  });

  it('keeps one session id per tab', () => {
    const id = loadOrCreateSessionId(sessionStorage, () => 'fixed');
    expect(id).toBe('fixed');
    expect(loadOrCreateSessionId(sessionStorage, () => 'other')).toBe('fixed');
  });

  it('forgets an expired or unreadable token', () => {
    sessionStorage.setItem(AUTH_KEY, JSON.stringify({ token: 't', player_id: 'p', username: 'u', expiresAt: 100 }));
    expect(loadAuth(sessionStorage, 50)).toMatchObject({ token: 't' });
    expect(loadAuth(sessionStorage, 100)).toBeNull();
    sessionStorage.setItem(AUTH_KEY, '{');
    expect(loadAuth(sessionStorage, 0)).toBeNull();
    sessionStorage.setItem(AUTH_KEY, '{"x":1}');
    expect(loadAuth(sessionStorage, 0)).toBeNull();
  });
});
