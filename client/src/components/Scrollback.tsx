/** The terminal's scrollback; each kind of line has its own look. */
import { useEffect, useRef } from 'react';
import type { Line } from '../game/gameLog';

export function Scrollback({ lines }: { lines: Line[] }) {
  const end = useRef<HTMLDivElement>(null);
  useEffect(() => {
    end.current?.scrollIntoView?.({ block: 'end' });
  }, [lines.length]);
  return (
    <div className="scrollback" role="log" aria-live="polite" aria-label="Game output">
      {lines.map((line) => (
        <div key={line.id} className={`line line--${line.kind}`} data-kind={line.kind}>
          {line.text}
        </div>
      ))}
      <div ref={end} />
    </div>
  );
}
