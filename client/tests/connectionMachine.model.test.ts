/**
 * Model-based tests: @xstate/test walks every simple path of the machine's graph and
 * replays each one against a real interpreter on a SimulatedClock. Delayed transitions
 * are taken by advancing the clock, keeping the other link alive while one goes silent.
 *
 * To keep the number of simple paths finite and small (about 1,500), the model uses a
 * budget of one attempt and folds events that take exactly the same transitions as
 * another: OFFLINE is ERROR, ONLINE is RECONNECT, and DISCONNECT and QUIT (from anywhere
 * to disconnected) are covered by the unit tests. Events that never change the state
 * (traffic, commands, malformed messages) are not edges of the graph.
 */
import { createModel } from '@xstate/test';
import { createMachine, interpret, type AnyEventObject, type Interpreter } from 'xstate';
import { SimulatedClock } from 'xstate/lib/SimulatedClock';
import type { ConnectionConfig } from '../src/config';
import {
  connectionMachine,
  connectionOptions,
  connectionStateName,
  initialContext,
  type ConnectionContext,
} from '../src/machines/connectionMachine';
import { TEST_CONFIG } from './machineHarness';

const MODEL_CONFIG: ConnectionConfig = {
  ...TEST_CONFIG,
  maxAttempts: 1,
  wsStartDelayMs: 100,
  heartbeatIntervalMs: 5_000,
  heartbeatTimeoutMs: 10_000,
  stableAfterMs: 20_000,
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

const STEP_MS = 100;

/**
 * Take a delayed transition by advancing the clock in small steps until the real
 * machine moves (a timer may have started before this step of the path), keeping the
 * named links alive so only the intended timer can fire.
 */
function advance(tc: TestContext, eventType: string): void {
  const name = /^xstate\.after\((\w+)\)/.exec(eventType)?.[1];
  if (!name) throw new Error(`not a delayed event: ${eventType}`);
  const keepAlive: string[] = [];
  if (name === 'HEARTBEAT_TIMEOUT') keepAlive.push(eventType.includes('sse_watch') ? 'WS_ALIVE' : 'SSE_ALIVE');
  if (name === 'STABLE_AFTER') keepAlive.push('SSE_ALIVE', 'WS_ALIVE');
  const before = serialize(tc.service.getSnapshot());
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
const FOLDED = new Set(['OFFLINE', 'ONLINE', 'DISCONNECT', 'QUIT', 'SSE_ALIVE', 'WS_ALIVE', 'MALFORMED', 'SEND_COMMAND']);

const eventMap = Object.fromEntries(
  eventTypes.map((type) => {
    if (FOLDED.has(type)) return [type, { exec: () => undefined, cases: [] }];
    if (type.startsWith('xstate.after(')) {
      return [type, { exec: (tc: TestContext) => advance(tc, type) }];
    }
    const sample = SAMPLE_EVENTS[type] ?? { type };
    return [type, { exec: (tc: TestContext) => void tc.service.send(sample), cases: [sample] }];
  }),
);

const model = createModel<TestContext>(modelMachine as never).withEvents(eventMap as never);

const plans = model.getSimplePathPlans({ stateSerializer: serialize } as never);

describe('connection machine model', () => {
  plans.forEach((plan) => {
    describe(plan.description, () => {
      it(`replays all ${plan.paths.length} simple paths`, { timeout: 120_000 }, async () => {
        for (const path of plan.paths) {
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
    console.info(`model-based: ${plans.length} states, ${paths} simple paths`);
    expect(paths).toBeGreaterThan(plans.length);
  });
});
