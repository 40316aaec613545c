import type { RecordReceipt } from '../batcher';

/** An earlier send used the same eventId for other content. */
export const CONFLICT = Symbol('conflict');

/** How long the receipt of a send that outlived its request (answered 503) is kept for a retry. */
export const RETAIN_MS = 5 * 60_000;
/** At most this many such receipts are kept (the oldest go first). */
export const MAX_RETAINED = 500_000;

/**
 * Makes a client's retry of a 503 cheap and copy-free. A 503 after INGEST_PRODUCE_TIMEOUT_MS
 * does not stop the send: Kafka may still take the events. Every event of a send is known here
 * by eventId until the send settles; a request repeating one of them waits for that send instead
 * of producing it again. When a send that outlived its request succeeds, its receipts are kept
 * for RETAIN_MS, so the retry is answered 202 with the original partition and offset and Kafka
 * holds one copy. When it fails, the retry produces the event again. Without this the copy is
 * still counted once, but only when it lands within the processor's duplicate horizon (one to
 * two segments), which at high rates can be a few seconds.
 */
export class UnsettledSends {
  /** Sends in flight, by event key (origin and eventId): the send, the event's index in it, its content fingerprint. */
  private readonly pending = new Map<string, { sent: Promise<RecordReceipt[]>; index: number; fingerprint: number }>();
  /** Receipts of sends that outlived their request, oldest first. */
  private readonly retained = new Map<string, { receipt: RecordReceipt; expires: number; fingerprint: number }>();

  constructor(
    private readonly retainMs = RETAIN_MS,
    private readonly maxRetained = MAX_RETAINED,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The earlier send of this event, if one is in flight or acknowledged after its request gave
   * up; CONFLICT when that send carried other content under the same id (not a retry).
   */
  find(eventKey: string, fingerprint: number): Promise<RecordReceipt> | RecordReceipt | typeof CONFLICT | undefined {
    const inFlight = this.pending.get(eventKey);
    if (inFlight)
      return inFlight.fingerprint !== fingerprint
        ? CONFLICT
        : inFlight.sent.then((receipts) => receipts[inFlight.index]!);
    const kept = this.retained.get(eventKey);
    if (!kept) return undefined;
    if (kept.expires <= this.now()) {
      this.retained.delete(eventKey);
      return undefined;
    }
    return kept.fingerprint !== fingerprint ? CONFLICT : kept.receipt;
  }

  /**
   * Tracks a send of `eventIds` (in record order) until it settles. Call `gaveUp()` when the
   * request stopped waiting for it (503): its receipts are then kept for the retry.
   */
  track(eventIds: string[], fingerprints: number[], sent: Promise<RecordReceipt[]>): { gaveUp(): void } {
    eventIds.forEach((id, index) => this.pending.set(id, { sent, index, fingerprint: fingerprints[index]! }));
    let gaveUp = false;
    let settled = false;
    let receipts: RecordReceipt[] | undefined;
    const settle = () => {
      for (let i = 0; i < eventIds.length; i++) {
        const id = eventIds[i]!;
        if (this.pending.get(id)?.sent === sent) this.pending.delete(id); // else a later send took the id over
        if (gaveUp && receipts) {
          this.retained.delete(id);
          this.retained.set(id, {
            receipt: receipts[i]!,
            expires: this.now() + this.retainMs,
            fingerprint: fingerprints[i]!,
          });
        }
      }
      if (gaveUp) this.evict();
    };
    sent
      .then(
        (r) => {
          receipts = r;
        },
        () => undefined,
      )
      .finally(() => {
        settled = true;
        settle();
      });
    return {
      gaveUp: () => {
        gaveUp = true;
        if (settled) settle();
      },
    };
  }

  /** Events tracked now: in flight, and retained for a retry. */
  get size(): { pending: number; retained: number } {
    return { pending: this.pending.size, retained: this.retained.size };
  }

  /** Drops expired receipts and the oldest beyond the cap (a Map iterates in insertion order). */
  private evict(): void {
    const now = this.now();
    for (const [id, kept] of this.retained) {
      if (kept.expires > now && this.retained.size <= this.maxRetained) break;
      this.retained.delete(id);
    }
  }
}
