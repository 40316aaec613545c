import { sleep } from '../platform/retry';

const PROBE_EVERY_MS = 50;
const POLL_EVERY_MS = 25;
/** A request of the bench's not answered within this long fails the run (with the URL) rather than waiting on. */
export const ANSWER_WITHIN_MS = 30_000;

/** Nearest-rank quantile of sorted values. */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

/**
 * Freshness as a user sees it (bench/sustained.ts runs it against `tributary start`): every
 * PROBE_EVERY_MS a probe event is posted alongside the load, in an event-time minute of its own
 * far in the past (no other event shares it), and the dashboard API (`/api/timeseries`, the query
 * the web page makes) is polled until that minute counts it: POST sent → first answer that shows it.
 */
export class Prober {
  /** Probe minute → when its POST was sent; removed once the dashboard shows it. */
  private readonly outstanding = new Map<number, number>();
  private readonly latencies: number[] = [];
  // A minute of 2001 chosen per run, so probes never meet demo events or an earlier run's probes.
  private readonly base = Date.UTC(2001, 0, 1) + Math.floor(Math.random() * 400_000) * 60_000;
  private next = 0;

  constructor(
    private readonly ingestUrl: string,
    private readonly dashboardUrl: string,
  ) {}

  /** Posts probes and polls the dashboard until `load` settles. */
  async during<T>(load: Promise<T>): Promise<T> {
    let done = false;
    const finished = load.finally(() => {
      done = true;
    });
    const sending = (async () => {
      while (!done) {
        await this.send();
        await sleep(PROBE_EVERY_MS);
      }
    })();
    const polling = (async () => {
      while (!done) await this.poll();
    })();
    const result = await finished;
    await Promise.all([sending, polling]);
    return result;
  }

  /** Polls until every probe has shown up (or `timeoutMs`); returns the latencies, sorted. */
  async settle(timeoutMs: number): Promise<number[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.outstanding.size > 0 && Date.now() < deadline) await this.poll();
    if (this.outstanding.size > 0)
      throw new Error(`${this.outstanding.size} probe events never showed up in the dashboard`);
    return this.latencies.sort((a, b) => a - b);
  }

  private async send(): Promise<void> {
    const minute = this.base + this.next++ * 60_000;
    const sentAt = Date.now();
    this.outstanding.set(minute, sentAt);
    const res = await fetch(`${this.ingestUrl}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      signal: AbortSignal.timeout(ANSWER_WITHIN_MS),
      body: JSON.stringify({
        type: 'page_view',
        userId: `probe-${minute}`,
        occurredAt: minute + 1000,
        page: '/bench-probe',
      }),
    });
    if (res.status !== 202) throw new Error(`probe event answered ${res.status}: ${await res.text()}`);
  }

  private async poll(): Promise<void> {
    const started = Date.now();
    if (this.outstanding.size > 0) {
      const minutes = [...this.outstanding.keys()];
      const from = new Date(Math.min(...minutes)).toISOString();
      const to = new Date(Math.max(...minutes) + 60_000).toISOString();
      const res = await fetch(
        `${this.dashboardUrl}/api/timeseries?metric=user_events&interval=1m&from=${from}&to=${to}`,
        { signal: AbortSignal.timeout(ANSWER_WITHIN_MS) },
      );
      if (!res.ok) throw new Error(`dashboard answered ${res.status}: ${await res.text()}`);
      const seenAt = Date.now();
      const { points } = (await res.json()) as { points: Array<{ t: string; value: number }> };
      for (const p of points) {
        const minute = Date.parse(p.t);
        const sentAt = this.outstanding.get(minute);
        if (sentAt !== undefined && p.value > 0) {
          this.latencies.push(seenAt - sentAt);
          this.outstanding.delete(minute);
        }
      }
    }
    await new Promise((r) => setTimeout(r, Math.max(0, POLL_EVERY_MS - (Date.now() - started))));
  }
}
