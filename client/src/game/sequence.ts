/**
 * Deduplicates server events by sequence number. Events may arrive over both SSE and
 * the WebSocket, in either order, so "highest seen" is not enough: a lower number that
 * arrives late on the other channel is still new. A bounded window of seen numbers
 * keeps memory flat.
 */
export class SequenceTracker {
  private readonly seen = new Set<number>();
  private readonly order: number[] = [];
  private highest = -1;
  /** The last `id:` the SSE stream itself delivered: where a resumed stream continues. */
  lastSseId: string | null = null;

  constructor(private readonly window = 2048) {}

  /** True when the event is new and should be shown; records it. */
  accept(seq: number | null): boolean {
    if (seq === null) return true;
    if (this.seen.has(seq)) return false;
    if (this.highest - seq >= this.window) return false;
    this.seen.add(seq);
    this.order.push(seq);
    if (seq > this.highest) this.highest = seq;
    while (this.order.length > this.window) {
      const old = this.order.shift();
      if (old !== undefined) this.seen.delete(old);
    }
    return true;
  }

  noteSseId(id: string | null | undefined): void {
    if (id) this.lastSseId = id;
  }
}
