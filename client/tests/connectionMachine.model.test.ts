/**
 * Model-based tests: @xstate/test enumerates the simple paths of the machine's graph
 * (with a budget of one attempt, so the graph is finite) and replays each one against a
 * real interpreter on a SimulatedClock. What that shows, and what it does not:
 *
 * - Each replayed path reaches the same state value, attempt count and stop reason as the
 *   model predicts. The model is the machine's own definition, so this checks that the
 *   interpreter, the delays and the actions behave as the definition says, not that the
 *   definition is what a player needs; the unit tests and the silent-link runs below do that.
 * - Delayed transitions are taken by advancing the clock, keeping the other link alive
 *   while one goes silent. Paths that cannot happen in time (a watchdog firing for a link
 *   whose traffic is more recent than the other link's) are counted and skipped.
 * - Edges of the graph: CONNECT, RECONNECT, SSE_OPEN, WS_OPEN, ERROR, AUTH_FAILED, EVICTED,
 *   traffic (SSE_ALIVE, WS_ALIVE) and every delayed transition.
 * - Not edges of the graph (NOT_IN_MODEL below), so no path exercises them:
 *   DISCONNECT, QUIT, ONLINE, OFFLINE, SEND_COMMAND, MALFORMED and HEARTBEAT_INTERVAL. The
 *   claim that OFFLINE takes ERROR's transitions and ONLINE takes RECONNECT's (where it acts),
 *   and that DISCONNECT and QUIT lead to disconnected from every state, is checked on every
 *   state the model reaches ("events left out of the model"); their effects on context,
 *   commands and the advertised heartbeat are covered only by connectionMachine.test.ts,
 *   connectionTruth.test.ts and app.test.tsx.
 */
import { createModel } from '@xstate/test';
import { createMachine, interpret, type AnyEventObject, type Interpreter } from 'xstate';
import { SimulatedClock } from 'xstate/lib/SimulatedClock';
import { DEFAULT_CONFIG, type ConnectionConfig } from '../src/config';
import {
  connectionMachine,
  connectionOptions,
  connectionStateName,
  createConnectionMachine,
  initialContext,
  type ConnectionContext,
} from '../src/machines/connectionMachine';
import { TEST_CONFIG } from './machineHarness';

/**
 * A budget of one attempt and short timers (the graph does not depend on their lengths,
 * only the replay time does); stableAfterMs stays the default, shorter than the watchdog.
 */
const MODEL_CONFIG: ConnectionConfig = {
  ...TEST_CONFIG,
  maxAttempts: 1,
  wsStartDelayMs: 100,
  connectionTimeoutMs: 2_000,
  attemptTimeoutMs: 1_000,
  heartbeatIntervalMs: 1_000,
  stableAfterMs: DEFAULT_CONFIG.stableAfterMs,
};

interface TestContext {
  service: Interpreter<ConnectionContext, any, any, any, any>;
  clock: SimulatedClock;
}

const clockForModel = new SimulatedClock();
const deps = { now: () => clockForModel.now(), random: () => 1 };
const noop = () => () => undefined;
const options = { ...connectionOptions(deps), services: { sse: noop, ws: noop } };

const modelMachine = createMachine(
  {
    ...(connectionMachine.config as object),
    context: initialContext(MODEL_CONFIG, 'sess-model'),
    meta: {
      test: ({ service }: TestContext, state: { value: unknown; context: ConnectionContext }) => {
        const real = service.getSnapshot();
        expect(real.value).toEqual(state.value);
        expect(real.context.attempts).toBe(state.context.attempts);
        expect(real.context.reason).toBe(state.context.reason);
      },
    },
  } as never,
  options as never,
);

const delays = options.delays as Record<string, (ctx: ConnectionContext) => number>;

/** JSON with sorted keys, so parallel regions listed in another order are the same state. */
function stable(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const obj = value as Record<string, unknown>;
  return `{${Object.keys(obj).sort().map((k) => `${k}:${stable(obj[k])}`).join(',')}}`;
}

const serialize = (state: { value: unknown; context: ConnectionContext }) =>
  `${stable(state.value)}|${state.context.attempts}|${state.context.reason}|${state.context.token !== null}`;

const STEP_MS = 250;

/**
 * Take a delayed transition by advancing the clock in small steps until the real
 * machine moves (a timer may have started before this step of the path), keeping the
 * named links alive so only the intended timer can fire.
 */
function advance(tc: TestContext, eventType: string): void {
  const name = /^xstate\.after\((\w+)\)/.exec(eventType)?.[1];
  if (!name) throw new Error(`not a delayed event: ${eventType}`);
  const candidates: string[] = [];
  if (name === 'HEARTBEAT_TIMEOUT') candidates.push(eventType.includes('sse_watch') ? 'WS_ALIVE' : 'SSE_ALIVE');
  if (name === 'STABLE_AFTER') candidates.push('SSE_ALIVE', 'WS_ALIVE');
  const before = serialize(tc.service.getSnapshot());
  // Traffic that would itself move the machine (a link heard while proving) is not sent.
  const keepAlive = candidates.filter(
    (type) => serialize(tc.service.machine.transition(tc.service.getSnapshot(), { type }) as never) === before,
  );
  const limit = delays[name](tc.service.getSnapshot().context) + 1_000;
  for (let t = 0; t < limit && serialize(tc.service.getSnapshot()) === before; t += STEP_MS) {
    keepAlive.forEach((type) => tc.service.send({ type }));
    tc.clock.increment(STEP_MS);
  }
}

const SAMPLE_EVENTS: Record<string, AnyEventObject> = {
  CONNECT: { type: 'CONNECT', token: 'tok' },
  ERROR: { type: 'ERROR', source: 'sse', message: 'boom' },
  AUTH_FAILED: { type: 'AUTH_FAILED', message: 'expired' },
  EVICTED: { type: 'EVICTED', message: 'elsewhere' },
  MALFORMED: { type: 'MALFORMED', message: 'bad' },
  SEND_COMMAND: { type: 'SEND_COMMAND', command: 'look' },
};

const eventTypes = modelMachine.events.filter((e) => e !== '');
/** Events that are not edges of the model graph; see the header for where they are tested. */
export const NOT_IN_MODEL = ['DISCONNECT', 'QUIT', 'ONLINE', 'OFFLINE', 'SEND_COMMAND', 'MALFORMED', 'HEARTBEAT_INTERVAL'];
const LEFT_OUT = new Set(NOT_IN_MODEL);

const eventMap = Object.fromEntries(
  eventTypes.map((type) => {
    // done.state.* is raised by the machine itself when both links were heard, never sent.
    if (LEFT_OUT.has(type) || type.startsWith('done.')) return [type, { exec: () => undefined, cases: [] }];
    if (type.startsWith('xstate.after(')) {
      return [type, { exec: (tc: TestContext) => advance(tc, type) }];
    }
    const sample = SAMPLE_EVENTS[type] ?? { type };
    return [type, { exec: (tc: TestContext) => void tc.service.send(sample), cases: [sample] }];
  }),
);

const model = createModel<TestContext>(modelMachine as never).withEvents(eventMap as never);

const plans = model.getSimplePathPlans({ stateSerializer: serialize } as never);

type Segment = { state: { value: unknown }; event: { type: string } };

/** The proving region of a state value, if the link is proving itself stable. */
function proving(value: unknown): { sse: string; ws: string } | null {
  const ws = (value as { link?: { ws?: { fully_connected?: { stability?: unknown } } } })?.link?.ws?.fully_connected;
  const stability = ws?.stability as { proving?: { sse: string; ws: string } } | undefined;
  return stability?.proving ?? null;
}

/**
 * Whether a path can happen in time. While proving, a link's watchdog can fire first only
 * if the other link had traffic more recently: never when the other link is still waiting
 * for its traffic, except the SSE watchdog when neither has had any (both timers then
 * started together and the SSE region is first in document order).
 */
function replayable(path: { segments: Segment[] }): boolean {
  return path.segments.every(({ state, event }) => {
    const p = proving(state.value);
    const watch = /^xstate\.after\(HEARTBEAT_TIMEOUT\).*\.(sse|ws)_watch\./.exec(event.type)?.[1] as 'sse' | 'ws' | undefined;
    if (!p || !watch) return true;
    const other = watch === 'sse' ? 'ws' : 'sse';
    if (p[other] !== 'waiting') return true;
    return watch === 'sse' && p.sse === 'waiting';
  });
}

let skipped = 0;

describe('connection machine model', () => {
  plans.forEach((plan) => {
    const paths = plan.paths.filter((path) => replayable(path as never));
    skipped += plan.paths.length - paths.length;
    if (paths.length === 0) return;
    describe(plan.description, () => {
      it(`replays its ${paths.length} simple paths that can happen in time`, { timeout: 120_000 }, async () => {
        for (const path of paths) {
          const clock = new SimulatedClock();
          clock.set(clockForModel.now());
          const service = interpret(modelMachine, { clock }).start() as unknown as TestContext["service"];
          await path.test({ service, clock });
          service.stop();
        }
      });
    });
  });

  it('visits every named state of the machine', () => {
    const reached = new Set(plans.map((p) => connectionStateName(p.state as never)));
    expect([...reached].sort()).toEqual(
      ['connecting_sse', 'connecting_ws', 'disconnected', 'failed', 'fully_connected', 'reconnecting', 'sse_connected'],
    );
  });

  it('covers every state node of the machine', () => {
    const visited = new Set<string>();
    plans.forEach((plan) =>
      plan.paths.forEach((path) =>
        path.segments.forEach((segment) =>
          (segment.state as unknown as { configuration: { id: string }[] }).configuration.forEach((n) => visited.add(n.id)),
        ),
      ),
    );
    plans.forEach((plan) => (plan.state as unknown as { configuration: { id: string }[] }).configuration.forEach((n) => visited.add(n.id)));
    const all = modelMachine.stateIds.filter((id) => id !== 'connection');
    expect(all.filter((id) => !visited.has(id))).toEqual([]);
  });

  it('walks a non-trivial number of paths', () => {
    const paths = plans.reduce((n, p) => n + p.paths.length, 0);
    console.info(`model-based: ${plans.length} states, ${paths} simple paths, ${skipped} not replayable in time`);
    expect(paths - skipped).toBeGreaterThan(plans.length);
    expect(skipped).toBeLessThan(paths / 4);
  });

  it('resets the attempt count only on traffic, after the link has lasted STABLE_AFTER', () => {
    // Every edge of the graph that brings attempts back to 0 without a fresh start by the
    // player is the second link being heard while proving.
    const resets: string[] = [];
    plans.forEach((plan) =>
      plan.paths.forEach((path) =>
        path.segments.forEach((segment, i) => {
          const next = path.segments[i + 1]?.state ?? plan.state;
          const was = (segment.state as unknown as { context: ConnectionContext }).context.attempts;
          const now = (next as unknown as { context: ConnectionContext }).context.attempts;
          if (now < was && !['CONNECT', 'RECONNECT'].includes(segment.event.type)) {
            resets.push(`${segment.event.type} from ${proving(segment.state.value) ? 'proving' : stable(segment.state.value)}`);
          }
        }),
      ),
    );
    expect(resets.length).toBeGreaterThan(0);
    expect([...new Set(resets)].sort()).toEqual(['SSE_ALIVE from proving', 'WS_ALIVE from proving']);
  });
});

describe('events left out of the model', () => {
  const reached = plans.map((p) => p.state as unknown as Parameters<typeof modelMachine.transition>[0]);
  const next = (state: (typeof reached)[number], event: AnyEventObject) => {
    const s = modelMachine.transition(state, event);
    return `${connectionStateName(s as never)}|${(s.context as ConnectionContext).attempts}`;
  };

  it('OFFLINE takes the transitions ERROR takes, in every state the model reaches', () => {
    for (const state of reached) {
      expect(next(state, { type: 'OFFLINE' })).toBe(next(state, SAMPLE_EVENTS.ERROR));
    }
  });

  it('ONLINE takes the transitions RECONNECT takes where the link is down', () => {
    for (const state of reached.filter((s) => ['reconnecting', 'failed'].includes(connectionStateName(s as never)))) {
      expect(next(state, { type: 'ONLINE' })).toBe(next(state, { type: 'RECONNECT' }));
    }
  });

  it('DISCONNECT and QUIT lead to disconnected from every state the model reaches', () => {
    for (const state of reached) {
      expect(next(state, { type: 'DISCONNECT' }).startsWith('disconnected|')).toBe(true);
      expect(next(state, { type: 'QUIT' }).startsWith('disconnected|')).toBe(true);
    }
  });
});

describe('a silent link (opens, carries its first frames, then nothing)', () => {
  // Not the model graph: real delays on a SimulatedClock, with the default stableAfterMs.
  it.each([
    ['server 5 s (the default)', 5_000, 5_000],
    ['server 11 s, above the client default', 11_000, 5_000],
    ['server 60 s', 60_000, 5_000],
    ['server 300 s (the most HEARTBEAT_INTERVAL allows)', 300_000, 5_000],
    ['no advert, client configured for 11 s', null, 11_000],
  ] as const)('ends in failed with the budget spent: %s', (_label, advertised, fallback) => {
    const maxAttempts = 4;
    const clock = new SimulatedClock();
    const machine = createConnectionMachine(
      { ...DEFAULT_CONFIG, maxAttempts, heartbeatIntervalMs: fallback },
      { now: () => clock.now(), random: () => 1 },
      'sess-silent',
    ).withConfig({ services: { sse: noop, ws: noop } });
    const service = interpret(machine, { clock }).start();
    service.send({ type: 'CONNECT', token: 'tok' });
    let links = 0;
    const name = () => connectionStateName(service.getSnapshot());
    for (let step = 0; step < 200_000 && name() !== 'failed' && links <= 3 * maxAttempts; step += 1) {
      if (name() === 'connecting_sse') {
        links += 1;
        service.send({ type: 'SSE_OPEN' });
        service.send({ type: 'SSE_ALIVE' });
        if (advertised !== null) service.send({ type: 'HEARTBEAT_INTERVAL', intervalMs: advertised });
        clock.increment(0);
        service.send({ type: 'WS_OPEN' });
        // The room_state burst on both links, then silence.
        service.send({ type: 'SSE_ALIVE' });
        service.send({ type: 'WS_ALIVE' });
      }
      clock.increment(1_000);
    }
    expect(name()).toBe('failed');
    expect(links).toBe(maxAttempts + 1);
    service.stop();
  });
});
