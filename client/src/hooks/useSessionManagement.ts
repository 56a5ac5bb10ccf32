/**
 * The player's session: a session_id made once per browser tab and kept in
 * sessionStorage, so every reconnect presents the same id and the server can tell a
 * reconnect from a second login; and the sign-in token, kept alongside it.
 */
import { useCallback, useState } from 'react';

export interface AuthInfo {
  token: string;
  player_id: string;
  username: string;
  /** Epoch ms after which the token is no longer accepted; 0 when unknown. */
  expiresAt: number;
}

export const SESSION_KEY = 'mythos.session_id';
export const AUTH_KEY = 'mythos.auth';

function newId(): string {
  // randomUUID exists only in secure contexts (https, localhost), so plain-http LAN play needs the fallback.
  if (typeof crypto !== 'undefined' && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  return `s-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

export function loadOrCreateSessionId(storage: Storage, makeId: () => string = newId): string {
  const existing = storage.getItem(SESSION_KEY);
  if (existing) return existing;
  const id = makeId();
  storage.setItem(SESSION_KEY, id);
  return id;
}

export function loadAuth(storage: Storage, now: number): AuthInfo | null {
  try {
    const raw = JSON.parse(storage.getItem(AUTH_KEY) ?? 'null') as AuthInfo | null;
    if (!raw || typeof raw.token !== 'string') return null;
    if (raw.expiresAt > 0 && raw.expiresAt <= now) return null;
    return raw;
  } catch {
    return null;
  }
}

export function useSessionManagement(storage: Storage = window.sessionStorage) {
  const [sessionId] = useState(() => loadOrCreateSessionId(storage));
  const [auth, setAuth] = useState<AuthInfo | null>(() => loadAuth(storage, Date.now()));
  const signIn = useCallback(
    (info: AuthInfo) => {
      storage.setItem(AUTH_KEY, JSON.stringify(info));
      setAuth(info);
    },
    [storage],
  );
  const signOut = useCallback(() => {
    storage.removeItem(AUTH_KEY);
    setAuth(null);
  }, [storage]);
  return { sessionId, auth, signIn, signOut };
}
