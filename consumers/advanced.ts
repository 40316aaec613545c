/**
 * Which rollup row versions carry newly received events. The processor re-sends rows unchanged
 * (the other rows of a block one of them changed in, rows recomputed after a restart), with the
 * same version and the `maxReceivedAt` of their last change: measured as if new, they made the
 * freshness figure say how old re-sent rows are, not how long new events take to be queryable.
 * A row version is advanced when its key was not seen yet, or only with a lower version.
 * Bounded: the least recently advanced keys are forgotten first (a forgotten key counts as
 * advanced once more).
 */
export class AdvancedRows {
  private readonly seen = new Map<string, number>();

  constructor(private readonly capacity = 50_000) {}

  advanced(key: string, version: number): boolean {
    const last = this.seen.get(key);
    if (last !== undefined && version <= last) return false;
    this.seen.delete(key);
    this.seen.set(key, version);
    if (this.seen.size > this.capacity) this.seen.delete(this.seen.keys().next().value!);
    return true;
  }

  get size(): number {
    return this.seen.size;
  }
}
