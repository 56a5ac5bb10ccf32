/**
 * Model-based tests: @xstate/test walks every simple path of the machine's graph and
 * replays each one against a real interpreter on a SimulatedClock. Delayed transitions
 * are taken by advancing the clock, keeping the other link alive while one goes silent.
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
  maxAttempts: 2,
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

/** Take a delayed transition by advancing the clock, keeping the named links alive. */
function advance(tc: TestContext, eventType: string): void {
  const name = /^xstate\.after\((\w+)\)/.exec(eventType)?.[1];
  if (!name) throw new Error(`not a delayed event: ${eventType}`);
  let remaining = delays[name](tc.service.getSnapshot().context);
  const keepAlive: string[] = [];
  if (name === 'HEARTBEAT_TIMEOUT') keepAlive.push(eventType.includes('sse_watch') ? 'WS_ALIVE' : 'SSE_ALIVE');
  if (name === 'STABLE_AFTER') keepAlive.push('SSE_ALIVE', 'WS_ALIVE');
  do {
    keepAlive.forEach((type) => tc.service.send({ type }));
    const step = Math.min(remaining, 1_000);
    tc.clock.increment(step);
    remaining -= step;
  } while (remaining > 0);
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
const eventMap = Object.fromEntries(
  eventTypes.map((type) => {
    if (type.startsWith('xstate.after(')) {
      return [type, { exec: (tc: TestContext) => advance(tc, type) }];
    }
    const sample = SAMPLE_EVENTS[type] ?? { type };
    return [type, { exec: (tc: TestContext) => void tc.service.send(sample), cases: [sample] }];
  }),
);

const model = createModel<TestContext>(modelMachine as never).withEvents(eventMap as never);

const serialize = (state: { value: unknown; context: ConnectionContext }) =>
  `${JSON.stringify(state.value)}|${state.context.attempts}|${state.context.reason}|${state.context.token !== null}`;

const plans = model.getSimplePathPlans({ stateSerializer: serialize } as never);

describe('connection machine model', () => {
  plans.forEach((plan) => {
    describe(plan.description, () => {
      plan.paths.forEach((path) => {
        it(path.description, async () => {
          const clock = new SimulatedClock();
          clock.set(clockForModel.now());
          const machine = modelMachine.withConfig({
            ...options,
            delays: options.delays,
          } as never);
          const service = interpret(machine, { clock }).start();
          await path.test({ service, clock });
          service.stop();
        });
      });
    });
  });

  it('visits every named state of the machine', () => {
    const reached = new Set(plans.map((p) => connectionStateName(p.state as never)));
    expect([...reached].sort()).toEqual(
      ['connecting_sse', 'connecting_ws', 'disconnected', 'failed', 'fully_connected', 'reconnecting', 'sse_connected'],
    );
  });

  it('walks a non-trivial number of paths', () => {
    const paths = plans.reduce((n, p) => n + p.paths.length, 0);
    console.info(`model-based: ${plans.length} states, ${paths} simple paths`);
    expect(paths).toBeGreaterThan(plans.length);
  });
});
