/** The input line, with shell-like history on the up and down arrows. */
import { useState, type KeyboardEvent } from 'react';

export interface History {
  entries: string[];
  /** Position while browsing; equal to entries.length when not browsing. */
  index: number;
}

export const HISTORY_LIMIT = 100;

export function pushHistory(h: History, command: string): History {
  const entries = h.entries[h.entries.length - 1] === command ? h.entries : [...h.entries, command].slice(-HISTORY_LIMIT);
  return { entries, index: entries.length };
}

/** Move through history; returns the new state and the text to show. */
export function stepHistory(h: History, direction: -1 | 1): { history: History; text: string } {
  const index = Math.min(h.entries.length, Math.max(0, h.index + direction));
  return { history: { ...h, index }, text: h.entries[index] ?? '' };
}

export function CommandInput({ onCommand, disabled = false }: { onCommand: (command: string) => void; disabled?: boolean }) {
  const [text, setText] = useState('');
  const [history, setHistory] = useState<History>({ entries: [], index: 0 });

  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === 'Enter') {
      const command = text.trim();
      if (!command) return;
      onCommand(command);
      setHistory(pushHistory(history, command));
      setText('');
    } else if (e.key === 'ArrowUp' || e.key === 'ArrowDown') {
      e.preventDefault();
      const step = stepHistory(history, e.key === 'ArrowUp' ? -1 : 1);
      setHistory(step.history);
      setText(step.text);
    }
  };

  return (
    // A named region: every part of the page sits in a landmark, so a screen reader can jump here.
    <section className="prompt" aria-label="Prompt">
      <span className="prompt__sigil" aria-hidden="true">&gt;</span>
      <input
        className="prompt__input"
        aria-label="Command"
        autoComplete="off"
        spellCheck={false}
        autoFocus
        value={text}
        disabled={disabled}
        placeholder="look, go north, say hello…"
        onChange={(e) => setText(e.target.value)}
        onKeyDown={onKeyDown}
      />
    </section>
  );
}
