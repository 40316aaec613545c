import { randomInt } from 'node:crypto';

/**
 * The hash every IdTable of this process uses, seeded at random when the process starts (as V8
 * seeds its own string hash): which ids share a slot differs from process to process, so no
 * client can choose eventIds that pile up in one place of everyone's table. Which id is a
 * duplicate never depends on it: a lookup compares whole ids.
 */
const SEED = randomInt(2 ** 31);

/** An id as the duplicate rule knows it: origin and eventId (schemas/identity.ts, dedupKey). */
export interface IdParts {
  origin: string | null;
  eventId: string;
}

/** Jenkins' one-at-a-time hash over the id's UTF-16 code units: origin, a NUL, eventId (or eventId alone). */
export function hashId(origin: string | null, eventId: string): number {
  let h = SEED;
  if (origin !== null) {
    for (let i = 0; i < origin.length; i++) {
      h = (h + origin.charCodeAt(i)) | 0;
      h = (h + (h << 10)) | 0;
      h ^= h >>> 6;
    }
    h = (h + (h << 10)) | 0; // the NUL between them
    h ^= h >>> 6;
  }
  for (let i = 0; i < eventId.length; i++) {
    h = (h + eventId.charCodeAt(i)) | 0;
    h = (h + (h << 10)) | 0;
    h ^= h >>> 6;
  }
  h = (h + (h << 3)) | 0;
  h ^= h >>> 11;
  return (h + (h << 15)) | 0;
}

/**
 * One segment's duplicate ids and their content fingerprints, stored compactly: each id's
 * code units in one growing arena, beside it its hash and fingerprint, and an open-addressing
 * index over them, all typed arrays. A Map of id strings kept tens of thousands of strings
 * alive per partition, which the collector copied and walked: with this table the catch-up's
 * processor spends about a tenth less CPU (docs/benchmarks.md). `clear` keeps the buffers for the
 * segment after next. It starts at a few KiB (a processor may own many partitions) and doubles
 * as it fills.
 *
 * Exact: a lookup compares the whole id, code unit by code unit, as a Map compares strings.
 */
export class IdTable {
  /**
   * Code units of every id, one after another (origin, NUL, eventId): a byte each when all of an
   * id's are below 256 (almost every id), else two bytes each, low first.
   */
  private units = new Uint8Array(1 << 12);
  private unitsUsed = 0;
  /** Per entry: where its units start, how many (negative: two bytes each), its hash and its fingerprint. */
  private starts = new Int32Array(1 << 7);
  private lengths = new Int32Array(1 << 7);
  private hashes = new Int32Array(1 << 7);
  private fingerprints = new Uint32Array(1 << 7);
  private count = 0;
  /** Slots (a power of two, at most half full): entry index + 1, 0 when empty. Linear probing. */
  private slots = new Int32Array(1 << 8);

  get size(): number {
    return this.count;
  }

  /** The fingerprint stored for the id, if it is here. `hash` is hashId(origin, eventId). */
  get(hash: number, origin: string | null, eventId: string): number | undefined {
    const mask = this.slots.length - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const entry = this.slots[slot]! - 1;
      if (entry < 0) return undefined;
      if (this.hashes[entry] === hash && this.matches(entry, origin, eventId)) return this.fingerprints[entry];
    }
  }

  /** Stores an id that is not here yet (the caller looked it up) with its fingerprint. */
  add(hash: number, origin: string | null, eventId: string, fingerprint: number): void {
    if ((this.count + 1) * 2 > this.slots.length) this.growSlots();
    if (this.count === this.starts.length) this.growEntries();
    const length = (origin === null ? 0 : origin.length + 1) + eventId.length;
    const wide = (origin !== null && !narrow(origin)) || !narrow(eventId);
    const bytes = wide ? 2 * length : length;
    if (this.unitsUsed + bytes > this.units.length) this.growUnits(this.unitsUsed + bytes);
    const entry = this.count++;
    this.starts[entry] = this.unitsUsed;
    this.lengths[entry] = wide ? -length : length;
    let at = this.unitsUsed;
    if (origin !== null) {
      at = this.write(at, origin, wide);
      at = this.write(at, '\u0000', wide);
    }
    this.unitsUsed = this.write(at, eventId, wide);
    this.hashes[entry] = hash;
    this.fingerprints[entry] = fingerprint;
    this.place(entry);
  }

  /** Empties the table, keeping its buffers. */
  clear(): void {
    this.count = 0;
    this.unitsUsed = 0;
    this.slots.fill(0);
  }

  private write(at: number, s: string, wide: boolean): number {
    const units = this.units;
    if (!wide) {
      for (let i = 0; i < s.length; i++) units[at++] = s.charCodeAt(i);
      return at;
    }
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      units[at++] = c & 0xff;
      units[at++] = c >>> 8;
    }
    return at;
  }

  private matches(entry: number, origin: string | null, eventId: string): boolean {
    const length = (origin === null ? 0 : origin.length + 1) + eventId.length;
    const stored = this.lengths[entry]!;
    if (stored !== length && stored !== -length) return false;
    const wide = stored < 0;
    let at = this.starts[entry]!;
    if (origin !== null) {
      if ((at = this.compare(at, origin, wide)) < 0) return false;
      if ((at = this.compare(at, '\u0000', wide)) < 0) return false;
    }
    return this.compare(at, eventId, wide) >= 0;
  }

  /** Where `s`'s units end if they are the ones stored from `at`, else -1. (A unit above 255 never equals a byte of a narrow id.) */
  private compare(at: number, s: string, wide: boolean): number {
    const units = this.units;
    if (!wide) {
      for (let i = 0; i < s.length; i++) if (units[at++] !== s.charCodeAt(i)) return -1;
      return at;
    }
    for (let i = 0; i < s.length; i++, at += 2) if ((units[at]! | (units[at + 1]! << 8)) !== s.charCodeAt(i)) return -1;
    return at;
  }

  private place(entry: number): void {
    const mask = this.slots.length - 1;
    let slot = this.hashes[entry]! & mask;
    while (this.slots[slot] !== 0) slot = (slot + 1) & mask;
    this.slots[slot] = entry + 1;
  }

  private growSlots(): void {
    this.slots = new Int32Array(this.slots.length * 2);
    for (let entry = 0; entry < this.count; entry++) this.place(entry);
  }

  private growEntries(): void {
    const grow = <T extends Int32Array | Uint32Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(a.length * 2);
      b.set(a);
      return b;
    };
    this.starts = grow(this.starts);
    this.lengths = grow(this.lengths);
    this.hashes = grow(this.hashes);
    this.fingerprints = grow(this.fingerprints);
  }

  private growUnits(atLeast: number): void {
    let size = this.units.length * 2;
    while (size < atLeast) size *= 2;
    const units = new Uint8Array(size);
    units.set(this.units.subarray(0, this.unitsUsed));
    this.units = units;
  }
}

/** Whether every code unit of `s` fits a byte. */
function narrow(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0xff) return false;
  return true;
}
