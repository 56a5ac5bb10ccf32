/**
 * The herd's SSE transport: an EventSource and the stream-failure probe over `node:http`.
 *
 * 200 clients in one Node process pay for each refused attempt in one event loop. Through
 * undici's experimental EventSource and fetch one attempt cost about 2.5 ms of CPU, so the
 * herd's own knocking during an outage took most of a core from the server restarting beside
 * it. These speak the same wire (a streamed GET parsed as text/event-stream, the probe's GET
 * with its headers) with plain sockets; the page's services use them unchanged.
 */
import http from 'node:http';

type Handler = ((this: NodeEventSource, ev: Event) => unknown) | null;

/** The part of the browser's EventSource the SSE service uses; no automatic reconnect (the machine owns retries). */
export class NodeEventSource extends EventTarget {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;
  readonly CONNECTING = 0;
  readonly OPEN = 1;
  readonly CLOSED = 2;
  readonly url: string;
  readonly withCredentials = false;
  readyState = 0;
  onopen: Handler = null;
  onerror: Handler = null;
  onmessage: Handler = null;
  private readonly request: http.ClientRequest;
  private buffer = '';
  private data: string[] = [];
  private eventType = '';
  private lastEventId = '';

  constructor(url: string | URL) {
    super();
    this.url = String(url);
    this.request = http.get(this.url, { headers: { Accept: 'text/event-stream', 'Cache-Control': 'no-cache' } }, (res) => {
      const type = String(res.headers['content-type'] ?? '');
      if (this.readyState === this.CLOSED || res.statusCode !== 200 || !type.startsWith('text/event-stream')) {
        res.resume();
        this.fail();
        return;
      }
      this.readyState = this.OPEN;
      this.emit(new Event('open'), this.onopen);
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => this.feed(chunk));
      res.on('end', () => this.fail());
      res.on('error', () => this.fail());
    });
    this.request.on('error', () => this.fail());
  }

  close(): void {
    this.readyState = this.CLOSED;
    this.request.destroy();
  }

  private fail(): void {
    if (this.readyState === this.CLOSED) return;
    this.readyState = this.CLOSED;
    this.request.destroy();
    this.emit(new Event('error'), this.onerror);
  }

  private emit(event: Event, handler: Handler): void {
    handler?.call(this, event);
    this.dispatchEvent(event);
  }

  /** text/event-stream: lines end in CR, LF or CRLF; a blank line dispatches the event. */
  private feed(chunk: string): void {
    this.buffer += chunk;
    const lines = this.buffer.split(/\r\n|\r|\n/);
    this.buffer = lines.pop() ?? '';
    for (const line of lines) {
      if (this.readyState === this.CLOSED) return;
      if (line === '') {
        this.dispatch();
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'data') this.data.push(value);
      else if (field === 'event') this.eventType = value;
      else if (field === 'id' && !value.includes('\0')) this.lastEventId = value;
    }
  }

  private dispatch(): void {
    const type = this.eventType || 'message';
    const data = this.data.join('\n');
    const empty = this.data.length === 0;
    this.data = [];
    this.eventType = '';
    if (empty) return;
    const event = new MessageEvent(type, { data, lastEventId: this.lastEventId, origin: new URL(this.url).origin });
    this.emit(event, type === 'message' ? this.onmessage : null);
  }
}

/** The probe's fetch: a GET with the caller's headers and signal; only the status is read. */
export const probeFetch = ((input: string | URL | Request, init?: RequestInit) =>
  new Promise<Response>((resolve, reject) => {
    const headers = (init?.headers ?? {}) as Record<string, string>;
    const request = http.get(String(input), { headers }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, ok: res.statusCode === 200 } as Response);
    });
    request.on('error', reject);
    const signal = init?.signal;
    if (signal) {
      if (signal.aborted) request.destroy(new Error('aborted'));
      else signal.addEventListener('abort', () => request.destroy(new Error('aborted')), { once: true });
    }
  })) as typeof fetch;
