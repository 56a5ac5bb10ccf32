// @vitest-environment node
/** The herd's EventSource and probe over node:http, against a real local HTTP server. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { NodeEventSource, probeFetch } from '../scripts/herdTransport';

const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((done) => s.close(done))));
});

async function serve(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function record(source: NodeEventSource, names: string[]) {
  const seen: { type: string; data?: string; id?: string }[] = [];
  source.onopen = () => seen.push({ type: 'open' });
  source.onerror = () => seen.push({ type: 'error' });
  for (const name of names) {
    source.addEventListener(name, (e) => {
      const m = e as MessageEvent<string>;
      seen.push({ type: name, data: m.data, id: m.lastEventId });
    });
  }
  return seen;
}

const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i += 1) await new Promise((r) => setTimeout(r, 10));
  expect(check()).toBe(true);
};

describe('NodeEventSource', () => {
  it('parses named events, ids, multi-line data and comments split across chunks, then errors once at the end', async () => {
    const base = await serve((req, res) => {
      expect(req.headers.accept).toBe('text/event-stream');
      res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8' });
      res.write(': hello\n\nid: 7\nevent: chat\nda');
      setTimeout(() => {
        res.write('ta: {"a":1}\ndata: x\r\n\r\ndata: plain\n\nevent: heartbeat\n\n');
        res.end();
      }, 20);
    });
    const source = new NodeEventSource(`${base}/api/events?token=t`);
    const seen = record(source, ['chat', 'message', 'heartbeat']);
    await until(() => seen.some((e) => e.type === 'error'));
    expect(seen).toEqual([
      { type: 'open' },
      { type: 'chat', data: '{"a":1}\nx', id: '7' },
      { type: 'message', data: 'plain', id: '7' },
      { type: 'error' },
    ]);
    expect(source.readyState).toBe(NodeEventSource.CLOSED);
  });

  it('errors without opening when refused or when the answer is not a stream, and stays closed', async () => {
    const base = await serve((_req, res) => {
      res.writeHead(401, { 'Content-Type': 'application/json' });
      res.end('{}');
    });
    const refusedBy401 = record(new NodeEventSource(`${base}/api/events`), []);
    const unreachable = record(new NodeEventSource('http://127.0.0.1:1/api/events'), []);
    await until(() => refusedBy401.length > 0 && unreachable.length > 0);
    await new Promise((r) => setTimeout(r, 50));
    expect(refusedBy401).toEqual([{ type: 'error' }]);
    expect(unreachable).toEqual([{ type: 'error' }]);
  });

  it('close() ends the stream without an error event', async () => {
    let closed = false;
    const base = await serve((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write('data: one\n\n');
      req.on('close', () => {
        closed = true;
      });
    });
    const source = new NodeEventSource(base);
    const seen = record(source, ['message']);
    await until(() => seen.length === 2);
    source.close();
    await until(() => closed);
    expect(seen.map((e) => e.type)).toEqual(['open', 'message']);
  });
});

describe('probeFetch', () => {
  it('answers the status, sends the headers, and rejects when aborted or unreachable', async () => {
    let auth: string | undefined;
    const base = await serve((req, res) => {
      auth = req.headers.authorization;
      if (req.url === '/slow') return;
      res.writeHead(204);
      res.end();
    });
    const answer = await probeFetch(`${base}/api/events/probe`, { headers: { Authorization: 'Bearer t' } });
    expect(answer.status).toBe(204);
    expect(auth).toBe('Bearer t');
    const controller = new AbortController();
    const slow = probeFetch(`${base}/slow`, { signal: controller.signal });
    controller.abort();
    await expect(slow).rejects.toThrow();
    await expect(probeFetch('http://127.0.0.1:1/')).rejects.toThrow();
  });
});
