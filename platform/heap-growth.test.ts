import { execFileSync } from 'node:child_process';
import path from 'node:path';
import {
  boundHeapGrowth,
  growingPercentFor,
  HEAP_FLOOR_BYTES,
  HEAP_GROWING_PERCENT,
  HEAP_GROWING_PERCENT_MAX,
} from './heap-growth';

const MiB = 2 ** 20;

describe('growingPercentFor', () => {
  it('lets a small live set grow to the floor, rounded up to 5%', () => {
    // live × (1 + percent/100) reaches the floor, and no 5% step less would.
    for (const live of [45 * MiB, 50 * MiB, 57 * MiB, 64 * MiB, 70 * MiB]) {
      const percent = growingPercentFor(live);
      expect(percent % 5).toBe(0);
      expect(live * (1 + percent / 100)).toBeGreaterThanOrEqual(HEAP_FLOOR_BYTES);
      expect(live * (1 + (percent - 5) / 100)).toBeLessThan(HEAP_FLOOR_BYTES);
    }
  });

  it('keeps 1.25× once the live set is near or above the floor, and at most 2.5× below it', () => {
    expect(growingPercentFor(HEAP_FLOOR_BYTES * 0.9)).toBe(HEAP_GROWING_PERCENT);
    expect(growingPercentFor(HEAP_FLOOR_BYTES)).toBe(HEAP_GROWING_PERCENT);
    expect(growingPercentFor(300 * MiB)).toBe(HEAP_GROWING_PERCENT);
    expect(growingPercentFor(10 * MiB)).toBe(HEAP_GROWING_PERCENT_MAX);
    expect(growingPercentFor(0)).toBe(HEAP_GROWING_PERCENT_MAX);
  });
});

describe('boundHeapGrowth', () => {
  // A fresh Node process (this test worker's heap is whatever earlier suites left): it keeps
  // ~50 MiB alive, collects fully, and reports the percent the observer set afterwards.
  const probe = `
    const v8 = require('node:v8');
    const { boundHeapGrowth } = require(${JSON.stringify(path.join(__dirname, 'heap-growth'))});
    const growth = boundHeapGrowth([]);
    const before = growth.percent();
    const kept = Array.from({ length: 1500000 }, (_, i) => ({ i }));
    global.gc();
    const live = v8.getHeapStatistics().used_heap_size;
    setTimeout(() => { process.stdout.write(JSON.stringify({ before, after: growth.percent(), live, kept: kept.length })); growth.stop(); }, 100);
  `;

  it('follows full collections: a live set below the floor gets the growth that reaches it', () => {
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--expose-gc', '-e', probe], { encoding: 'utf8' });
    const { before, after, live } = JSON.parse(out) as { before: number; after: number; live: number };
    expect(before).toBe(HEAP_GROWING_PERCENT);
    expect(live).toBeLessThan(HEAP_FLOOR_BYTES);
    expect(after).toBeGreaterThan(HEAP_GROWING_PERCENT);
    // The percent set from what survived (read a moment apart from this `live`): within one step of reaching the floor.
    expect(live * (1 + after / 100)).toBeGreaterThanOrEqual(HEAP_FLOOR_BYTES * 0.95);
    expect(live * (1 + (after - 10) / 100)).toBeLessThan(HEAP_FLOOR_BYTES);
  });

  it('leaves a percent given on the command line alone', () => {
    expect(boundHeapGrowth(['--heap-growing-percent=40']).percent()).toBeUndefined();
  });
});
