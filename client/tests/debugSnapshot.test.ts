import { TransitionLog } from '../src/machines/debugSnapshot';
import { startHarness } from './machineHarness';

describe('transition log', () => {
  it('logs changes of named state with timestamps and stays bounded', () => {
    const h = startHarness({ maxAttempts: 50 });
    const log = new TransitionLog(5);
    const observe = () => log.observe(h.service.getSnapshot(), h.clock.now());
    expect(observe()).toBe(true);
    expect(observe()).toBe(false);
    h.service.send({ type: 'CONNECT', token: 't' });
    observe();
    for (let i = 0; i < 10; i += 1) {
      h.service.send({ type: 'ERROR', source: 'sse', message: 'x' });
      observe();
      h.clock.increment(h.ctx().retryDelayMs);
      observe();
    }
    expect(log.records).toHaveLength(5);
    const last = log.records[4];
    expect(last).toMatchObject({ from: 'reconnecting', to: 'connecting_sse', attempts: 10, last_error: 'x' });
    expect(last.at).toBe(new Date(last.t).toISOString());
    const snap = log.snapshot(h.service.getSnapshot());
    expect(snap).toMatchObject({ state: 'connecting_sse', attempts: 10, maxAttempts: 50, session_id: 'sess-1', last_error: 'x' });
    snap.log.pop();
    expect(log.records).toHaveLength(5);
  });
});
