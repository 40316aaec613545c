import { TributaryError } from './errors';

/**
 * How long a stage's writes have been failing: the processor's sends of rows, the sink's inserts.
 * A failure starts the clock (the first one's time, or the time the attempt began), a success
 * stops it; past `stalledAfterMs` the stage is stalled, which its /readyz and its `*_stalled`
 * gauge say alike (`check`).
 */
export class StallClock {
  private failing: { since: number; error: string } | undefined;

  constructor(
    private readonly stalledAfterMs: number,
    /** What could not be done, for /readyz: "no insert into ClickHouse succeeded". */
    private readonly what: string,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * A write failed with `error`; the clock runs from `since` (default now) unless it already ran.
   * True when the error is not the one recorded last (log it once, not on every retry).
   */
  failed(error: string, since = this.now()): boolean {
    const changed = this.failing?.error !== error;
    this.failing = { since: this.failing?.since ?? since, error };
    return changed;
  }

  /** A write succeeded: the clock stops. Returns how long writes had been failing (undefined: they had not). */
  succeeded(): number | undefined {
    const failedForMs = this.failing && this.now() - this.failing.since;
    this.failing = undefined;
    return failedForMs;
  }

  /** Milliseconds since writes began failing (0 while they succeed). */
  get failingForMs(): number {
    return this.failing ? this.now() - this.failing.since : 0;
  }

  get stalled(): boolean {
    return this.failingForMs > this.stalledAfterMs;
  }

  /** For /readyz: throws (retriable, `unavailable`) while stalled, naming for how long and the last error. */
  check(): void {
    if (!this.stalled) return;
    throw new TributaryError(
      'unavailable',
      `${this.what} for ${Math.round(this.failingForMs / 1000)} s: ${this.failing!.error}`,
    );
  }
}
