/** Sign in or register (with an invite code); failures are shown in plain words. */
import { useState, type FormEvent } from 'react';
import { AuthError, login, register } from '../api/auth';
import type { AuthInfo } from '../hooks/useSessionManagement';

export interface LoginScreenProps {
  onSignedIn: (auth: AuthInfo) => void;
  notice?: string | null;
  fetchImpl?: typeof fetch;
}

export function LoginScreen({ onSignedIn, notice = null, fetchImpl }: LoginScreenProps) {
  const [mode, setMode] = useState<'login' | 'register'>('login');
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [inviteCode, setInviteCode] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      if (mode === 'register') {
        await register({ username, password, invite_code: inviteCode }, fetchImpl);
      }
      const result = await login({ username, password }, fetchImpl);
      onSignedIn({
        token: result.access_token,
        player_id: result.player_id,
        username,
        expiresAt: result.expires_in > 0 ? Date.now() + result.expires_in * 1000 : 0,
      });
    } catch (err) {
      setError(err instanceof AuthError ? err.message : 'Something went wrong. Try again.');
      setBusy(false);
    }
  };

  return (
    <main className="login">
      <h1 className="login__title">MYTHOS</h1>
      <p className="login__tagline">That is not dead which can eternal lie.</p>
      {notice && <p className="login__notice">{notice}</p>}
      <form className="login__form" onSubmit={submit}>
        <label>
          Username
          <input value={username} onChange={(e) => setUsername(e.target.value)} autoComplete="username" required />
        </label>
        <label>
          Password
          <input
            type="password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            autoComplete={mode === 'register' ? 'new-password' : 'current-password'}
            required
          />
        </label>
        {mode === 'register' && (
          <label>
            Invite code
            <input value={inviteCode} onChange={(e) => setInviteCode(e.target.value)} required />
          </label>
        )}
        {error && (
          <p className="login__error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {mode === 'register' ? 'Register and enter' : 'Enter'}
        </button>
      </form>
      <button
        type="button"
        className="login__switch"
        onClick={() => {
          setMode(mode === 'login' ? 'register' : 'login');
          setError(null);
        }}
      >
        {mode === 'login' ? 'New here? Register with an invite code' : 'Have an account? Sign in'}
      </button>
    </main>
  );
}
