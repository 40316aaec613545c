/**
 * How far the processor got, published in its offset commits' metadata: it commits its open
 * segment's start (where a restart recomputes from), and writes `processed=<next offset>` beside
 * it, with the rows of everything before already emitted. Dashboards and `tributary lag` read it
 * to count lag from what was processed, not from the segment start.
 */
export function processedMetadata(position: number, rollups: string[] = []): string {
  return rollups.length > 0 ? `processed=${position};rollups=${rollups.join(',')}` : `processed=${position}`;
}

/** The position a commit's metadata publishes, or undefined when it has none (another group, an older processor). */
export function processedPosition(metadata: string | null | undefined): number | undefined {
  const m = /^processed=(\d+)(?:;|$)/.exec(metadata ?? '');
  return m ? Number(m[1]) : undefined;
}

/**
 * The declared rollup versions (`name@version`) a commit's state included: each covered every
 * offset from its handover up to the committed one, so a restart there need not recompute it
 * (docs/rollups.md#backfill). Empty for a commit without them.
 */
export function includedRollups(metadata: string | null | undefined): Set<string> {
  const m = /;rollups=([^;]*)/.exec(metadata ?? '');
  return new Set(m ? m[1]!.split(',').filter(Boolean) : []);
}
