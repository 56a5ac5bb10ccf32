/** The game terminal: indicator, scrollback, room panel, who is here, input line. */
import type { GameView } from '../game/gameLog';
import type { ServerHealth } from '../hooks/useConnectionHealth';
import type { ConnectionView } from '../hooks/useConnectionStateMachine';
import { CommandInput } from './CommandInput';
import { ConnectionIndicator } from './ConnectionIndicator';
import { Scrollback } from './Scrollback';

export interface GameScreenProps {
  username: string;
  game: GameView;
  connection: ConnectionView;
  /** The server's word on chat; the indicator turns amber when it is delayed. */
  health?: ServerHealth;
  onCommand: (command: string) => void;
  onReconnect: () => void;
  onSignOut: () => void;
}

export function GameScreen({ username, game, connection, health, onCommand, onReconnect, onSignOut }: GameScreenProps) {
  return (
    <div className="game">
      <header className="game__bar">
        <h1 className="game__title">MYTHOS</h1>
        <ConnectionIndicator view={connection} health={health} onReconnect={onReconnect} />
        <span className="game__user">
          {username}
          <button type="button" className="link-button" onClick={onSignOut}>
            sign out
          </button>
        </span>
      </header>
      <main className="game__main">
        <Scrollback lines={game.lines} />
        <aside className="game__side">
          <section aria-label="Room">
            <h2 className="room__name">{game.room?.name ?? 'Nowhere yet'}</h2>
            <p className="room__exits">
              Exits: {game.room && game.room.exits.length > 0 ? game.room.exits.join(', ') : 'none'}
            </p>
          </section>
          <section aria-label="Who is here">
            <h3>Who is here</h3>
            <ul className="occupants">
              {game.occupants.length + game.npcs.length === 0 ? <li className="muted">no one</li> : null}
              {game.occupants.map((name) => (
                <li key={`p:${name}`}>{name}</li>
              ))}
              {game.npcs.map((name) => (
                <li key={`n:${name}`} className="npc">
                  {name}
                </li>
              ))}
            </ul>
          </section>
        </aside>
      </main>
      <CommandInput onCommand={onCommand} />
    </div>
  );
}
