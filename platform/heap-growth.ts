import v8 from 'node:v8';
import { constants, PerformanceObserver } from 'node:perf_hooks';

/**
 * How far a process's heap may grow after a full collection before the next one (used by the
 * processor, `tributary process`).
 *
 * V8's own factor rises to 4× what survived when collections are quick, which for the processor
 * (a high allocation rate) meant twice the memory goal resident, mostly garbage. At 1.25× it
 * stays within the goal even with a million distinct SKUs (1.4× did not). But a small live set
 * then got a full collection every quarter second, each fetched batch's decoded events promoted
 * and marked again: a quarter of the processor's CPU (the figures: docs/benchmarks.md).
 * So the heap may always grow to HEAP_FLOOR_BYTES, and to 1.25× what survived above that
 * (docs/processing.md, docs/benchmarks.md). A soft bound, not a limit: a larger live set still fits.
 */
export const HEAP_GROWING_PERCENT = 25;
export const HEAP_FLOOR_BYTES = 100 * 2 ** 20;
/** At most 2.5×: the percent set after one collection applies at the next, to a live set that may have grown since. */
export const HEAP_GROWING_PERCENT_MAX = 150;

/**
 * The growth (percent over what survived) that lets the heap reach the floor, within 25–150%,
 * rounded up to 5% so a steady live set does not change it after every collection.
 */
export function growingPercentFor(liveBytes: number): number {
  const toFloor = Math.ceil(((HEAP_FLOOR_BYTES / Math.max(liveBytes, 1) - 1) * 100) / 5) * 5;
  return Math.min(HEAP_GROWING_PERCENT_MAX, Math.max(HEAP_GROWING_PERCENT, toFloor));
}

/**
 * Sets V8's --heap-growing-percent, and again after each full collection from what survived it:
 * V8 reads the flag each time a full collection sets the next limit (Node refuses the flag in
 * NODE_OPTIONS, and --initial-old-space-size, which would give a floor, cannot be set at run time).
 * Started as `node --heap-growing-percent=N …` the process keeps N throughout.
 * Returns the percent in force (undefined when the command line set it) and a way to stop following.
 */
export function boundHeapGrowth(execArgv: string[] = process.execArgv): {
  percent: () => number | undefined;
  stop: () => void;
} {
  if (execArgv.some((a) => /^--heap[-_]growing[-_]percent/.test(a)))
    return { percent: () => undefined, stop: () => undefined };
  let current = 0;
  const grow = (percent: number) => {
    if (percent === current) return;
    current = percent;
    v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
  };
  grow(HEAP_GROWING_PERCENT);
  const observer = new PerformanceObserver((list) => {
    const full = list
      .getEntries()
      .some((e) => (e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR);
    if (full) grow(growingPercentFor(v8.getHeapStatistics().used_heap_size));
  });
  observer.observe({ entryTypes: ['gc'] });
  return { percent: () => current, stop: () => observer.disconnect() };
}
