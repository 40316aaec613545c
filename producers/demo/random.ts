/** A small seeded PRNG (mulberry32): the demo is reproducible from its seed. */
export class Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  /** An index in [0, n) with Zipf(s) weights: a few items take most of the picks. */
  zipf(n: number, s = 1.1): number {
    if (!this.zipfTable || this.zipfTable.length !== n) {
      const weights = Array.from({ length: n }, (_, i) => 1 / (i + 1) ** s);
      const total = weights.reduce((a, b) => a + b, 0);
      let acc = 0;
      this.zipfTable = weights.map((w) => (acc += w / total));
    }
    const r = this.next();
    const i = this.zipfTable.findIndex((c) => r <= c);
    return i < 0 ? n - 1 : i;
  }
  private zipfTable: number[] | undefined;
  uuid(): string {
    const hex = Array.from({ length: 32 }, () => Math.floor(this.next() * 16).toString(16)).join('');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  }
}
