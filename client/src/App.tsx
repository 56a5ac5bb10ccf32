/** The page: the sign-in screen until there is a token, then the game. */
import { useCallback, useState } from 'react';
import type { ConnectionConfig } from './config';
import { GameScreen } from './components/GameScreen';
import { LoginScreen } from './components/LoginScreen';
import { useGameConnection } from './hooks/useGameConnection';
import { useSessionManagement, type AuthInfo } from './hooks/useSessionManagement';

export interface AppProps {
  config: ConnectionConfig;
  storage?: Storage;
  EventSourceImpl?: typeof EventSource;
  WebSocketImpl?: typeof WebSocket;
  fetchImpl?: typeof fetch;
}

function Game(props: AppProps & { auth: AuthInfo; sessionId: string; onSignOut: (notice: string | null) => void }) {
  const { auth, sessionId, config, onSignOut } = props;
  const onUnauthorized = useCallback(() => onSignOut('Your session has expired. Please sign in again.'), [onSignOut]);
  const { game, connection, health, sendCommand, reconnect } = useGameConnection({
    auth,
    sessionId,
    config,
    onUnauthorized,
    EventSourceImpl: props.EventSourceImpl,
    WebSocketImpl: props.WebSocketImpl,
    fetchImpl: props.fetchImpl,
  });
  return (
    <GameScreen
      username={auth.username}
      game={game}
      connection={connection}
      health={health}
      onCommand={sendCommand}
      onReconnect={reconnect}
      onSignOut={() => onSignOut(null)}
    />
  );
}

export function App(props: AppProps) {
  const { sessionId, auth, signIn, signOut } = useSessionManagement(props.storage);
  const [notice, setNotice] = useState<string | null>(null);
  const leave = useCallback(
    (message: string | null) => {
      setNotice(message);
      signOut();
    },
    [signOut],
  );
  if (!auth) return <LoginScreen onSignedIn={signIn} notice={notice} fetchImpl={props.fetchImpl} />;
  return <Game {...props} key={auth.token} auth={auth} sessionId={sessionId} onSignOut={leave} />;
}
