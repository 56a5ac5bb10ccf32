/** The indicator's three looks and its Reconnect button, and the sign-in screen. */
import { fireEvent, render, screen, waitFor } from '@testing-library/react';
import { ConnectionIndicator, LOOK } from '../src/components/ConnectionIndicator';
import { LoginScreen } from '../src/components/LoginScreen';
import type { ConnectionView } from '../src/hooks/useConnectionStateMachine';
import { CONNECTION_STATES } from '../src/machines/connectionMachine';

const base: ConnectionView = { state: 'fully_connected', attempts: 0, maxAttempts: 8, last_error: null, reason: null, nextRetryAt: null };

function indicator() {
  return document.querySelector('[data-connection-state]') as HTMLElement;
}

describe('ConnectionIndicator', () => {
  it('is green when fully connected, with no button', () => {
    render(<ConnectionIndicator view={base} onReconnect={() => undefined} />);
    expect(indicator().dataset.connectionState).toBe('fully_connected');
    expect(indicator().dataset.look).toBe('green');
    expect(screen.getByText('Connected')).toBeTruthy();
    expect(screen.queryByRole('button', { name: 'Reconnect' })).toBeNull();
  });

  it('is yellow while reconnecting, with the attempt count and a countdown', () => {
    const now = 10_000;
    render(
      <ConnectionIndicator
        view={{ ...base, state: 'reconnecting', attempts: 3, nextRetryAt: now + 700 }}
        onReconnect={() => undefined}
        clock={() => now}
      />,
    );
    expect(indicator().dataset.look).toBe('yellow');
    expect(screen.getByText('Reconnecting: attempt 3 of 8')).toBeTruthy();
    expect(screen.getByText('next try in 0.7 s')).toBeTruthy();
    expect(screen.queryByRole('button')).toBeNull();
  });

  it('is yellow while connecting, first time and on a retry', () => {
    const { rerender } = render(<ConnectionIndicator view={{ ...base, state: 'connecting_sse' }} onReconnect={() => undefined} />);
    expect(screen.getByText('Connecting…')).toBeTruthy();
    rerender(<ConnectionIndicator view={{ ...base, state: 'connecting_ws', attempts: 2 }} onReconnect={() => undefined} />);
    expect(screen.getByText('Reconnecting: attempt 2 of 8')).toBeTruthy();
    expect(indicator().dataset.look).toBe('yellow');
  });

  it('is red when failed, with the last error and a Reconnect button that works', () => {
    const onReconnect = vi.fn();
    render(
      <ConnectionIndicator
        view={{ ...base, state: 'failed', attempts: 8, last_error: 'The event stream was interrupted' }}
        onReconnect={onReconnect}
      />,
    );
    expect(indicator().dataset.look).toBe('red');
    expect(screen.getByText('Disconnected after 8 attempts')).toBeTruthy();
    expect(screen.getByText('The event stream was interrupted')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Reconnect' }));
    expect(onReconnect).toHaveBeenCalledTimes(1);
  });

  it('explains an eviction', () => {
    render(
      <ConnectionIndicator view={{ ...base, state: 'disconnected', reason: 'evicted', last_error: 'Signed in elsewhere' }} onReconnect={() => undefined} />,
    );
    expect(screen.getByText('Playing in another window')).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Reconnect' })).toBeTruthy();
  });

  it('ticks the countdown on its own', async () => {
    let now = 0;
    render(<ConnectionIndicator view={{ ...base, state: 'reconnecting', attempts: 1, nextRetryAt: 1_000 }} onReconnect={() => undefined} clock={() => now} />);
    expect(screen.getByText('next try in 1.0 s')).toBeTruthy();
    now = 600;
    await waitFor(() => expect(screen.getByText('next try in 0.4 s')).toBeTruthy());
  });

  it('has a look for every machine state, and the attribute is the state name', () => {
    for (const state of CONNECTION_STATES) {
      const { unmount } = render(<ConnectionIndicator view={{ ...base, state }} onReconnect={() => undefined} />);
      expect(indicator().getAttribute('data-connection-state')).toBe(state);
      expect(['green', 'yellow', 'red']).toContain(LOOK[state]);
      unmount();
    }
  });
});

describe('LoginScreen', () => {
  const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status });

  it('registers, then signs in', async () => {
    const calls: string[] = [];
    const fetchImpl = vi.fn(async (url: string) => {
      calls.push(url);
      return url === '/auth/register' ? json(201, {}) : json(200, { access_token: 'T', token_type: 'bearer', player_id: 'p', expires_in: 60 });
    });
    const onSignedIn = vi.fn();
    render(<LoginScreen onSignedIn={onSignedIn} fetchImpl={fetchImpl as never} notice="Your session has expired." />);
    expect(screen.getByText('Your session has expired.')).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: /Register with an invite code/ }));
    fireEvent.change(screen.getByLabelText('Username'), { target: { value: 'lavinia' } });
    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'whateley!' } });
    fireEvent.change(screen.getByLabelText('Invite code'), { target: { value: 'DUNWICH' } });
    fireEvent.click(screen.getByRole('button', { name: 'Register and enter' }));
    await waitFor(() => expect(onSignedIn).toHaveBeenCalled());
    expect(calls).toEqual(['/auth/register', '/auth/login']);
    expect(onSignedIn.mock.calls[0][0]).toMatchObject({ token: 'T', username: 'lavinia', player_id: 'p' });
  });

  it('shows the server refusal in words', async () => {
    const fetchImpl = vi.fn(async () => json(401, { detail: 'Invalid username or password' }));
    render(<LoginScreen onSignedIn={() => undefined} fetchImpl={fetchImpl as never} />);
    fireEvent.change(screen.getByLabelText('Username'), { target: { value: 'a' } });
    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'b' } });
    fireEvent.click(screen.getByRole('button', { name: 'Enter' }));
    expect((await screen.findByRole('alert')).textContent).toBe('Invalid username or password');
    fireEvent.click(screen.getByRole('button', { name: /Register/ }));
    expect(screen.queryByRole('alert')).toBeNull();
    fireEvent.click(screen.getByRole('button', { name: /Sign in/ }));
  });

  it('never shows a raw exception', async () => {
    const fetchImpl = vi.fn(async () => json(200, { access_token: 'T' }));
    render(<LoginScreen onSignedIn={() => { throw new Error('boom'); }} fetchImpl={fetchImpl as never} />);
    fireEvent.change(screen.getByLabelText('Username'), { target: { value: 'a' } });
    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'b' } });
    fireEvent.click(screen.getByRole('button', { name: 'Enter' }));
    expect((await screen.findByRole('alert')).textContent).toBe('Something went wrong. Try again.');
  });
});
