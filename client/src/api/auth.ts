/** Sign-up and sign-in over HTTP, with every failure turned into words a player can act on. */

export interface LoginResult {
  access_token: string;
  token_type: string;
  player_id: string;
  expires_in: number;
}

export class AuthError extends Error {}

type Fetch = typeof fetch;

/** FastAPI says `detail` as a string or as a list of validation problems. */
export function describeFailure(status: number, body: unknown): string {
  const detail = body && typeof body === 'object' ? (body as Record<string, unknown>).detail : undefined;
  if (typeof detail === 'string' && detail !== '') return detail;
  if (Array.isArray(detail) && detail.length > 0) {
    return detail
      .map((d) => {
        const item = (d ?? {}) as Record<string, unknown>;
        const loc = Array.isArray(item.loc) ? item.loc.filter((p) => p !== 'body').join('.') : '';
        const msg = typeof item.msg === 'string' ? item.msg : 'is invalid';
        return loc ? `${loc}: ${msg}` : msg;
      })
      .join('; ');
  }
  if (status === 401) return 'Wrong username or password.';
  if (status === 403) return 'That invite code is not valid.';
  if (status === 409) return 'That name is already taken.';
  if (status === 429) return 'Too many attempts: wait a moment and try again.';
  if (status >= 500) return 'The server had a problem. Try again in a moment.';
  return `The server refused the request (HTTP ${status}).`;
}

async function post(fetchImpl: Fetch, url: string, body: unknown): Promise<unknown> {
  let response: Response;
  try {
    response = await fetchImpl(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
  } catch {
    throw new AuthError('Cannot reach the server. Check your connection and try again.');
  }
  let payload: unknown = null;
  try {
    payload = await response.json();
  } catch {
    payload = null;
  }
  if (!response.ok) throw new AuthError(describeFailure(response.status, payload));
  return payload;
}

export async function register(
  form: { username: string; password: string; invite_code: string },
  fetchImpl: Fetch = fetch,
): Promise<void> {
  await post(fetchImpl, '/auth/register', form);
}

export async function login(
  form: { username: string; password: string },
  fetchImpl: Fetch = fetch,
): Promise<LoginResult> {
  const payload = (await post(fetchImpl, '/auth/login', form)) as Partial<LoginResult> | null;
  if (!payload || typeof payload.access_token !== 'string') {
    throw new AuthError('The server answered without a session token.');
  }
  return {
    access_token: payload.access_token,
    token_type: payload.token_type ?? 'bearer',
    player_id: String(payload.player_id ?? ''),
    expires_in: typeof payload.expires_in === 'number' ? payload.expires_in : 0,
  };
}
