import { SingleBar } from 'cli-progress';

/** What /api/pipeline answers (dashboards/api.ts), as far as the status line reads it. */
interface Pipeline {
  stages: Array<{ stage: string; lag?: number; recordsPerSecond?: number | null }>;
  deadLetters: number;
  freshness: { p50Ms: number; p99Ms: number } | null;
  supervisor?: Array<{ stage: string; restarts: number }> | null;
}

const n = new Intl.NumberFormat('en');

/** One status line from /api/pipeline: what a person wants to see while the pipeline runs. */
export function statusLine(p: Pipeline): string {
  const stage = (name: string) => p.stages.find((s) => s.stage === name);
  const rate = stage('ingest')?.recordsPerSecond;
  const fresh =
    p.freshness === null
      ? 'idle'
      : `${(p.freshness.p50Ms / 1000).toFixed(1)} s (p99 ${(p.freshness.p99Ms / 1000).toFixed(1)} s)`;
  return [
    `in ${rate === null || rate === undefined ? '–' : n.format(Math.round(rate))} events/s`,
    `processor lag ${n.format(stage('process')?.lag ?? 0)}`,
    `sink lag ${n.format(stage('sink')?.lag ?? 0)}`,
    `freshness ${fresh}`,
    `dead letters ${n.format(p.deadLetters)}`,
    ...restarts(p),
  ].join('  ·  ');
}

/** `restarts sink+dashboard 2, process 1`: shown only once a stage was started again. */
function restarts(p: Pipeline): string[] {
  const restarted = (p.supervisor ?? []).filter((s) => s.restarts > 0);
  return restarted.length === 0 ? [] : [`restarts ${restarted.map((s) => `${s.stage} ${s.restarts}`).join(', ')}`];
}

/**
 * A live status line refreshed in place under the start-up banner (cli-progress, a bar without a
 * bar), from the dashboard's own /api/pipeline every 2 s. Only on a terminal: a program reading
 * stdout gets the banner alone. Returns how to stop it.
 */
export function liveStatus(dashboardUrl: string, readKey: string | undefined): () => void {
  if (!process.stdout.isTTY) return () => undefined;
  const bar = new SingleBar({
    format: '{status}',
    hideCursor: true,
    clearOnComplete: false,
    fps: 2,
    stream: process.stdout,
    linewrap: false,
  });
  bar.start(1, 0, { status: 'waiting for the first figures…' });
  let stopped = false;
  const refresh = async () => {
    try {
      const res = await fetch(`${dashboardUrl}/api/pipeline`, {
        headers: readKey ? { authorization: `Bearer ${readKey}` } : {},
      });
      if (!stopped && res.ok) bar.update(0, { status: statusLine((await res.json()) as Pipeline) });
    } catch {
      // the dashboard is stopping or busy: keep the last line
    }
  };
  void refresh();
  const timer = setInterval(() => void refresh(), 2000);
  return () => {
    stopped = true;
    clearInterval(timer);
    bar.stop();
  };
}
