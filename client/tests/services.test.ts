/** The SSE and WebSocket services against fake transports, and the auth API. */
import { createSseService, dispatchIncoming } from '../src/services/sseService';
import { closeEvent, createWsService } from '../src/services/wsService';
import { initialContext, type ConnectionEvent } from '../src/machines/connectionMachine';
import { AuthError, describeFailure, login, register } from '../src/api/auth';
import { FakeEventSource, FakeWebSocket } from './fakes';

const ctx = { ...initialContext(undefined, 'sess-9'), token: 'tok' };

beforeEach(() => {
  FakeEventSource.reset();
  FakeWebSocket.reset();
});

describe('SSE service', () => {
  function start(lastId: string | null = null, fetchImpl: typeof fetch = vi.fn(async () => new Response('', { status: 200 })) as never) {
    const toMachine: ConnectionEvent[] = [];
    const incoming: unknown[] = [];
    const service = createSseService({
      EventSourceImpl: FakeEventSource as never,
      fetchImpl,
      baseUrl: '',
      lastEventId: () => lastId,
      onIncoming: (i, origin) => incoming.push([i, origin]),
    });
    const stop = service(ctx)((e) => toMachine.push(e)) as () => void;
    return { toMachine, incoming, stop, es: FakeEventSource.latest() };
  }

  it('opens with the session and the resume position', () => {
    const { es } = start('17');
    expect(es.url).toBe('/api/events?token=tok&session_id=sess-9&last_event_id=17');
  });

  it('reports open, traffic, events and errors', () => {
    const { es, toMachine, incoming } = start();
    es.open();
    es.emit('chat', { event_type: 'chat', sequence_number: 3, data: { content: 'hi' } }, '3');
    es.emit('heartbeat', {}, '4');
    es.fail();
    expect(toMachine.map((e) => e.type)).toEqual(['SSE_OPEN', 'SSE_ALIVE', 'SSE_ALIVE', 'ERROR']);
    expect(incoming).toHaveLength(2);
    expect(incoming[0]).toEqual([
      { kind: 'event', envelope: { event_type: 'chat', sequence_number: 3, timestamp: null, data: { content: 'hi' } } },
      { channel: 'sse', id: '3' },
    ]);
  });

  it.each([
    [401, { type: 'AUTH_FAILED', message: 'Your session has expired. Please sign in again.' }],
    [403, { type: 'AUTH_FAILED', message: 'Your session has expired. Please sign in again.' }],
    [503, { type: 'ERROR', source: 'sse', message: 'The server refused the event stream (HTTP 503)' }],
    [200, { type: 'ERROR', source: 'sse', message: 'The event stream could not be opened' }],
  ])('a stream that never opened is probed: HTTP %i', async (status, expected) => {
    const fetchImpl = vi.fn(async (_url: string, _init?: RequestInit) => new Response('', { status }));
    const { es, toMachine } = start(null, fetchImpl as never);
    es.fail();
    expect(es.closed).toBe(true);
    await vi.waitFor(() => expect(toMachine).toEqual([expected]));
    // A cheap authenticated check, not a second stream: the token goes in the header.
    expect(fetchImpl.mock.calls[0][0]).toBe('/api/events/probe');
    const init = fetchImpl.mock.calls[0][1]!;
    expect(new Headers(init.headers).get('Authorization')).toBe('Bearer tok');
    expect(new Headers(init.headers).get('Accept')).not.toBe('text/event-stream');
    expect(init.cache).toBe('no-store');
  });

  it('aborts a probe still in flight when the service stops', async () => {
    let signal: AbortSignal | undefined;
    const hanging = vi.fn((_url: string, init?: RequestInit) => {
      signal = init?.signal ?? undefined;
      return new Promise<Response>((_resolve, reject) => {
        signal?.addEventListener('abort', () => reject(new DOMException('aborted', 'AbortError')));
      });
    });
    const { es, stop, toMachine } = start(null, hanging as never);
    es.fail();
    await vi.waitFor(() => expect(hanging).toHaveBeenCalledTimes(1));
    expect(signal?.aborted).toBe(false);
    stop();
    expect(signal?.aborted).toBe(true);
    await new Promise((r) => setTimeout(r, 0));
    expect(toMachine).toEqual([]);
  });

  it('passes the advertised heartbeat interval to the machine', () => {
    const { es, toMachine, incoming } = start();
    es.open();
    es.emit('heartbeat', { event_type: 'heartbeat', sequence_number: null, data: { interval_ms: 30_000 } });
    es.emit('heartbeat', { event_type: 'heartbeat', sequence_number: null, data: { last_sequence: 5 } });
    expect(toMachine).toEqual([
      { type: 'SSE_OPEN' },
      { type: 'SSE_ALIVE' },
      { type: 'HEARTBEAT_INTERVAL', intervalMs: 30_000 },
      { type: 'SSE_ALIVE' },
    ]);
    expect(incoming).toHaveLength(2);
  });

  it('an unreachable server is an ordinary drop, and a stopped service says nothing', async () => {
    const down = vi.fn(async () => {
      throw new TypeError('Failed to fetch');
    });
    const a = start(null, down as never);
    a.es.fail();
    await vi.waitFor(() => expect(a.toMachine).toEqual([{ type: 'ERROR', source: 'sse', message: 'Cannot reach the server' }]));
    let release: (r: Response) => void = () => undefined;
    const slow = vi.fn(() => new Promise<Response>((resolve) => { release = resolve; }));
    const b = start(null, slow as never);
    b.es.fail();
    b.stop();
    release(new Response('', { status: 401 }));
    await new Promise((r) => setTimeout(r, 0));
    expect(b.toMachine).toEqual([]);
  });

  it('turns session_evicted into EVICTED and malformed data into MALFORMED', () => {
    const { es, toMachine } = start();
    es.emit('session_evicted', { message: 'Signed in elsewhere' }, '9');
    es.emit('chat', 'not json');
    expect(toMachine).toContainEqual({ type: 'EVICTED', message: 'Signed in elsewhere' });
    expect(toMachine).toContainEqual({ type: 'MALFORMED', message: 'Ignored a malformed message: message is not JSON' });
  });

  it('closes the stream and detaches when stopped', () => {
    const { es, stop, toMachine } = start();
    stop();
    expect(es.closed).toBe(true);
    es.emit('chat', { content: 'late' });
    expect(es.onopen).toBeNull();
    expect(toMachine).toEqual([]);
  });

  it('refuses to open without a token', () => {
    const toMachine: ConnectionEvent[] = [];
    createSseService({ EventSourceImpl: FakeEventSource as never, fetchImpl: fetch, baseUrl: '', lastEventId: () => null, onIncoming: () => undefined })(
      { ...ctx, token: null },
    )((e) => toMachine.push(e));
    expect(toMachine).toEqual([{ type: 'AUTH_FAILED', message: 'You are not signed in.' }]);
    expect(FakeEventSource.instances).toHaveLength(0);
  });

  it('uses a default eviction message', () => {
    const events: ConnectionEvent[] = [];
    dispatchIncoming({ kind: 'event', envelope: { event_type: 'session_evicted', sequence_number: 1, timestamp: null, data: {} } }, { channel: 'ws', id: '1' }, (e) => events.push(e), () => undefined);
    expect(events[0]).toMatchObject({ type: 'EVICTED' });
  });
});

describe('WebSocket service', () => {
  function start(token: string | null = 'tok') {
    const toMachine: ConnectionEvent[] = [];
    const incoming: unknown[] = [];
    const unsent: string[] = [];
    let listener: ((e: { type: 'PING' } | { type: 'SEND_COMMAND'; command: string }) => void) | undefined;
    const service = createWsService({
      WebSocketImpl: FakeWebSocket as never,
      location: { protocol: 'http:', host: '127.0.0.1:8000' },
      onIncoming: (i, origin) => incoming.push([i, origin]),
      onUnsent: (c) => unsent.push(c),
    });
    const stop = service({ ...ctx, token })((e) => toMachine.push(e), (l) => {
      listener = l;
    }) as (() => void) | undefined;
    return { toMachine, incoming, unsent, stop, send: (e: Parameters<NonNullable<typeof listener>>[0]) => listener?.(e) };
  }

  it('connects, sends commands and pings once open, reports traffic', () => {
    const s = start();
    const ws = FakeWebSocket.latest();
    expect(ws.url).toBe('ws://127.0.0.1:8000/api/ws?token=tok&session_id=sess-9');
    s.send({ type: 'SEND_COMMAND', command: 'look' });
    s.send({ type: 'PING' });
    expect(s.unsent).toEqual(['look']);
    expect(ws.sent).toEqual([]);
    ws.open();
    s.send({ type: 'SEND_COMMAND', command: 'look' });
    s.send({ type: 'PING' });
    expect(ws.sent.map((f) => JSON.parse(f))).toEqual([{ type: 'command', data: { command: 'look' } }, { type: 'ping' }]);
    ws.receive({ event_type: 'pong', sequence_number: null, data: {} });
    ws.receive({ event_type: 'command_result', sequence_number: 8, data: { text: 'ok' } });
    ws.receive({ type: 'error', error_type: 'rate_limited', message: 'Too many commands: wait 0.4 s' });
    expect(s.toMachine.map((e) => e.type)).toEqual(['WS_OPEN', 'WS_ALIVE', 'WS_ALIVE', 'WS_ALIVE']);
    expect(s.incoming.map((x) => (x as [unknown, { id: string | null }])[1].id)).toEqual([null, '8', null]);
  });

  it.each([
    [4401, '', { type: 'AUTH_FAILED', message: 'Your session has expired. Please sign in again.' }],
    [4409, 'elsewhere', { type: 'EVICTED', message: 'elsewhere' }],
    [1006, '', { type: 'ERROR', source: 'ws', message: 'The game link closed (code 1006)' }],
    [1011, 'oops', { type: 'ERROR', source: 'ws', message: 'The game link closed (code 1011: oops)' }],
  ])('maps close code %i', (code, reason, expected) => {
    expect(closeEvent(code, reason)).toEqual(expected);
    const s = start();
    FakeWebSocket.latest().serverClose(code, reason);
    expect(s.toMachine).toEqual([expected]);
  });

  it('a non-text frame is malformed, not a crash', () => {
    const s = start();
    FakeWebSocket.latest().onmessage?.(new MessageEvent('message', { data: new ArrayBuffer(2) }));
    expect(s.toMachine[1]).toMatchObject({ type: 'MALFORMED' });
  });

  it('closes normally when stopped and ignores later events', () => {
    const s = start();
    const ws = FakeWebSocket.latest();
    s.stop?.();
    expect(ws.closedWith).toBe(1000);
    expect(ws.onclose).toBeNull();
  });

  it('refuses to open without a token', () => {
    const s = start(null);
    expect(s.toMachine).toEqual([{ type: 'AUTH_FAILED', message: 'You are not signed in.' }]);
  });
});

describe('auth API', () => {
  const reply = (status: number, body: unknown) =>
    vi.fn(async () => new Response(body === undefined ? 'x' : JSON.stringify(body), { status }));

  it('logs in', async () => {
    const f = reply(200, { access_token: 'T', token_type: 'bearer', player_id: 42, expires_in: 3600 });
    await expect(login({ username: 'a', password: 'b' }, f as never)).resolves.toEqual({
      access_token: 'T', token_type: 'bearer', player_id: '42', expires_in: 3600,
    });
    expect(f).toHaveBeenCalledWith('/auth/login', expect.objectContaining({ method: 'POST' }));
    await expect(login({ username: 'a', password: 'b' }, reply(200, { access_token: 'T' }) as never)).resolves.toMatchObject({ token_type: 'bearer', expires_in: 0, player_id: '' });
  });

  it('registers with an invite code', async () => {
    const f = reply(201, { id: 1 });
    await register({ username: 'a', password: 'b', invite_code: 'c' }, f as never);
    expect(JSON.parse((f.mock.calls[0] as unknown as [string, RequestInit])[1].body as string)).toEqual({ username: 'a', password: 'b', invite_code: 'c' });
  });

  it('says what went wrong in words', async () => {
    await expect(register({ username: 'a', password: 'b', invite_code: 'x' }, reply(400, { detail: 'Invalid invite code' }) as never)).rejects.toThrow('Invalid invite code');
    await expect(login({ username: 'a', password: 'b' }, reply(401, undefined) as never)).rejects.toThrow('Wrong username or password.');
    await expect(login({ username: 'a', password: 'b' }, reply(200, {}) as never)).rejects.toThrow('without a session token');
    const offline = vi.fn(async () => {
      throw new TypeError('Failed to fetch');
    });
    await expect(login({ username: 'a', password: 'b' }, offline as never)).rejects.toBeInstanceOf(AuthError);
  });

  it.each([
    [422, { detail: [{ loc: ['body', 'password'], msg: 'String should have at least 8 characters' }, { msg: 'bad' }, null] }, 'password: String should have at least 8 characters; bad; is invalid'],
    [403, null, 'That invite code is not valid.'],
    [409, {}, 'That name is already taken.'],
    [429, {}, 'Too many attempts: wait a moment and try again.'],
    [503, {}, 'The server had a problem. Try again in a moment.'],
    [418, {}, 'The server refused the request (HTTP 418).'],
  ])('describes HTTP %i', (status, body, text) => {
    expect(describeFailure(status, body)).toBe(text);
  });
});
